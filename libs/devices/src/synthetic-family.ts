/**
 * A seeded family of **synthetic** devices whose time and power laws are not the roofline shape
 * the virtual Jetson and GMD's model share (issue 16, 4): the strategies are checked against
 * boards they were not built around. Each variant takes the virtual device's noise-free model as
 * raw material and bends it, per its seed:
 *
 * - **Piecewise throttling**: above a power cap (55–85 % of the workpiece's power at the fastest
 *   mode) the board holds power near the cap and slows down: power = cap + 25 % of the excess,
 *   time × (1 + 0.75 · excess / cap).
 * - **A GPU-clock sweet spot**: power × (1 + a·((x − c)² − (1 − c)²)) with x the GPU clock over its
 *   maximum, c ∈ [0.35, 0.75], a ∈ [0.2, 0.6] — power is lowest at c, not at the lowest clock.
 * - **EMC sensitivity per workload and batch size**: time × (emcMax/emc)^e with e ∈ [0, 0.5] drawn
 *   per (workload, kind, batch), unrelated to the workload's bytes per FLOP.
 * - **A CPU-bound data-loading floor** (training, and inference at batch ≤ 2): time ≥ φ · t(max
 *   mode) · (cpuMax/cpu) · √(coresMax/cores), φ ∈ [0.2, 0.7] per variant.
 *
 * None of this describes a real board: it is a test of robustness, labelled `synthetic family` in
 * every description and report. Measurements add the same seeded log-normal noise as the virtual
 * device. Variant `n` of a family is fully determined by `n` (and the base device).
 */
import { ValidationError, type PowerMode, type PowerModeGrid, type WorkloadKind } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { resolveGrid, type DeviceBackend, type GroundTruthTable, type MeasureOptions, type ProfileQuery, type ProfileSample } from './backend.js';
import { gridIndex } from './grid-index.js';
import { DEFAULT_NOISE, DEFAULT_SEED, modeSeed, querySeed } from './noise.js';
import { VirtualDevice, measuredTable, measuredWindow, validateNoise, validateSeed } from './virtual.js';

export interface SyntheticFamilyOptions {
  /** Which variant of the family (a non-negative integer); each is its own device shape. */
  readonly variant: number;
  readonly noise?: number | undefined;
  readonly seed?: number | undefined;
}

/** One variant's device-wide parameters (see the module comment). */
export interface FamilyShape {
  readonly variant: number;
  /** Power cap as a fraction of the workpiece's power at the fastest mode. */
  readonly capFraction: number;
  readonly gpuSweetSpot: number;
  readonly gpuSweetDepth: number;
  /** Data-loading floor as a fraction of the workpiece's time at the fastest mode. */
  readonly floorFraction: number;
}

const unit = (h: number): number => (h >>> 0) / 0x1_0000_0000;
const between = (h: number, lo: number, hi: number): number => lo + (hi - lo) * unit(h);

/** The shape of variant `variant` (deterministic). */
export function familyShape(variant: number): FamilyShape {
  if (!Number.isSafeInteger(variant) || variant < 0) throw new ValidationError('variant', `must be a non-negative integer, got ${describeValue(variant)}`);
  const h = (salt: number): number => querySeed(variant + 0x5eed, 'synthetic-family', 'train', 1, salt);
  return {
    variant,
    capFraction: between(h(1), 0.55, 0.85),
    gpuSweetSpot: between(h(2), 0.35, 0.75),
    gpuSweetDepth: between(h(3), 0.2, 0.6),
    floorFraction: between(h(4), 0.2, 0.7),
  };
}

interface Workpiece {
  /** Time and power at the grid's fastest mode, before bending. */
  readonly maxTimeMs: number;
  readonly maxPowerW: number;
  /** EMC sensitivity exponent of this (workload, kind, batch). */
  readonly emcExponent: number;
  readonly floor: boolean;
}

export class SyntheticFamilyDevice implements DeviceBackend {
  readonly type = 'virtual' as const;
  readonly noise: number;
  readonly seed: number;
  readonly shape: FamilyShape;
  readonly #base: VirtualDevice;
  readonly #max: { readonly cores: number; readonly cpuMhz: number; readonly gpuMhz: number; readonly emcMhz: number };
  readonly #pieces = new Map<string, Workpiece>();
  readonly #tables = new WeakMap<PowerModeGrid, Map<string, GroundTruthTable>>();

  constructor(deviceId: string, options: SyntheticFamilyOptions) {
    this.shape = familyShape(options.variant);
    this.noise = validateNoise(options.noise ?? DEFAULT_NOISE);
    this.seed = validateSeed(options.seed ?? DEFAULT_SEED);
    this.#base = new VirtualDevice(deviceId, { noise: 0, seed: this.seed });
    const g = this.#base.device.grid;
    this.#max = { cores: Math.max(...g.cores), cpuMhz: Math.max(...g.cpuMhz), gpuMhz: Math.max(...g.gpuMhz), emcMhz: Math.max(...g.emcMhz) };
  }

  get device() {
    return this.#base.device;
  }

  get catalog() {
    return this.#base.catalog;
  }

  get description(): string {
    return `synthetic family variant ${this.shape.variant} on ${this.device.id} (not the roofline shape, not a measured board; noise ${(this.noise * 100).toFixed(1)}%, seed ${this.seed})`;
  }

  workloads(): readonly string[] {
    return this.#base.workloads();
  }

  has(query: ProfileQuery): boolean {
    return this.#base.has(query);
  }

  #piece(workload: string, kind: WorkloadKind, batchSize: number): Workpiece {
    const key = `${workload}|${kind}|${batchSize}`;
    let p = this.#pieces.get(key);
    if (!p) {
      const top = this.#base.groundTruth({ workload, kind, batchSize, mode: this.#max });
      p = {
        maxTimeMs: top.timeMs,
        maxPowerW: top.powerW,
        emcExponent: between(querySeed(this.shape.variant + 0xe3c, workload, kind, batchSize, 0), 0, 0.5),
        floor: kind === 'train' || batchSize <= 2,
      };
      this.#pieces.set(key, p);
    }
    return p;
  }

  /** Bends one noise-free (time, power) of the base model at a mode. */
  #bend(p: Workpiece, cores: number, cpuMhz: number, gpuMhz: number, emcMhz: number, timeMs: number, powerW: number): ProfileSample {
    const s = this.shape;
    let t = timeMs * (this.#max.emcMhz / emcMhz) ** p.emcExponent;
    if (p.floor) t = Math.max(t, s.floorFraction * p.maxTimeMs * (this.#max.cpuMhz / cpuMhz) * Math.sqrt(this.#max.cores / cores));
    const x = gpuMhz / this.#max.gpuMhz;
    let w = powerW * (1 + s.gpuSweetDepth * ((x - s.gpuSweetSpot) ** 2 - (1 - s.gpuSweetSpot) ** 2));
    const cap = s.capFraction * p.maxPowerW;
    if (w > cap) {
      const excess = w - cap;
      t *= 1 + (0.75 * excess) / cap;
      w = cap + 0.25 * excess;
    }
    return { timeMs: t, powerW: w };
  }

  groundTruth(query: ProfileQuery): ProfileSample {
    const raw = this.#base.groundTruth(query);
    const m = query.mode;
    return this.#bend(this.#piece(query.workload, query.kind, query.batchSize), m.cores, m.cpuMhz, m.gpuMhz, m.emcMhz, raw.timeMs, raw.powerW);
  }

  measure(query: ProfileQuery, options: MeasureOptions = {}): ProfileSample {
    return measuredWindow(this.groundTruth(query), this.#streamSeed(query.workload, query.kind, query.batchSize, query.mode, options.repeat ?? 0), this.noise, options.samples);
  }

  #streamSeed(workload: string, kind: WorkloadKind, batchSize: number, m: PowerMode, repeat: number): number {
    const base = querySeed(this.seed ^ Math.imul(this.shape.variant + 1, 0x9e3779b1), workload, kind, batchSize, repeat);
    return modeSeed(base, m.cores, m.cpuMhz, m.gpuMhz, m.emcMhz);
  }

  groundTruthTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string): GroundTruthTable {
    const g = resolveGrid(this.device, grid);
    let perGrid = this.#tables.get(g);
    if (!perGrid) this.#tables.set(g, (perGrid = new Map()));
    const key = `${workload}|${kind}|${batchSize}`;
    let table = perGrid.get(key);
    if (!table) perGrid.set(key, (table = this.#build(workload, kind, batchSize, g, undefined)));
    return table;
  }

  measureTable(workload: string, kind: WorkloadKind, batchSize: number, grid?: PowerModeGrid | string, options: MeasureOptions = {}): GroundTruthTable {
    return this.#build(workload, kind, batchSize, resolveGrid(this.device, grid), options.repeat ?? 0, options.samples);
  }

  #build(workload: string, kind: WorkloadKind, batchSize: number, grid: PowerModeGrid, repeat: number | undefined, samples?: number): GroundTruthTable {
    const raw = this.#base.groundTruthTable(workload, kind, batchSize, grid);
    const index = gridIndex(grid);
    const p = this.#piece(workload, kind, batchSize);
    const modeAt = (i: number): PowerMode => ({ cores: index.cores[i]!, cpuMhz: index.cpuMhz[i]!, gpuMhz: index.gpuMhz[i]!, emcMhz: index.emcMhz[i]! });
    return measuredTable(
      { index, workload, kind, batchSize },
      (i) => this.#bend(p, index.cores[i]!, index.cpuMhz[i]!, index.gpuMhz[i]!, index.emcMhz[i]!, raw.timeMs[i]!, raw.powerW[i]!),
      repeat !== undefined ? (i) => this.#streamSeed(workload, kind, batchSize, modeAt(i), repeat) : undefined,
      this.noise,
      samples,
    );
  }
}

/** At most this many variants in one `family:A-B` range. */
export const MAX_FAMILY_VARIANTS = 64;

/**
 * `family:N` → [N], `family:A-B` → [A, …, B] (variants of the synthetic family); undefined for any
 * other device name. ValidationError('device') for a range that is empty or longer than
 * MAX_FAMILY_VARIANTS.
 */
export function parseFamilyDevice(text: string): number[] | undefined {
  const m = /^family:(\d{1,9})(?:-(\d{1,9}))?$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (to < from) throw new ValidationError('device', `${describeValue(text)}: the range ends before it starts`);
  if (to - from + 1 > MAX_FAMILY_VARIANTS) throw new ValidationError('device', `${describeValue(text)}: at most ${MAX_FAMILY_VARIANTS} variants at once`);
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
