/**
 * The embedded default: one SQLite file (better-sqlite3), no server needed. WAL journal, so a
 * reader in another process sees committed results while the profiler writes.
 */
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ValidationError } from '@fulcrum/core';
import { describeValue, makeFolders } from '@fulcrum/core/internal';
import {
  validateProfileFilter,
  validateProfileKey,
  validateProfileResult,
  type ProfileFilter,
  type ProfileKey,
  type ProfileResult,
  type ProfileStore,
} from './profile-store.js';

/**
 * 1: the first schema; 2: time_se_ms and power_se_w (nullable), added to a version-1 file in place;
 * 3: windows (nullable: one window), the measurement windows combined by re-measures, added to a
 * version-1 or -2 file in place; 4: window_weights_squared (nullable: the windows count as equal),
 * Σwᵢ² of the combined windows' weights, added to an older file in place.
 */
const SCHEMA_VERSION = 4;

interface Row {
  device: string;
  software_stack: string;
  workload: string;
  kind: 'train' | 'infer';
  batch_size: number;
  cores: number;
  cpu_mhz: number;
  gpu_mhz: number;
  emc_mhz: number;
  time_ms: number;
  power_w: number;
  measured_at: string;
  samples: number;
  time_se_ms: number | null;
  power_se_w: number | null;
  windows: number | null;
  window_weights_squared: number | null;
}

function toResult(row: Row): ProfileResult {
  return {
    device: row.device,
    softwareStack: row.software_stack,
    workload: row.workload,
    kind: row.kind,
    batchSize: row.batch_size,
    mode: { cores: row.cores, cpuMhz: row.cpu_mhz, gpuMhz: row.gpu_mhz, emcMhz: row.emc_mhz },
    timeMs: row.time_ms,
    powerW: row.power_w,
    measuredAt: row.measured_at,
    samples: row.samples,
    ...(row.time_se_ms !== null ? { timeSeMs: row.time_se_ms } : {}),
    ...(row.power_se_w !== null ? { powerSeW: row.power_se_w } : {}),
    ...(row.windows !== null && row.windows !== 1 ? { windows: row.windows } : {}),
    ...(row.windows !== null && row.windows > 1 && row.window_weights_squared !== null ? { windowWeightsSquared: row.window_weights_squared } : {}),
  };
}

function keyParams(key: ProfileKey): Record<string, unknown> {
  return {
    device: key.device,
    software_stack: key.softwareStack,
    workload: key.workload,
    kind: key.kind,
    batch_size: key.batchSize,
    cores: key.mode.cores,
    cpu_mhz: key.mode.cpuMhz,
    gpu_mhz: key.mode.gpuMhz,
    emc_mhz: key.mode.emcMhz,
  };
}

function rowParams(result: ProfileResult): Record<string, unknown> {
  return {
    ...keyParams(result),
    time_ms: result.timeMs,
    power_w: result.powerW,
    measured_at: result.measuredAt,
    samples: result.samples,
    time_se_ms: result.timeSeMs ?? null,
    power_se_w: result.powerSeW ?? null,
    windows: result.windows !== undefined && result.windows !== 1 ? result.windows : null,
    window_weights_squared: result.windows !== undefined && result.windows > 1 ? (result.windowWeightsSquared ?? null) : null,
  };
}

const KEY_WHERE =
  'device = @device AND software_stack = @software_stack AND workload = @workload AND kind = @kind AND batch_size = @batch_size AND cores = @cores AND cpu_mhz = @cpu_mhz AND gpu_mhz = @gpu_mhz AND emc_mhz = @emc_mhz';
const COLUMNS = 'device, software_stack, workload, kind, batch_size, cores, cpu_mhz, gpu_mhz, emc_mhz, time_ms, power_w, measured_at, samples, time_se_ms, power_se_w, windows, window_weights_squared';
const VALUES = '@device, @software_stack, @workload, @kind, @batch_size, @cores, @cpu_mhz, @gpu_mhz, @emc_mhz, @time_ms, @power_w, @measured_at, @samples, @time_se_ms, @power_se_w, @windows, @window_weights_squared';
const ORDER = 'ORDER BY device, software_stack, workload, kind, batch_size, cores, cpu_mhz, gpu_mhz, emc_mhz';

export interface SqliteProfileStoreOptions {
  /** Database file (created with its directory when missing), or `:memory:`. */
  readonly path: string;
}

export function openSqliteProfileStore(options: SqliteProfileStoreOptions): ProfileStore {
  const path = options?.path;
  if (typeof path !== 'string' || path.trim() === '') throw new ValidationError('path', `must be a database file path or ":memory:", got ${describeValue(path)}`);
  if (path !== ':memory:') makeFolders(dirname(path));
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`profile store ${path} has schema version ${version}; this build understands up to ${SCHEMA_VERSION} (upgrade Fulcrum)`);
    }
    if (version === 1) {
      // A version-1 store: the standard errors are unknown for what it holds.
      db.exec(`
        ALTER TABLE profiles ADD COLUMN time_se_ms REAL CHECK (time_se_ms >= 0);
        ALTER TABLE profiles ADD COLUMN power_se_w REAL CHECK (power_se_w >= 0);
      `);
    }
    if (version === 1 || version === 2) {
      // Before re-measurement every result was one window.
      db.exec('ALTER TABLE profiles ADD COLUMN windows INTEGER CHECK (windows > 0);');
    }
    if (version >= 1 && version <= 3) {
      // Before Σwᵢ² was kept, a combination's windows counted as equal.
      db.exec('ALTER TABLE profiles ADD COLUMN window_weights_squared REAL CHECK (window_weights_squared > 0 AND window_weights_squared <= 1);');
    }
    db.exec(`
      CREATE TABLE IF NOT EXISTS profiles (
        device         TEXT    NOT NULL,
        software_stack TEXT    NOT NULL,
        workload       TEXT    NOT NULL,
        kind           TEXT    NOT NULL CHECK (kind IN ('train', 'infer')),
        batch_size     INTEGER NOT NULL CHECK (batch_size > 0),
        cores          INTEGER NOT NULL,
        cpu_mhz        REAL    NOT NULL,
        gpu_mhz        REAL    NOT NULL,
        emc_mhz        REAL    NOT NULL,
        time_ms        REAL    NOT NULL CHECK (time_ms > 0),
        power_w        REAL    NOT NULL CHECK (power_w > 0),
        measured_at    TEXT    NOT NULL,
        samples        INTEGER NOT NULL CHECK (samples > 0),
        time_se_ms     REAL    CHECK (time_se_ms >= 0),
        power_se_w     REAL    CHECK (power_se_w >= 0),
        windows        INTEGER CHECK (windows > 0),
        window_weights_squared REAL CHECK (window_weights_squared > 0 AND window_weights_squared <= 1),
        PRIMARY KEY (device, software_stack, workload, kind, batch_size, cores, cpu_mhz, gpu_mhz, emc_mhz)
      ) WITHOUT ROWID;
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
  } catch (err) {
    db.close();
    throw err;
  }

  const getStmt = db.prepare<Record<string, unknown>, Row>(`SELECT ${COLUMNS} FROM profiles WHERE ${KEY_WHERE}`);
  const upsertStmt = db.prepare(`INSERT OR REPLACE INTO profiles (${COLUMNS}) VALUES (${VALUES})`);
  const insertStmt = db.prepare(`INSERT OR IGNORE INTO profiles (${COLUMNS}) VALUES (${VALUES})`);
  const deleteStmt = db.prepare(`DELETE FROM profiles WHERE ${KEY_WHERE}`);
  let closed = false;
  const open = (): void => {
    if (closed) throw new Error('the profile store is closed');
  };

  return {
    backend: 'sqlite',
    async get(key: ProfileKey): Promise<ProfileResult | undefined> {
      open();
      const row = getStmt.get(keyParams(validateProfileKey(key)));
      return row ? toResult(row) : undefined;
    },
    async put(result: ProfileResult): Promise<void> {
      open();
      upsertStmt.run(rowParams(validateProfileResult(result)));
    },
    async putIfAbsent(result: ProfileResult): Promise<boolean> {
      open();
      return insertStmt.run(rowParams(validateProfileResult(result))).changes === 1;
    },
    async query(filter?: ProfileFilter): Promise<ProfileResult[]> {
      open();
      const f = validateProfileFilter(filter);
      const where: string[] = [];
      const params: Record<string, unknown> = {};
      const add = (column: string, value: unknown): void => {
        if (value === undefined) return;
        where.push(`${column} = @${column}`);
        params[column] = value;
      };
      add('device', f.device);
      add('software_stack', f.softwareStack);
      add('workload', f.workload);
      add('kind', f.kind);
      add('batch_size', f.batchSize);
      add('cores', f.mode?.cores);
      add('cpu_mhz', f.mode?.cpuMhz);
      add('gpu_mhz', f.mode?.gpuMhz);
      add('emc_mhz', f.mode?.emcMhz);
      const sql = `SELECT ${COLUMNS} FROM profiles ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ${ORDER}`;
      return (db.prepare<Record<string, unknown>, Row>(sql).all(params)).map(toResult);
    },
    async delete(key: ProfileKey): Promise<boolean> {
      open();
      return deleteStmt.run(keyParams(validateProfileKey(key))).changes === 1;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
