/**
 * One face for every source of (mode, workload, kind, batch) → time and power: the virtual model
 * and profile tables today, a real board's profiles tomorrow. Everything is synchronous and in
 * memory; measuring on a real board goes through the profiler service, which stores its results
 * in this CSV schema and so becomes a `table` backend.
 */
import {
  BUILTIN_CATALOG,
  ValidationError,
  assertOnGrid,
  formatPowerMode,
  getGrid,
  type Catalog,
  type DeviceSpec,
  type Measurement,
  type MeasurementUncertainty,
  type PowerMode,
  type PowerModeGrid,
  type WorkloadKind,
} from '@fulcrum/core';
import { describeValue, requireName, requirePositiveInteger } from '@fulcrum/core/internal';
import type { GridIndex } from './grid-index.js';

export type BackendType = 'virtual' | 'table';
export const BACKEND_TYPES: readonly BackendType[] = ['virtual', 'table'];

export interface ProfileQuery {
  readonly mode: PowerMode;
  readonly workload: string;
  readonly kind: WorkloadKind;
  /** Samples per minibatch; for `train` usually the workload's `defaultTrainBatchSize`. */
  readonly batchSize: number;
}

/** Milliseconds per minibatch and mean watts while it runs (the CSV's units). */
/** With `MeasureOptions.samples` (a modelled window), also the minibatches measured and the standard errors the window's samples show. */
export interface ProfileSample extends MeasurementUncertainty {
  readonly timeMs: number;
  readonly powerW: number;
}

export interface MeasureOptions {
  /**
   * Which repetition of the measurement (default 0). The same (seed, query, repeat) always gives
   * the same numbers; another repeat gives a fresh draw.
   */
  readonly repeat?: number;
  /**
   * Model a measurement window of this many minibatches (issue 16, `windowNoise`): a longer window
   * is surer, a systematic part is not, and the answer carries `samples`, `timeSeMs`, `powerSeW`.
   * Omitted: one draw of the backend's noise, as before (the same numbers as a 20-sample window).
   */
  readonly samples?: number;
}

/** Ground truth over every mode of a grid, indexed by `index` (NaN where the backend has no value). */
export interface GroundTruthTable {
  readonly index: GridIndex;
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  readonly timeMs: Float64Array;
  readonly powerW: Float64Array;
  /**
   * The standard errors each measurement's window showed (NaN where unknown), for a `measureTable`
   * asked for windows (`samples`), or a profile table whose rows carry them; absent otherwise.
   */
  readonly timeSeMs?: Float64Array | undefined;
  readonly powerSeW?: Float64Array | undefined;
  /** The window's samples, when `timeSeMs`/`powerSeW` are modelled windows. */
  readonly samples?: number | undefined;
}

export interface DeviceBackend {
  readonly type: BackendType;
  readonly device: DeviceSpec;
  /** One line for logs and reports, e.g. `virtual orin-agx (noise 2.5%, seed 1)`. */
  readonly description: string;
  /** Relative spread of `measure` (0 = exact). */
  readonly noise: number;
  readonly seed: number;
  /** The workloads this backend can answer for. */
  workloads(): readonly string[];
  /**
   * The devices and workloads a problem on this backend may name: the built-in catalog for the
   * virtual Jetson; for a table, that plus the table's own device and workloads.
   */
  readonly catalog: Catalog;
  /** Whether `measure`/`groundTruth` can answer this query (false for modes a table lacks). */
  has(query: ProfileQuery): boolean;
  /** One measurement, with seeded noise. Throws ValidationError on bad input, NotInTableError on a table miss. */
  measure(query: ProfileQuery, options?: MeasureOptions): ProfileSample;
  /** The noise-free value used to score plans. */
  groundTruth(query: ProfileQuery): ProfileSample;
  /**
   * The fast path: ground truth over every mode of a grid (default: the device's full grid; a name
   * such as `4368` picks a sub-grid), lazily built and cached per (workload, kind, batch, grid).
   */
  groundTruthTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string): GroundTruthTable;
  /**
   * Noisy measurements over a grid (repeat 0 gives the same numbers as `measure`); not cached.
   * With `samples`, each is a modelled window with its standard errors, as `measure` gives them.
   */
  measureTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string, options?: MeasureOptions): GroundTruthTable;
}

/** A query a table backend cannot answer: the mode (or workload/batch) is not in its table. */
export class NotInTableError extends Error {
  override readonly name = 'NotInTableError';
  constructor(
    readonly query: ProfileQuery,
    readonly reason: string,
  ) {
    super(`${describeQuery(query)}: ${reason}`);
  }
}

export function isNotInTableError(err: unknown): err is NotInTableError {
  return err instanceof NotInTableError;
}

export function describeQuery(q: ProfileQuery): string {
  return `${q.workload} ${q.kind} batch ${q.batchSize} on mode ${formatPowerMode(q.mode)}`;
}

/** The batch size a training query uses when none is given: the workload's bT (in `catalog`, default the built-in one). */
export function defaultTrainBatchSize(workload: string, catalog: Catalog = BUILTIN_CATALOG): number {
  return catalog.workload(workload).defaultTrainBatchSize;
}

/** Converts to core's units (seconds) for the SPEC §2 formulas. */
export function toMeasurement(sample: ProfileSample): Measurement {
  return { timeS: sample.timeMs / 1000, powerW: sample.powerW };
}

export function resolveGrid(device: DeviceSpec, grid: PowerModeGrid | string | undefined): PowerModeGrid {
  if (grid === undefined) return device.grid;
  if (typeof grid === 'string') return getGrid(device, grid);
  return grid;
}

/**
 * Validates a query against a device: a workload known to `catalog` (without one, any name that
 * follows the name rule, as in a profile table), a kind, a positive integer batch, a mode on the grid.
 */
export function validateQuery(device: DeviceSpec, q: ProfileQuery, catalog?: Catalog): void {
  if (catalog) catalog.workload(q.workload, 'workload');
  else requireName('workload', q.workload, 'a workload name');
  if (q.kind !== 'train' && q.kind !== 'infer') throw new ValidationError('kind', `must be "train" or "infer", got ${describeValue(q.kind)}`);
  requirePositiveInteger('batchSize', q.batchSize);
  assertOnGrid(q.mode, device.grid, device.id, 'mode');
}
