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
import { getWorkload, DEFAULT_CANDIDATE_BATCH_SIZES } from '@fulcrum/core';
import type { TableKey } from '@fulcrum/strategies';
import type { ConfigNumbers, KeyRanges } from '@fulcrum/strategies/internal';

export const SWEEP_NAMES = ['quick', 'paper'] as const;
export type SweepName = (typeof SWEEP_NAMES)[number];

export interface KeySpec {
  readonly train: string;
  /** One inference workload per stream. */
  readonly infer: readonly string[];
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

/** Every ordered (training, inference) pair of the given workloads, single stream. */
function pairs(train: readonly string[], infer: readonly string[]): KeySpec[] {
  return train.flatMap((t) => infer.map((i) => ({ train: t, infer: [i] })));
}

/**
 * `paper`: 8 training × 8 inference workloads (16 workload variants) × 16 power budgets × 16 rates ×
 * 16 latency budgets = 262,144 single-stream configurations, plus 8 two-stream keys × 4³ = 512.
 * `quick`: 3 keys (one with two streams) × 4 × 3 × 3 = 108 configurations, for CI.
 */
export function sweepDefinition(name: SweepName, workloads: readonly string[]): SweepDefinition {
  const pick = (preferred: string[]): string[] => [...new Set(preferred.filter((w) => workloads.includes(w)))];
  if (name === 'quick') {
    const [t0, t1] = pick(['resnet18', 'mobilenet', 'resnet50', ...workloads]);
    const [i0, i1] = pick(['mobilenet', 'bert-base', 'yolov8n', ...workloads]);
    return {
      name,
      parts: [
        {
          keys: [
            { train: t0!, infer: [i0!] },
            { train: t1 ?? t0!, infer: [i1 ?? i0!] },
            { train: t0!, infer: [i0!, i1 ?? i0!] },
          ],
          powerFractions: [0.15, 0.4, 0.65, 0.9],
          rateFractions: [0.05, 0.15, 0.4],
          latencyFactors: [2, 5, 15],
          candidateBatchSizes: DEFAULT_CANDIDATE_BATCH_SIZES,
        },
      ],
    };
  }
  return {
    name,
    parts: [
      {
        keys: pairs(workloads, workloads),
        powerFractions: round4(linear(0.1, 1, 16)),
        rateFractions: round4(geometric(0.02, 0.6, 16)),
        latencyFactors: round4(geometric(1.5, 40, 16)),
        candidateBatchSizes: DEFAULT_CANDIDATE_BATCH_SIZES,
      },
      {
        // Two streams: each workload served beside the one two places on, the next one training.
        keys: workloads.map((w, i) => ({ train: workloads[(i + 1) % workloads.length]!, infer: [w, workloads[(i + 2) % workloads.length]!] })),
        powerFractions: round4(linear(0.1, 1, 4)),
        rateFractions: round4(geometric(0.02, 0.6, 4)),
        latencyFactors: round4(geometric(1.5, 40, 4)),
        candidateBatchSizes: DEFAULT_CANDIDATE_BATCH_SIZES,
      },
    ],
  };
}

/** The table key of one sweep key spec on a device, with the sweep part's candidate batch sizes. */
export function sweepKeyOf(device: string, spec: KeySpec, batchSizes: readonly number[]): TableKey {
  return {
    device,
    trainWorkload: spec.train,
    trainBatchSize: getWorkload(spec.train).defaultTrainBatchSize,
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
