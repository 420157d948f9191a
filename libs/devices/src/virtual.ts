/**
 * The virtual Jetson backend: the calibrated physics model (physics.ts) for a device, with seeded
 * measurement noise and cached ground-truth tables over grids.
 */
import { BUILTIN_CATALOG, catalogWith, getDevice, workloadIds, ValidationError, type Catalog, type DeviceSpec, type PowerModeGrid, type WorkloadKind } from '@fulcrum/core';
import {
  resolveGrid,
  validateQuery,
  type DeviceBackend,
  type GroundTruthTable,
  type MeasureOptions,
  type ProfileQuery,
  type ProfileSample,
} from './backend.js';
import { getDevicePhysics } from './device-physics.js';
import { gridIndex } from './grid-index.js';
import { DEFAULT_NOISE, DEFAULT_SEED, modeSeed, noiseFactors, querySeed, windowNoise } from './noise.js';
import { CompiledWorkpiece, type DevicePhysics, type WorkloadConstants } from './physics.js';
import { getWorkloadCost, minibatchCost } from './workload-costs.js';
import { workloadConstants } from './workload-constants.js';
import { checkUserWorkload, lineCost, userWorkloadConstants, type UserWorkload, type VirtualWorkloadSpec } from './user-workloads.js';

export interface VirtualDeviceOptions {
  /** Relative spread of measurements; default DEFAULT_NOISE (2.5%); 0 = exact. */
  readonly noise?: number;
  readonly seed?: number;
  /** Replace the device physics (tests, what-if studies). */
  readonly physics?: DevicePhysics;
  /** Replace some workloads' constants. */
  readonly constants?: Readonly<Record<string, WorkloadConstants>>;
  /**
   * Workloads to simulate besides the built-in ones, from their FLOPs and bytes (a user's workload
   * folders; see user-workloads.ts). Their constants are borrowed from the closest calibrated
   * workload. An id the built-in catalog has is skipped (a built-in keeps its calibrated costs).
   */
  readonly workloads?: readonly VirtualWorkloadSpec[];
}

export function validateNoise(noise: number, field = 'noise'): number {
  if (typeof noise !== 'number' || !Number.isFinite(noise) || noise < 0 || noise > 1) {
    throw new ValidationError(field, `must be a relative spread between 0 and 1 (e.g. 0.025), got ${String(noise)}`);
  }
  return noise;
}

export function validateSeed(seed: number, field = 'seed'): number {
  if (!Number.isSafeInteger(seed)) throw new ValidationError(field, `must be an integer, got ${String(seed)}`);
  return seed;
}

export class VirtualDevice implements DeviceBackend {
  readonly type = 'virtual' as const;
  readonly device: DeviceSpec;
  readonly physics: DevicePhysics;
  readonly noise: number;
  readonly seed: number;
  /** The built-in boards and workloads, plus the workloads given in `options.workloads`. */
  readonly catalog: Catalog;
  private readonly constants: Readonly<Record<string, WorkloadConstants>>;
  private readonly user = new Map<string, UserWorkload>();
  private readonly compiled = new Map<string, CompiledWorkpiece>();
  private readonly tables = new WeakMap<PowerModeGrid, Map<string, GroundTruthTable>>();

  constructor(deviceId = 'orin-agx', options: VirtualDeviceOptions = {}) {
    this.device = getDevice(deviceId);
    this.physics = options.physics ?? getDevicePhysics(deviceId);
    this.noise = validateNoise(options.noise ?? DEFAULT_NOISE);
    this.seed = validateSeed(options.seed ?? DEFAULT_SEED);
    const builtin = new Set(workloadIds());
    (options.workloads ?? []).forEach((spec, i) => {
      const u = checkUserWorkload(spec, `workloads[${i}]`);
      if (builtin.has(u.spec.id)) return;
      if (this.user.has(u.spec.id)) throw new ValidationError(`workloads[${i}].id`, `names workload ${JSON.stringify(u.spec.id)} twice`);
      this.user.set(u.spec.id, u);
    });
    this.catalog = this.user.size > 0 ? catalogWith(BUILTIN_CATALOG, { workloads: [...this.user.values()].map((u) => u.descriptor) }) : BUILTIN_CATALOG;
    this.constants = {
      ...Object.fromEntries(workloadIds().map((w) => [w, workloadConstants(w)])),
      ...Object.fromEntries([...this.user.values()].map((u) => [u.spec.id, userWorkloadConstants(u)])),
      ...options.constants,
    };
  }

  get description(): string {
    return `virtual ${this.device.id} (synthetic model; noise ${(this.noise * 100).toFixed(1)}%, seed ${this.seed})`;
  }

  workloads(): readonly string[] {
    return [...workloadIds(), ...this.user.keys()];
  }

  /** Whether `workload` is one of `options.workloads` (simulated from its given costs). */
  isUserWorkload(workload: string): boolean {
    return this.user.has(workload);
  }

  /** The constants used for a workload (fitted or borrowed; see `provenance`). */
  workloadConstants(workload: string): WorkloadConstants {
    this.catalog.workload(workload);
    return this.constants[workload]!;
  }

  /** FLOPs and bytes of one minibatch. */
  minibatchCost(workload: string, kind: WorkloadKind, batchSize: number): { flops: number; bytes: number } {
    const u = this.user.get(workload);
    return u ? lineCost(u.lines[kind], batchSize) : minibatchCost(getWorkloadCost(workload), kind, batchSize);
  }

  /** The mode-independent part of the model for one (workload, kind, batch), cached. */
  compile(workload: string, kind: WorkloadKind, batchSize: number): CompiledWorkpiece {
    const key = `${workload}|${kind}|${batchSize}`;
    let c = this.compiled.get(key);
    if (!c) {
      const constants = this.workloadConstants(workload);
      c = new CompiledWorkpiece(this.physics, { ...this.minibatchCost(workload, kind, batchSize), batchSize, kind, constants });
      this.compiled.set(key, c);
    }
    return c;
  }

  has(query: ProfileQuery): boolean {
    try {
      validateQuery(this.device, query, this.catalog);
      return true;
    } catch {
      return false;
    }
  }

  groundTruth(query: ProfileQuery): ProfileSample {
    validateQuery(this.device, query, this.catalog);
    return this.compile(query.workload, query.kind, query.batchSize).evaluateMode(query.mode);
  }

  measure(query: ProfileQuery, options: MeasureOptions = {}): ProfileSample {
    const truth = this.groundTruth(query);
    const m = query.mode;
    const base = querySeed(this.seed, query.workload, query.kind, query.batchSize, options.repeat ?? 0);
    return measuredWindow(truth, modeSeed(base, m.cores, m.cpuMhz, m.gpuMhz, m.emcMhz), this.noise, options.samples);
  }

  groundTruthTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string): GroundTruthTable {
    const g = resolveGrid(this.device, grid);
    let perGrid = this.tables.get(g);
    if (!perGrid) {
      perGrid = new Map();
      this.tables.set(g, perGrid);
    }
    const key = `${workload}|${kind}|${batchSize}`;
    let table = perGrid.get(key);
    if (!table) {
      table = this.buildTable(workload, kind, batchSize, g, undefined);
      perGrid.set(key, table);
    }
    return table;
  }

  measureTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string, options: MeasureOptions = {}): GroundTruthTable {
    return this.buildTable(workload, kind, batchSize, resolveGrid(this.device, grid), options.repeat ?? 0, options.samples);
  }

  private buildTable(workload: string, kind: WorkloadKind, batchSize: number, grid: PowerModeGrid, repeat: number | undefined, samples?: number): GroundTruthTable {
    const index = gridIndex(grid);
    // Validate once: the grid's corners are on the device grid and the query is well-formed.
    validateQuery(this.device, { workload, kind, batchSize, mode: index.modeAt(0) }, this.catalog);
    validateQuery(this.device, { workload, kind, batchSize, mode: index.modeAt(index.size - 1) }, this.catalog);
    const c = this.compile(workload, kind, batchSize);
    const base = repeat !== undefined ? querySeed(this.seed, workload, kind, batchSize, repeat) : 0;
    return measuredTable(
      { index, workload, kind, batchSize },
      (i) => c.evaluate(index.cores[i]!, index.cpuMhz[i]!, index.gpuMhz[i]!, index.emcMhz[i]!),
      repeat !== undefined ? (i) => modeSeed(base, index.cores[i]!, index.cpuMhz[i]!, index.gpuMhz[i]!, index.emcMhz[i]!) : undefined,
      this.noise,
      samples,
    );
  }
}

/**
 * A table over a grid of `truthAt(i)` for every mode i, measured as `measuredWindow` measures one
 * query when `seedAt` gives each mode's noise stream (a measurement; absent: the ground truth): one
 * draw of `noise`, or with `samples` a modelled window with the standard errors it shows.
 */
export function measuredTable(
  of: Pick<GroundTruthTable, 'index' | 'workload' | 'kind' | 'batchSize'>,
  truthAt: (i: number) => ProfileSample,
  seedAt: ((i: number) => number) | undefined,
  noise: number,
  samples: number | undefined,
): GroundTruthTable {
  const size = of.index.size;
  const timeMs = new Float64Array(size);
  const powerW = new Float64Array(size);
  const noisy = seedAt !== undefined && noise > 0;
  const windows = noisy && samples !== undefined ? checkedSamples(samples) : undefined;
  const timeSeMs = windows !== undefined ? new Float64Array(size) : undefined;
  const powerSeW = windows !== undefined ? new Float64Array(size) : undefined;
  for (let i = 0; i < size; i++) {
    const truth = truthAt(i);
    const m = noisy ? measuredWindow(truth, seedAt(i), noise, windows) : truth;
    timeMs[i] = m.timeMs;
    powerW[i] = m.powerW;
    if (windows !== undefined) {
      timeSeMs![i] = m.timeSeMs ?? Number.NaN;
      powerSeW![i] = m.powerSeW ?? Number.NaN;
    }
  }
  return { ...of, timeMs, powerW, ...(windows !== undefined ? { timeSeMs, powerSeW, samples: windows } : {}) };
}

/** `samples` of a modelled window: a positive safe integer (RangeError otherwise). */
export function checkedSamples(samples: number): number {
  if (!Number.isSafeInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, got ${samples}`);
  return samples;
}

/**
 * A noisy measurement of `truth`: one draw of `noise` (no `samples`), or a modelled window of
 * `samples` minibatches with the standard errors its samples show (`windowNoise`).
 */
export function measuredWindow(truth: ProfileSample, streamSeed: number, noise: number, samples: number | undefined): ProfileSample {
  if (samples === undefined) {
    if (noise === 0) return truth;
    const [ft, fp] = noiseFactors(streamSeed, noise);
    return { timeMs: truth.timeMs * ft, powerW: truth.powerW * fp };
  }
  const w = windowNoise(streamSeed, noise, samples);
  const timeMs = truth.timeMs * w.time;
  const powerW = truth.powerW * w.power;
  return {
    timeMs,
    powerW,
    samples,
    ...(w.timeRelSe !== undefined ? { timeSeMs: timeMs * w.timeRelSe } : {}),
    ...(w.powerRelSe !== undefined ? { powerSeW: powerW * w.powerRelSe } : {}),
  };
}

export function createVirtualDevice(deviceId = 'orin-agx', options: VirtualDeviceOptions = {}): VirtualDevice {
  return new VirtualDevice(deviceId, options);
}
