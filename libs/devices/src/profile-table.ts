/**
 * Profile tables: measured or synthetic (mode, workload, kind, batch) → time and power, one row per
 * key (SPEC §3), and the backend that answers only the modes its table holds.
 */
import { formatPowerMode, getDevice, gridNames, getGrid, type DeviceSpec, type PowerMode, type PowerModeGrid, type WorkloadKind } from '@fulcrum/core';
import {
  NotInTableError,
  describeQuery,
  resolveGrid,
  validateQuery,
  type DeviceBackend,
  type GroundTruthTable,
  type MeasureOptions,
  type ProfileQuery,
  type ProfileSample,
} from './backend.js';
import { GridIndex, gridIndex } from './grid-index.js';
import { modeSeed, noiseFactors, querySeed } from './noise.js';
import { validateNoise, validateSeed } from './virtual.js';

export interface ProfileRow {
  readonly device: string;
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  readonly mode: PowerMode;
  readonly timeMs: number;
  readonly powerW: number;
}

interface Group {
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  /** full-grid mode index → slot in the columns */
  readonly slots: Map<number, number>;
  readonly modeIndex: number[];
  readonly timeMs: number[];
  readonly powerW: number[];
  /** Where each row came from (e.g. a CSV line), for duplicate errors. */
  readonly origin: (number | undefined)[];
}

export interface ProfileTableSummary {
  readonly device: string;
  readonly workloads: readonly string[];
  readonly kinds: readonly WorkloadKind[];
  readonly batchSizes: Readonly<Record<string, readonly number[]>>;
  /** Distinct modes over all rows. */
  readonly modes: number;
  readonly rows: number;
  /** The named grid whose modes the table holds exactly, if any (e.g. `441`). */
  readonly grid?: string;
}

export class DuplicateRowError extends Error {
  override readonly name = 'DuplicateRowError';
  constructor(
    readonly row: ProfileRow,
    readonly firstOrigin: number | undefined,
  ) {
    super(`duplicate key ${describeQuery(row)}${firstOrigin !== undefined ? ` (first given on line ${firstOrigin})` : ''}`);
  }
}

const groupKey = (workload: string, kind: WorkloadKind, batchSize: number): string => `${workload}|${kind}|${batchSize}`;

/** An in-memory profile table for one device. Rows are validated against the device's grid. */
export class ProfileTable {
  readonly device: DeviceSpec;
  private readonly index: GridIndex;
  private readonly groups = new Map<string, Group>();
  private count = 0;

  constructor(deviceId: string) {
    this.device = getDevice(deviceId);
    this.index = gridIndex(this.device.grid);
  }

  get size(): number {
    return this.count;
  }

  /** Adds one row; throws ValidationError for a bad row and DuplicateRowError for a repeated key. */
  add(row: ProfileRow, origin?: number): void {
    validateQuery(this.device, row);
    const key = groupKey(row.workload, row.kind, row.batchSize);
    let g = this.groups.get(key);
    if (!g) {
      g = { workload: row.workload, kind: row.kind, batchSize: row.batchSize, slots: new Map(), modeIndex: [], timeMs: [], powerW: [], origin: [] };
      this.groups.set(key, g);
    }
    const mi = this.index.indexOf(row.mode);
    const existing = g.slots.get(mi);
    if (existing !== undefined) throw new DuplicateRowError(row, g.origin[existing]);
    g.slots.set(mi, g.modeIndex.length);
    g.modeIndex.push(mi);
    g.timeMs.push(row.timeMs);
    g.powerW.push(row.powerW);
    g.origin.push(origin);
    this.count++;
  }

  get(workload: string, kind: WorkloadKind, batchSize: number, mode: PowerMode): ProfileSample | undefined {
    const g = this.groups.get(groupKey(workload, kind, batchSize));
    if (!g) return undefined;
    const slot = g.slots.get(this.index.indexOf(mode));
    return slot === undefined ? undefined : { timeMs: g.timeMs[slot]!, powerW: g.powerW[slot]! };
  }

  /** Every row, in insertion order per (workload, kind, batch). */
  *rows(): Generator<ProfileRow> {
    for (const g of this.groups.values()) {
      for (let s = 0; s < g.modeIndex.length; s++) {
        yield { device: this.device.id, workload: g.workload, kind: g.kind, batchSize: g.batchSize, mode: this.index.modeAt(g.modeIndex[s]!), timeMs: g.timeMs[s]!, powerW: g.powerW[s]! };
      }
    }
  }

  workloads(): string[] {
    return [...new Set([...this.groups.values()].map((g) => g.workload))];
  }

  batchSizes(workload: string, kind: WorkloadKind): number[] {
    return [...this.groups.values()].filter((g) => g.workload === workload && g.kind === kind).map((g) => g.batchSize).sort((a, b) => a - b);
  }

  /** Distinct modes that appear in any row, in grid order. */
  modes(): PowerMode[] {
    const all = new Set<number>();
    for (const g of this.groups.values()) for (const mi of g.modeIndex) all.add(mi);
    return [...all].sort((a, b) => a - b).map((mi) => this.index.modeAt(mi));
  }

  /** Modes held for one (workload, kind, batch). */
  modesFor(workload: string, kind: WorkloadKind, batchSize: number): PowerMode[] {
    const g = this.groups.get(groupKey(workload, kind, batchSize));
    return g ? [...g.modeIndex].sort((a, b) => a - b).map((mi) => this.index.modeAt(mi)) : [];
  }

  summary(): ProfileTableSummary {
    const modes = this.modes();
    const batchSizes: Record<string, number[]> = {};
    for (const g of this.groups.values()) (batchSizes[`${g.workload}/${g.kind}`] ??= []).push(g.batchSize);
    for (const v of Object.values(batchSizes)) v.sort((a, b) => a - b);
    const keys = new Set(modes.map(formatPowerMode));
    const grid = gridNames(this.device).find((name) => {
      const gi = gridIndex(getGrid(this.device, name));
      if (gi.size !== keys.size) return false;
      for (let i = 0; i < gi.size; i++) if (!keys.has(formatPowerMode(gi.modeAt(i)))) return false;
      return true;
    });
    return {
      device: this.device.id,
      workloads: this.workloads(),
      kinds: [...new Set([...this.groups.values()].map((g) => g.kind))],
      batchSizes,
      modes: modes.length,
      rows: this.count,
      ...(grid ? { grid } : {}),
    };
  }
}

export interface TableBackendOptions {
  /** Extra noise on `measure` (default 0: the table already holds measurements). */
  readonly noise?: number;
  readonly seed?: number;
  /** Shown in errors and descriptions, e.g. the CSV file name. */
  readonly name?: string;
}

/** A backend that answers only what its table holds, and says so for everything else. */
export class TableBackend implements DeviceBackend {
  readonly type = 'table' as const;
  readonly device: DeviceSpec;
  readonly noise: number;
  readonly seed: number;
  readonly name: string;
  private readonly cache = new WeakMap<PowerModeGrid, Map<string, GroundTruthTable>>();

  constructor(
    readonly table: ProfileTable,
    options: TableBackendOptions = {},
  ) {
    this.device = table.device;
    this.noise = validateNoise(options.noise ?? 0);
    this.seed = validateSeed(options.seed ?? 1);
    this.name = options.name ?? 'profile table';
  }

  get description(): string {
    const s = this.table.summary();
    return `table ${this.name} (${s.device}: ${s.rows} rows, ${s.modes} modes, ${s.workloads.length} workloads)`;
  }

  workloads(): readonly string[] {
    return this.table.workloads();
  }

  has(query: ProfileQuery): boolean {
    return this.table.get(query.workload, query.kind, query.batchSize, query.mode) !== undefined;
  }

  groundTruth(query: ProfileQuery): ProfileSample {
    validateQuery(this.device, query);
    const hit = this.table.get(query.workload, query.kind, query.batchSize, query.mode);
    if (hit) return hit;
    throw new NotInTableError(query, this.missReason(query));
  }

  measure(query: ProfileQuery, options: MeasureOptions = {}): ProfileSample {
    const truth = this.groundTruth(query);
    if (this.noise === 0) return truth;
    const m = query.mode;
    const base = querySeed(this.seed, query.workload, query.kind, query.batchSize, options.repeat ?? 0);
    const [ft, fp] = noiseFactors(modeSeed(base, m.cores, m.cpuMhz, m.gpuMhz, m.emcMhz), this.noise);
    return { timeMs: truth.timeMs * ft, powerW: truth.powerW * fp };
  }

  groundTruthTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string): GroundTruthTable {
    const g = resolveGrid(this.device, grid);
    let perGrid = this.cache.get(g);
    if (!perGrid) this.cache.set(g, (perGrid = new Map()));
    const key = groupKey(workload, kind, batchSize);
    let t = perGrid.get(key);
    if (!t) perGrid.set(key, (t = this.build(workload, kind, batchSize, g, undefined)));
    return t;
  }

  measureTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string, options: MeasureOptions = {}): GroundTruthTable {
    return this.build(workload, kind, batchSize, resolveGrid(this.device, grid), options.repeat ?? 0);
  }

  private build(workload: string, kind: WorkloadKind, batchSize: number, grid: PowerModeGrid, repeat: number | undefined): GroundTruthTable {
    const index = gridIndex(grid);
    const timeMs = new Float64Array(index.size).fill(NaN);
    const powerW = new Float64Array(index.size).fill(NaN);
    const noisy = repeat !== undefined && this.noise > 0;
    const base = noisy ? querySeed(this.seed, workload, kind, batchSize, repeat) : 0;
    for (let i = 0; i < index.size; i++) {
      const mode = index.modeAt(i);
      const hit = this.table.get(workload, kind, batchSize, mode);
      if (!hit) continue;
      const [ft, fp] = noisy ? noiseFactors(modeSeed(base, mode.cores, mode.cpuMhz, mode.gpuMhz, mode.emcMhz), this.noise) : [1, 1];
      timeMs[i] = hit.timeMs * ft;
      powerW[i] = hit.powerW * fp;
    }
    return { index, workload, kind, batchSize, timeMs, powerW };
  }

  private missReason(q: ProfileQuery): string {
    const held = this.table.modesFor(q.workload, q.kind, q.batchSize);
    if (held.length > 0) {
      return `mode ${formatPowerMode(q.mode)} is not in ${this.name}, which holds ${held.length} modes for ${q.workload} ${q.kind} batch ${q.batchSize}; a table backend answers only the modes it holds`;
    }
    const batches = this.table.batchSizes(q.workload, q.kind);
    if (batches.length > 0) return `${this.name} has no ${q.workload} ${q.kind} rows at batch ${q.batchSize} (it has batch sizes ${batches.join(', ')})`;
    const workloads = this.table.workloads();
    return `${this.name} has no ${q.workload} ${q.kind} rows (workloads in it: ${workloads.join(', ') || 'none'})`;
  }
}

export function createTableBackend(table: ProfileTable, options: TableBackendOptions = {}): TableBackend {
  return new TableBackend(table, options);
}
