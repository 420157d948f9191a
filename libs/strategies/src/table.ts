/**
 * Measurements of one profile key over a mode space, as flat typed arrays indexed by the mode's
 * flat index (NaN where nothing is known). The same shape holds a backend's noise-free ground
 * truth, the noisy measurements a profiler has taken so far, and a surrogate's predictions.
 */
import type { Measurement, Problem } from '@fulcrum/core';
import { windowWeightsSquaredOf } from '@fulcrum/core/internal';

/**
 * What profiling one mode measures for a problem: the training workload at bT and every stream's
 * workload at each of its candidate batch sizes. SPEC §4 keys the stored results by (device,
 * workload, batch size, mode: @fulcrum/store's `ProfileKey`); this groups the keys one problem
 * needs, so caches and measurement tables are per table key.
 */
export interface TableKey {
  readonly device: string;
  readonly trainWorkload: string;
  readonly trainBatchSize: number;
  readonly streams: readonly { readonly workload: string; readonly candidateBatchSizes: readonly number[] }[];
}

export function tableKeyOf(problem: Problem): TableKey {
  return {
    device: problem.device,
    trainWorkload: problem.trainWorkload,
    trainBatchSize: problem.trainBatchSize,
    streams: problem.streams.map((s) => ({ workload: s.workload, candidateBatchSizes: [...s.candidateBatchSizes] })),
  };
}

/** A stable text form of a key (cache maps, seeds). */
export function tableKeyText(key: TableKey): string {
  const streams = key.streams.map((s) => `${s.workload}@${s.candidateBatchSizes.join('.')}`).join('+');
  return `${key.device}|${key.trainWorkload}@${key.trainBatchSize}|${streams}`;
}

/**
 * One measured quantity pair of a mode with the standard errors its window showed (issue 16):
 * `timeSeS`/`powerSeW` absent when unknown (a table without them, an exact source).
 */
export interface MeasuredValue extends Measurement {
  readonly timeSeS?: number | undefined;
  readonly powerSeW?: number | undefined;
  /** Minibatches (or power samples) averaged; weights windows when they are combined. */
  readonly samples?: number | undefined;
}

/**
 * A measurement in the units stores and devices give (milliseconds, watts, standard errors in the
 * same; NaN or absent: unknown) as a `MeasuredValue` (seconds).
 */
export function measuredValueOf(r: { readonly timeMs: number; readonly powerW: number; readonly timeSeMs?: number | undefined; readonly powerSeW?: number | undefined; readonly samples?: number | undefined }): MeasuredValue {
  const known = (v: number | undefined): v is number => v !== undefined && !Number.isNaN(v);
  return {
    timeS: r.timeMs / 1000,
    powerW: r.powerW,
    ...(known(r.timeSeMs) ? { timeSeS: r.timeSeMs / 1000 } : {}),
    ...(known(r.powerSeW) ? { powerSeW: r.powerSeW } : {}),
    ...(r.samples !== undefined ? { samples: r.samples } : {}),
  };
}

/** One profiled mode: tT/pT, tI/pI per stream and candidate batch (undefined: not measurable), cost. */
export interface ModeMeasurement {
  readonly training: MeasuredValue;
  /** [stream][i] for the stream's candidateBatchSizes[i]. */
  readonly inference: readonly (readonly (MeasuredValue | undefined)[])[];
  /** Seconds the profiling of this mode takes (switch + settle + warm-up and measured minibatches). */
  readonly costS: number;
  /** Measurement windows combined into these values (default 1). */
  readonly windows?: number | undefined;
  /** Σwᵢ² of the combined windows' weights (default: the windows count as equal, 1/windows). */
  readonly windowWeightsSquared?: number | undefined;
}

/**
 * Standard errors, per entry like the values, and what margins read per mode: the largest
 * relative standard error of the mode's times and of its powers (NaN when some entry's is
 * unknown), and how many windows were combined. Allocated only for a table that receives them
 * (measurements; not ground truth or predictions).
 */
export class StandardErrors {
  readonly trainTimeS: Float64Array;
  readonly trainPowerW: Float64Array;
  readonly inferTimeS: Float64Array[][];
  readonly inferPowerW: Float64Array[][];
  /** Per mode: max over its entries of SE/value, for times and for powers. */
  readonly timeRel: Float64Array;
  readonly powerRel: Float64Array;
  /** Per mode: measurement windows combined into its values (0: none). */
  readonly windows: Uint16Array;
  /** Per mode: samples of the training entry summed over windows (weights for combining). */
  readonly samples: Float64Array;
  /**
   * Per mode: Σ wᵢ² over its windows' weights wᵢ in the combined mean — the share of one window's
   * systematic (thermal) variance the combination keeps: 1 for one window, 1/w for w equal ones,
   * more when a longer window weighs more (its thermal state is still one draw).
   */
  readonly systematicShare: Float64Array;

  constructor(size: number, batchCounts: readonly number[]) {
    const nan = (): Float64Array => new Float64Array(size).fill(Number.NaN);
    this.trainTimeS = nan();
    this.trainPowerW = nan();
    this.inferTimeS = batchCounts.map((n) => Array.from({ length: n }, nan));
    this.inferPowerW = batchCounts.map((n) => Array.from({ length: n }, nan));
    this.timeRel = nan();
    this.powerRel = nan();
    this.windows = new Uint16Array(size);
    this.samples = new Float64Array(size);
    this.systematicShare = new Float64Array(size);
  }
}

export class MeasurementTable {
  readonly size: number;
  readonly trainTimeS: Float64Array;
  readonly trainPowerW: Float64Array;
  /** [stream][batch index] → per-mode arrays. */
  readonly inferTimeS: Float64Array[][];
  readonly inferPowerW: Float64Array[][];
  readonly costS: Float64Array;
  /** Standard errors, once some measurement carried them (see `StandardErrors`). */
  se: StandardErrors | undefined;

  constructor(size: number, batchCounts: readonly number[]) {
    this.size = size;
    const nan = (): Float64Array => new Float64Array(size).fill(Number.NaN);
    this.trainTimeS = nan();
    this.trainPowerW = nan();
    this.inferTimeS = batchCounts.map((n) => Array.from({ length: n }, nan));
    this.inferPowerW = batchCounts.map((n) => Array.from({ length: n }, nan));
    this.costS = new Float64Array(size);
  }

  static forKey(size: number, key: TableKey): MeasurementTable {
    return new MeasurementTable(size, key.streams.map((s) => s.candidateBatchSizes.length));
  }

  get streamCount(): number {
    return this.inferTimeS.length;
  }

  has(index: number): boolean {
    return !Number.isNaN(this.trainTimeS[index]!);
  }

  /** Measurement windows combined into mode `index` (0 when it was set without standard errors). */
  windows(index: number): number {
    return this.se?.windows[index] ?? 0;
  }

  set(index: number, m: ModeMeasurement): void {
    this.trainTimeS[index] = m.training.timeS;
    this.trainPowerW[index] = m.training.powerW;
    for (let s = 0; s < this.inferTimeS.length; s++) {
      const row = m.inference[s];
      for (let b = 0; b < this.inferTimeS[s]!.length; b++) {
        const v = row?.[b];
        this.inferTimeS[s]![b]![index] = v ? v.timeS : Number.NaN;
        this.inferPowerW[s]![b]![index] = v ? v.powerW : Number.NaN;
      }
    }
    this.costS[index] = m.costS;
    const carries = m.training.timeSeS !== undefined || m.training.powerSeW !== undefined;
    if (carries && !this.se) this.se = new StandardErrors(this.size, this.inferTimeS.map((b) => b.length));
    const se = this.se;
    if (!se) return;
    se.trainTimeS[index] = m.training.timeSeS ?? Number.NaN;
    se.trainPowerW[index] = m.training.powerSeW ?? Number.NaN;
    for (let s = 0; s < this.inferTimeS.length; s++) {
      const row = m.inference[s];
      for (let b = 0; b < this.inferTimeS[s]!.length; b++) {
        const v = row?.[b];
        se.inferTimeS[s]![b]![index] = v?.timeSeS ?? Number.NaN;
        se.inferPowerW[s]![b]![index] = v?.powerSeW ?? Number.NaN;
      }
    }
    se.windows[index] = carries ? (m.windows ?? 1) : 0;
    se.samples[index] = m.training.samples ?? 1;
    // Windows combined elsewhere (a store's): their Σwᵢ² where it was kept, else taken as equal.
    se.systematicShare[index] = carries ? windowWeightsSquaredOf(m) : 0;
    this.refreshRelative(index);
  }

  /**
   * Combines another measurement window of an already measured mode (a re-measure): each value
   * becomes the samples-weighted mean of the windows, its standard error that of the mean
   * (√(Σ nᵢ²·SEᵢ²)/Σ nᵢ), so the margins a plan keeps shrink as windows add up. An entry one window
   * lacks keeps the other's value. `costS` stays one profile's cost.
   */
  combine(index: number, m: ModeMeasurement): void {
    if (!this.has(index) || !this.se || this.se.windows[index] === 0) {
      this.set(index, m);
      return;
    }
    const se = this.se;
    const n1 = se.samples[index]!;
    const n2 = m.training.samples ?? n1 / se.windows[index]!;
    const w1 = n1 / (n1 + n2);
    const w2 = n2 / (n1 + n2);
    const mean = (a: number, b: number | undefined): number => (b === undefined || Number.isNaN(b) ? a : Number.isNaN(a) ? b : w1 * a + w2 * b);
    const err = (a: number, b: number | undefined): number => (b === undefined || Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.sqrt(w1 * w1 * a * a + w2 * w2 * b * b));
    this.trainTimeS[index] = mean(this.trainTimeS[index]!, m.training.timeS);
    this.trainPowerW[index] = mean(this.trainPowerW[index]!, m.training.powerW);
    se.trainTimeS[index] = err(se.trainTimeS[index]!, m.training.timeSeS);
    se.trainPowerW[index] = err(se.trainPowerW[index]!, m.training.powerSeW);
    for (let s = 0; s < this.inferTimeS.length; s++) {
      const row = m.inference[s];
      for (let b = 0; b < this.inferTimeS[s]!.length; b++) {
        const v = row?.[b];
        if (!v) continue;
        this.inferTimeS[s]![b]![index] = mean(this.inferTimeS[s]![b]![index]!, v.timeS);
        this.inferPowerW[s]![b]![index] = mean(this.inferPowerW[s]![b]![index]!, v.powerW);
        se.inferTimeS[s]![b]![index] = err(se.inferTimeS[s]![b]![index]!, v.timeSeS);
        se.inferPowerW[s]![b]![index] = err(se.inferPowerW[s]![b]![index]!, v.powerSeW);
      }
    }
    se.windows[index]!++;
    se.samples[index] = n1 + n2;
    se.systematicShare[index] = w1 * w1 * se.systematicShare[index]! + w2 * w2;
    this.refreshRelative(index);
  }

  private refreshRelative(index: number): void {
    const se = this.se!;
    let t = se.trainTimeS[index]! / this.trainTimeS[index]!;
    let p = se.trainPowerW[index]! / this.trainPowerW[index]!;
    for (let s = 0; s < this.inferTimeS.length; s++) {
      for (let b = 0; b < this.inferTimeS[s]!.length; b++) {
        const v = this.inferTimeS[s]![b]![index]!;
        if (Number.isNaN(v)) continue;
        // NaN (an unknown SE) wins: the mode falls back to the fixed margins.
        const rt = se.inferTimeS[s]![b]![index]! / v;
        const rp = se.inferPowerW[s]![b]![index]! / this.inferPowerW[s]![b]![index]!;
        t = Number.isNaN(rt) || rt > t ? rt : t;
        p = Number.isNaN(rp) || rp > p ? rp : p;
      }
    }
    se.timeRel[index] = t;
    se.powerRel[index] = p;
  }

  get(index: number): ModeMeasurement | undefined {
    if (!this.has(index)) return undefined;
    const se = this.se;
    const known = (v: number | undefined): number | undefined => (v === undefined || Number.isNaN(v) ? undefined : v);
    const value = (timeS: number, powerW: number, timeSe: number | undefined, powerSe: number | undefined): MeasuredValue => {
      const t = known(timeSe);
      const p = known(powerSe);
      return { timeS, powerW, ...(t !== undefined ? { timeSeS: t } : {}), ...(p !== undefined ? { powerSeW: p } : {}) };
    };
    return {
      training: { ...value(this.trainTimeS[index]!, this.trainPowerW[index]!, se?.trainTimeS[index], se?.trainPowerW[index]), ...(se && se.windows[index]! > 0 ? { samples: se.samples[index]! } : {}) },
      inference: this.inferTimeS.map((perBatch, s) =>
        perBatch.map((times, b) => {
          const t = times[index]!;
          return Number.isNaN(t) ? undefined : value(t, this.inferPowerW[s]![b]![index]!, se?.inferTimeS[s]![b]![index], se?.inferPowerW[s]![b]![index]);
        }),
      ),
      costS: this.costS[index]!,
      ...(se && se.windows[index]! > 1 ? { windows: se.windows[index]!, windowWeightsSquared: se.systematicShare[index]! } : {}),
    };
  }
}
