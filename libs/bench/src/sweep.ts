/**
 * Sweep definitions (SPEC §7) and the rule that turns a key's own ranges into budgets and rates.
 *
 * A key is a training workload and one inference workload per stream. Its configurations are the
 * cross product of power-budget fractions × rate fractions × latency factors, turned into absolute
 * numbers from the key's ground truth (a virtual device's model or a profile table's rows):
 *
 * * power budget P = pLow + f·(pHigh − pLow), where pLow is the least peak power any mode draws
 *   (training, or any stream's inference at its smallest candidate batch) and pHigh the most
 *   (training or any inference at any candidate batch, normally at MAXN);
 * * arrival rate of each stream λ = g·C/K, where C = max over candidate batch sizes b of b/tI(b) at
 *   the mode with the shortest tI(b): the stream's throughput if it had the GPU to itself, shared
 *   by K streams;
 * * latency budget of each stream L = h·(tT + tI(1)) at the mode where that sum is smallest: the
 *   best worst-case latency of a batch-1 plan, scaled by h.
 *
 * The same rule applies to a profile table, where "every mode" means the rows it holds.
 */
import { ValidationError, getWorkload, DEFAULT_CANDIDATE_BATCH_SIZES } from '@fulcrum/core';
import type { TableKey } from '@fulcrum/strategies';
import type { ConfigNumbers, KeyRanges } from '@fulcrum/strategies/internal';

export const SWEEP_NAMES = ['quick', 'paper'] as const;
export type SweepName = (typeof SWEEP_NAMES)[number];

export interface KeySpec {
  readonly train: string;
  /** One inference workload per stream. */
  readonly infer: readonly string[];
  /** bT; absent: the built-in workload's default (a profile table's keys carry the table's). */
  readonly trainBatchSize?: number;
}

/**
 * What a sweep may draw keys from when training and serving differ (a profile table): the
 * workloads it trains and those it serves (each in the order given; the sets may be disjoint), bT
 * per training workload, and the inference batch sizes every served workload has.
 */
export interface SweepWorkloads {
  readonly train: readonly string[];
  readonly infer: readonly string[];
  readonly trainBatchSize?: Readonly<Record<string, number>>;
  readonly candidateBatchSizes?: readonly number[];
}

/** Keys that share one grid of fractions. */
export interface SweepPart {
  readonly keys: readonly KeySpec[];
  readonly powerFractions: readonly number[];
  readonly rateFractions: readonly number[];
  readonly latencyFactors: readonly number[];
  readonly candidateBatchSizes: readonly number[];
}

export interface SweepDefinition {
  readonly name: string;
  readonly parts: readonly SweepPart[];
}

const linear = (a: number, b: number, n: number): number[] => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
const geometric = (a: number, b: number, n: number): number[] => Array.from({ length: n }, (_, i) => a * (b / a) ** (i / (n - 1)));
const round4 = (xs: number[]): number[] => xs.map((x) => Number(x.toPrecision(4)));

/**
 * `paper`: 8 training × 8 inference workloads (16 workload variants) × 16 power budgets × 16 rates ×
 * 16 latency budgets = 262,144 single-stream configurations, plus 8 two-stream keys × 4³ = 512.
 * `quick`: 3 keys (one with two streams) × 4 × 3 × 3 = 108 configurations, for CI.
 *
 * `workloads` is either one list (every workload both trained and served: the virtual board) or a
 * table's `SweepWorkloads`: then `paper` keys are every trained × every served workload, the
 * two-stream keys pair served workloads with a trained one, and `quick` samples three keys, all
 * from what the table has.
 */
export function sweepDefinition(name: SweepName, workloads: readonly string[] | SweepWorkloads): SweepDefinition {
  const w: SweepWorkloads = isWorkloadList(workloads) ? { train: workloads, infer: workloads } : workloads;
  const train = w.train;
  const infer = w.infer;
  if (train.length === 0) throw new ValidationError('workloads', 'nothing is trained: a benchmark key needs a training workload (rows of kind train)');
  if (infer.length === 0) throw new ValidationError('workloads', 'nothing is served: a benchmark key needs an inference workload (rows of kind infer)');
  const candidateBatchSizes = w.candidateBatchSizes ?? DEFAULT_CANDIDATE_BATCH_SIZES;
  if (candidateBatchSizes.length === 0) throw new ValidationError('workloads', `the served workloads (${infer.join(', ')}) share no inference batch size`);
  const bt = w.trainBatchSize;
  const key = (t: string, i: readonly string[]): KeySpec => ({ train: t, infer: i, ...(bt?.[t] !== undefined ? { trainBatchSize: bt[t] } : {}) });
  if (name === 'quick') {
    const pick = (preferred: string[], from: readonly string[]): string[] => [...new Set(preferred.filter((x) => from.includes(x)))];
    const [t0, t1] = pick(['resnet18', 'mobilenet', 'resnet50', ...train], train);
    const [i0, i1] = pick(['mobilenet', 'bert-base', 'yolov8n', ...infer], infer);
    return {
      name,
      parts: [
        {
          keys: [key(t0!, [i0!]), key(t1 ?? t0!, [i1 ?? i0!]), key(t0!, [i0!, i1 ?? i0!])],
          powerFractions: [0.15, 0.4, 0.65, 0.9],
          rateFractions: [0.05, 0.15, 0.4],
          latencyFactors: [2, 5, 15],
          candidateBatchSizes,
        },
      ],
    };
  }
  return {
    name,
    parts: [
      {
        keys: train.flatMap((t) => infer.map((i) => key(t, [i]))),
        powerFractions: round4(linear(0.1, 1, 16)),
        rateFractions: round4(geometric(0.02, 0.6, 16)),
        latencyFactors: round4(geometric(1.5, 40, 16)),
        candidateBatchSizes,
      },
      {
        // Two streams: each served workload beside the one two places on, the next trained one training.
        keys: infer.map((i, n) => key(train[(n + 1) % train.length]!, [i, infer[(n + 2) % infer.length]!])),
        powerFractions: round4(linear(0.1, 1, 4)),
        rateFractions: round4(geometric(0.02, 0.6, 4)),
        latencyFactors: round4(geometric(1.5, 40, 4)),
        candidateBatchSizes,
      },
    ],
  };
}

function isWorkloadList(w: readonly string[] | SweepWorkloads): w is readonly string[] {
  return Array.isArray(w);
}

/** The table key of one sweep key spec on a device, with the sweep part's candidate batch sizes. */
export function sweepKeyOf(device: string, spec: KeySpec, batchSizes: readonly number[]): TableKey {
  return {
    device,
    trainWorkload: spec.train,
    trainBatchSize: spec.trainBatchSize ?? getWorkload(spec.train).defaultTrainBatchSize,
    streams: spec.infer.map((w) => ({ workload: w, candidateBatchSizes: [...batchSizes] })),
  };
}

export function* configurations(def: SweepPart, ranges: KeyRanges): Generator<ConfigNumbers> {
  const K = ranges.capacityPerS.length;
  for (const f of def.powerFractions) {
    const powerBudgetW = ranges.powerLowW + f * (ranges.powerHighW - ranges.powerLowW);
    for (const g of def.rateFractions) {
      const ratesPerS = ranges.capacityPerS.map((c) => (g * c) / K);
      for (const h of def.latencyFactors) {
        yield { powerBudgetW, ratesPerS, latencyBudgetsS: ranges.latencyBaseS.map((l) => h * l) };
      }
    }
  }
}

export function configsPerKey(def: SweepPart): number {
  return def.powerFractions.length * def.rateFractions.length * def.latencyFactors.length;
}
