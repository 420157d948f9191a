/**
 * Profile tables: measured or synthetic (mode, workload, kind, batch) → time and power, one row per
 * key (SPEC §3), and the backend that answers only the modes its table holds.
 */
import {
  BUILTIN_CATALOG,
  ValidationError,
  catalogWith,
  formatPowerMode,
  gridNames,
  getGrid,
  userWorkload,
  POWER_MODE_KNOBS,
  type Catalog,
  type DeviceSpec,
  type MeasurementUncertainty,
  type PowerMode,
  type PowerModeGrid,
  type WorkloadDescriptor,
  type WorkloadKind,
} from '@fulcrum/core';
import { describeValue, requireName } from '@fulcrum/core/internal';
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

/** One row of a profile table, with how sure it is where its source says (issue 16). */
export interface ProfileRow extends MeasurementUncertainty {
  readonly device: string;
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  readonly mode: PowerMode;
  readonly timeMs: number;
  readonly powerW: number;
}

/** The optional measurement details of one row (kept only for rows that have any). */
export type RowUncertainty = MeasurementUncertainty;

function uncertaintyOf(row: RowUncertainty): RowUncertainty | undefined {
  if (row.samples === undefined && row.timeSeMs === undefined && row.powerSeW === undefined) return undefined;
  return {
    ...(row.samples !== undefined ? { samples: row.samples } : {}),
    ...(row.timeSeMs !== undefined ? { timeSeMs: row.timeSeMs } : {}),
    ...(row.powerSeW !== undefined ? { powerSeW: row.powerSeW } : {}),
  };
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
  /** slot → samples and standard errors, for the rows that carry them. */
  readonly uncertainty: Map<number, RowUncertainty>;
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
  /**
   * The (workload, kind, batch size) groups that lack some of the table's modes (a plan never uses
   * a mode whose rows it lacks): `workload/kind/bN` → modes held, of `modes`. Empty when every group
   * has every mode.
   */
  readonly incomplete: Readonly<Record<string, number>>;
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

/**
 * An in-memory profile table for one device. For a device the catalog knows (a built-in board),
 * rows are validated against its grid. Any other device name (the name rule: `[A-Za-z0-9_.-]{1,64}`)
 * is the user's own board: its grid is the per-knob distinct levels of the modes the table holds,
 * growing as rows are added, with no sub-grids and no presets. Workload names are free (the same rule).
 */
export class ProfileTable {
  /** True when the device is not in the catalog, so the table's rows define its grid. */
  readonly ownGrid: boolean;
  readonly deviceId: string;
  private spec: DeviceSpec;
  private index: GridIndex;
  private readonly groups = new Map<string, Group>();
  private count = 0;

  constructor(
    deviceId: string,
    private readonly base: Catalog = BUILTIN_CATALOG,
  ) {
    this.ownGrid = !base.deviceIds().includes(deviceId);
    this.deviceId = deviceId;
    if (this.ownGrid) {
      requireName('device', deviceId, 'a device name');
      this.spec = ownDevice(deviceId, { cores: [], cpuMhz: [], gpuMhz: [], emcMhz: [] });
    } else {
      this.spec = base.device(deviceId);
    }
    this.index = gridIndex(this.spec.grid);
  }

  /** The device: the catalog's, or (for a device of its own) one whose grid is the table's modes so far. */
  get device(): DeviceSpec {
    return this.spec;
  }

  /**
   * The base catalog plus this table's device (when it is its own) and its workloads. A workload
   * the base does not know gets bT = the table's training batch size when it has exactly one, the
   * smallest when it has several, 1 when the table only serves it; a known one keeps its descriptor.
   */
  catalog(): Catalog {
    const workloads: WorkloadDescriptor[] = this.workloads().map((w) => {
      const bt = this.batchSizes(w, 'train');
      return userWorkload(w, bt[0] ?? 1);
    });
    const merged = catalogWith(this.base, { devices: this.ownGrid ? [this.spec] : [], workloads });
    // Every workload the table serves, known to the base or not, defaults to the batch sizes its
    // inference rows have (SPEC §2): a problem that names none asks for nothing the table lacks.
    const served = (d: WorkloadDescriptor): WorkloadDescriptor => {
      const sizes = this.batchSizes(d.id, 'infer');
      return sizes.length > 0 ? { ...d, defaultInferBatchSizes: sizes } : d;
    };
    return {
      device: (id, field) => merged.device(id, field),
      workload: (id, field) => served(merged.workload(id, field)),
      deviceIds: () => merged.deviceIds(),
      workloadIds: () => merged.workloadIds(),
    };
  }

  /** The training batch size bT a benchmark or plan on this table uses for `workload` (undefined when it has no training rows). */
  trainBatchSize(workload: string): number | undefined {
    const bt = this.batchSizes(workload, 'train');
    if (bt.length <= 1) return bt[0];
    const known = this.base.workloadIds().includes(workload) ? this.base.workload(workload).defaultTrainBatchSize : undefined;
    return known !== undefined && bt.includes(known) ? known : bt[0];
  }

  get size(): number {
    return this.count;
  }

  /** Adds one row; throws ValidationError for a bad row and DuplicateRowError for a repeated key. */
  add(row: ProfileRow, origin?: number): void {
    if (row.device !== this.deviceId) throw new ValidationError('device', `${describeValue(row.device)} differs from the table's device ${describeValue(this.deviceId)}`);
    if (this.ownGrid) this.extendGrid(row);
    validateQuery(this.device, row);
    const key = groupKey(row.workload, row.kind, row.batchSize);
    let g = this.groups.get(key);
    if (!g) {
      g = { workload: row.workload, kind: row.kind, batchSize: row.batchSize, slots: new Map(), modeIndex: [], timeMs: [], powerW: [], uncertainty: new Map(), origin: [] };
      this.groups.set(key, g);
    }
    const mi = this.index.indexOf(row.mode);
    const existing = g.slots.get(mi);
    if (existing !== undefined) throw new DuplicateRowError(row, g.origin[existing]);
    const u = uncertaintyOf(row);
    if (u) g.uncertainty.set(g.modeIndex.length, u);
    g.slots.set(mi, g.modeIndex.length);
    g.modeIndex.push(mi);
    g.timeMs.push(row.timeMs);
    g.powerW.push(row.powerW);
    g.origin.push(origin);
    this.count++;
  }

  /** A device of its own: adds the row's knob levels its grid lacks, and re-indexes the rows held. */
  private extendGrid(row: ProfileRow): void {
    if (this.index.indexOf(row.mode) >= 0) return;
    for (const knob of POWER_MODE_KNOBS) {
      const v = row.mode[knob];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (knob === 'cores' && !Number.isInteger(v))) {
        throw new ValidationError(`mode.${knob}`, `must be a positive ${knob === 'cores' ? 'integer' : 'number'}, got ${describeValue(v)}`);
      }
    }
    const old = this.index;
    const grid = Object.fromEntries(
      POWER_MODE_KNOBS.map((knob) => {
        const values = [...old.grid[knob]];
        if (!values.some((x) => Math.abs(x - row.mode[knob]) <= 1e-6)) values.push(row.mode[knob]);
        return [knob, values.sort((a, b) => a - b)];
      }),
    ) as unknown as PowerModeGrid;
    this.spec = ownDevice(this.deviceId, grid);
    this.index = gridIndex(grid);
    for (const g of this.groups.values()) {
      g.slots.clear();
      g.modeIndex.forEach((mi, slot) => {
        const moved = this.index.indexOf(old.modeAt(mi));
        g.modeIndex[slot] = moved;
        g.slots.set(moved, slot);
      });
    }
  }

  get(workload: string, kind: WorkloadKind, batchSize: number, mode: PowerMode): ProfileSample | undefined {
    const g = this.groups.get(groupKey(workload, kind, batchSize));
    if (!g) return undefined;
    const slot = g.slots.get(this.index.indexOf(mode));
    return slot === undefined ? undefined : { timeMs: g.timeMs[slot]!, powerW: g.powerW[slot]! };
  }

  /** The samples and standard errors the row was given with, if any. */
  uncertainty(workload: string, kind: WorkloadKind, batchSize: number, mode: PowerMode): RowUncertainty | undefined {
    const g = this.groups.get(groupKey(workload, kind, batchSize));
    const slot = g?.slots.get(this.index.indexOf(mode));
    return slot === undefined ? undefined : g!.uncertainty.get(slot);
  }

  /** Every row, in insertion order per (workload, kind, batch). */
  *rows(): Generator<ProfileRow> {
    for (const g of this.groups.values()) {
      for (let s = 0; s < g.modeIndex.length; s++) {
        yield { device: this.device.id, workload: g.workload, kind: g.kind, batchSize: g.batchSize, mode: this.index.modeAt(g.modeIndex[s]!), timeMs: g.timeMs[s]!, powerW: g.powerW[s]!, ...g.uncertainty.get(s) };
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
    const incomplete: Record<string, number> = {};
    for (const g of this.groups.values()) if (g.modeIndex.length < modes.length) incomplete[`${g.workload}/${g.kind}/b${g.batchSize}`] = g.modeIndex.length;
    return {
      device: this.device.id,
      workloads: this.workloads(),
      kinds: [...new Set([...this.groups.values()].map((g) => g.kind))],
      batchSizes,
      modes: modes.length,
      rows: this.count,
      ...(grid ? { grid } : {}),
      incomplete,
    };
  }
}

/** A user's board: its id as its name, the grid its table's modes span, no sub-grids or presets. */
function ownDevice(id: string, grid: PowerModeGrid): DeviceSpec {
  return { id, displayName: id, grid, subGrids: {}, presets: [], notes: 'a device of its own: its grid is the per-knob levels of the modes its profile table holds' };
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
  readonly catalog: Catalog;
  private readonly cache = new WeakMap<PowerModeGrid, Map<string, GroundTruthTable>>();

  constructor(
    readonly table: ProfileTable,
    options: TableBackendOptions = {},
  ) {
    this.device = table.device;
    this.catalog = table.catalog();
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
    // Exact: the row as measured, with the samples and standard errors it was given with.
    if (this.noise === 0) return { ...truth, ...this.table.uncertainty(query.workload, query.kind, query.batchSize, query.mode) };
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
    // A measurement (not the ground truth) of an exact table carries the rows' own standard errors.
    const withSe = repeat !== undefined && !noisy;
    let timeSeMs: Float64Array | undefined;
    let powerSeW: Float64Array | undefined;
    for (let i = 0; i < index.size; i++) {
      const mode = index.modeAt(i);
      const hit = this.table.get(workload, kind, batchSize, mode);
      if (!hit) continue;
      const [ft, fp] = noisy ? noiseFactors(modeSeed(base, mode.cores, mode.cpuMhz, mode.gpuMhz, mode.emcMhz), this.noise) : [1, 1];
      timeMs[i] = hit.timeMs * ft;
      powerW[i] = hit.powerW * fp;
      const u = withSe ? this.table.uncertainty(workload, kind, batchSize, mode) : undefined;
      if (u && (u.timeSeMs !== undefined || u.powerSeW !== undefined)) {
        timeSeMs ??= new Float64Array(index.size).fill(NaN);
        powerSeW ??= new Float64Array(index.size).fill(NaN);
        timeSeMs[i] = u.timeSeMs ?? NaN;
        powerSeW[i] = u.powerSeW ?? NaN;
      }
    }
    return { index, workload, kind, batchSize, timeMs, powerW, ...(timeSeMs ? { timeSeMs, powerSeW } : {}) };
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
