import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { ValidationError, type ProfileResult } from '@fulcrum/core';
import { openProfileStore } from './config.js';
import { openSqliteProfileStore } from './sqlite.js';
import { freshDevice, profileStoreSuite, result } from './store.suite.js';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'nested', 'profiles.db');

profileStoreSuite('sqlite', async () => openSqliteProfileStore({ path }));

test('sqlite: results survive closing and reopening the file', async () => {
  const device = freshDevice();
  const first = await openProfileStore({ backend: 'sqlite', path });
  assert.equal(first.backend, 'sqlite');
  await first.put(result(device));
  await first.close();
  await assert.rejects(first.get(result(device)), /closed/);
  const second = await openProfileStore({ backend: 'sqlite', path });
  assert.deepEqual(await second.get(result(device)), result(device));
  await second.close();
});

/**
 * A store file as an older Fulcrum wrote it: the version-1 columns plus `extra` (name and SQL type
 * each), holding `row` (with `extraValues` for the extra columns), at schema `version`.
 */
function legacyStore(name: string, version: number, extra: readonly string[], row: ProfileResult, extraValues: readonly unknown[]): string {
  const file = join(dir, name);
  const db = new Database(file);
  db.exec(`
    CREATE TABLE profiles (
      device TEXT NOT NULL, software_stack TEXT NOT NULL, workload TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('train', 'infer')),
      batch_size INTEGER NOT NULL CHECK (batch_size > 0), cores INTEGER NOT NULL, cpu_mhz REAL NOT NULL, gpu_mhz REAL NOT NULL, emc_mhz REAL NOT NULL,
      time_ms REAL NOT NULL CHECK (time_ms > 0), power_w REAL NOT NULL CHECK (power_w > 0), measured_at TEXT NOT NULL, samples INTEGER NOT NULL CHECK (samples > 0),
      ${extra.map((c) => `${c},`).join(' ')}
      PRIMARY KEY (device, software_stack, workload, kind, batch_size, cores, cpu_mhz, gpu_mhz, emc_mhz)
    ) WITHOUT ROWID;
    PRAGMA user_version = ${version};
  `);
  const r = row;
  const values = [r.device, r.softwareStack, r.workload, r.kind, r.batchSize, r.mode.cores, r.mode.cpuMhz, r.mode.gpuMhz, r.mode.emcMhz, r.timeMs, r.powerW, r.measuredAt, r.samples, ...extraValues];
  db.prepare(`INSERT INTO profiles VALUES (${values.map(() => '?').join(', ')})`).run(...values);
  db.close();
  return file;
}

/** The file's schema version after a store opened it. */
function schemaVersion(file: string): number {
  const check = new Database(file, { readonly: true });
  try {
    return check.pragma('user_version', { simple: true }) as number;
  } finally {
    check.close();
  }
}

const SE_COLUMNS = ['time_se_ms REAL CHECK (time_se_ms >= 0)', 'power_se_w REAL CHECK (power_se_w >= 0)'];

test('sqlite: a version-1 file (before the standard errors) opens, keeps its rows, and takes new ones with them', async () => {
  const device = freshDevice();
  const r = result(device);
  const old = legacyStore('v1.db', 1, [], r, []);
  const store = openSqliteProfileStore({ path: old });
  assert.deepEqual(await store.get(r), r);
  const sure = result(device, { batchSize: 8, timeSeMs: 0.2, powerSeW: 0.05 });
  await store.put(sure);
  assert.deepEqual(await store.get(sure), sure);
  await store.close();
  assert.equal(schemaVersion(old), 4);
});

test('sqlite: a version-2 file (before re-measurement) opens, its rows read as one window each, and takes combined ones', async () => {
  const r = result(freshDevice(), { timeSeMs: 0.2, powerSeW: 0.05 });
  const old = legacyStore('v2.db', 2, SE_COLUMNS, r, [r.timeSeMs, r.powerSeW]);
  const store = openSqliteProfileStore({ path: old });
  assert.deepEqual(await store.get(r), r);
  const combined = { ...r, samples: 2 * r.samples, windows: 2 };
  await store.put(combined);
  assert.deepEqual(await store.get(r), combined);
  await store.close();
  assert.equal(schemaVersion(old), 4);
});

test('sqlite: a version-3 file (before Σwᵢ² was kept) opens, its combined rows count their windows as equal, and takes the weights', async () => {
  const r = { ...result(freshDevice(), { timeSeMs: 0.2, powerSeW: 0.05 }), windows: 2 };
  const old = legacyStore('v3.db', 3, [...SE_COLUMNS, 'windows INTEGER CHECK (windows > 0)'], r, [r.timeSeMs, r.powerSeW, r.windows]);
  const store = openSqliteProfileStore({ path: old });
  const back = await store.get(r);
  assert.deepEqual(back, r);
  assert.ok(!('windowWeightsSquared' in back!), 'no weights invented for an older combination');
  // A first window of 20 minibatches and a re-measure of 80: Σwᵢ² = 0.2² + 0.8².
  const weighted = { ...r, samples: 100, windows: 2, windowWeightsSquared: 0.68 };
  await store.put(weighted);
  assert.deepEqual(await store.get(r), weighted);
  await store.close();
  assert.equal(schemaVersion(old), 4);
});

test('sqlite: two stores on one file see each other (WAL)', async () => {
  const device = freshDevice();
  const a = openSqliteProfileStore({ path });
  const b = openSqliteProfileStore({ path });
  await a.put(result(device, { batchSize: 16 }));
  assert.equal((await b.get(result(device, { batchSize: 16 })))?.batchSize, 16);
  assert.equal(await b.putIfAbsent(result(device, { batchSize: 16 })), false);
  await Promise.all([a.close(), b.close()]);
});

test('sqlite: in memory, and config errors', async () => {
  const mem = openSqliteProfileStore({ path: ':memory:' });
  await mem.put(result('m'));
  assert.equal((await mem.query()).length, 1);
  await mem.close();
  assert.throws(() => openSqliteProfileStore({ path: '' }), ValidationError);
  await assert.rejects(openProfileStore({ backend: 'redis' } as never), /backend: must be "sqlite" or "kv", got "redis"/);
});
