/**
 * Measurements of one profile key over a mode space, as flat typed arrays indexed by the mode's
 * flat index (NaN where nothing is known). The same shape holds a backend's noise-free ground
 * truth, the noisy measurements a profiler has taken so far, and a surrogate's predictions.
 */
import type { Measurement, Problem } from '@fulcrum/core';

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

/** One profiled mode: tT/pT, tI/pI per stream and candidate batch (undefined: not measurable), cost. */
export interface ModeMeasurement {
  readonly training: Measurement;
  /** [stream][i] for the stream's candidateBatchSizes[i]. */
  readonly inference: readonly (readonly (Measurement | undefined)[])[];
  /** Seconds the profiling of this mode takes (switch + settle + warm-up and measured minibatches). */
  readonly costS: number;
}

export class MeasurementTable {
  readonly size: number;
  readonly trainTimeS: Float64Array;
  readonly trainPowerW: Float64Array;
  /** [stream][batch index] → per-mode arrays. */
  readonly inferTimeS: Float64Array[][];
  readonly inferPowerW: Float64Array[][];
  readonly costS: Float64Array;

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
  }

  get(index: number): ModeMeasurement | undefined {
    if (!this.has(index)) return undefined;
    return {
      training: { timeS: this.trainTimeS[index]!, powerW: this.trainPowerW[index]! },
      inference: this.inferTimeS.map((perBatch, s) =>
        perBatch.map((times, b) => {
          const t = times[index]!;
          return Number.isNaN(t) ? undefined : { timeS: t, powerW: this.inferPowerW[s]![b]![index]! };
        }),
      ),
      costS: this.costS[index]!,
    };
  }
}
