/**
 * The absolute ranges of a key's problems, read off a table of its modes (ground truth, or a
 * model's predictions), and the SPEC §2 problem for given budgets and rates. The bench derives its
 * sweep from them (libs/bench/src/sweep.ts documents the rule); ALS spreads its model picks with them.
 *
 * * power: pLow, the least peak power any mode draws (training, or any stream's inference at its
 *   smallest candidate batch); pHigh, the most (training or any inference at any candidate batch);
 * * capacity of each stream: max over candidate batch sizes b of b / min over modes of tI(b);
 * * latency base of each stream: min over modes of tT + tI(1).
 */
import type { Problem } from '@fulcrum/core';
import type { MeasurementTable, TableKey } from './table.js';

/** The absolute ranges of one key, from its ground truth (see the module comment). */
export interface KeyRanges {
  readonly powerLowW: number;
  readonly powerHighW: number;
  /** Per stream: requests/s with the GPU to itself. */
  readonly capacityPerS: readonly number[];
  /** Per stream: the best batch-1 worst-case latency. */
  readonly latencyBaseS: readonly number[];
}

export function keyRanges(truth: MeasurementTable, modes: ArrayLike<number>, key: TableKey): KeyRanges {
  let powerLowW = Infinity;
  let powerHighW = 0;
  const K = key.streams.length;
  const minTI = key.streams.map((s) => s.candidateBatchSizes.map(() => Infinity));
  const latencyBaseS = key.streams.map(() => Infinity);
  for (let j = 0; j < modes.length; j++) {
    const m = modes[j]!;
    const tT = truth.trainTimeS[m]!;
    if (!(tT > 0)) continue;
    let low = truth.trainPowerW[m]!;
    let high = low;
    for (let s = 0; s < K; s++) {
      const p0 = truth.inferPowerW[s]![0]![m]!;
      if (p0 > low) low = p0;
      const sizes = key.streams[s]!.candidateBatchSizes;
      for (let b = 0; b < sizes.length; b++) {
        const t = truth.inferTimeS[s]![b]![m]!;
        if (!(t > 0)) continue;
        if (truth.inferPowerW[s]![b]![m]! > high) high = truth.inferPowerW[s]![b]![m]!;
        if (t < minTI[s]![b]!) minTI[s]![b] = t;
      }
      const t1 = truth.inferTimeS[s]![0]![m]!;
      if (t1 > 0 && tT + t1 < latencyBaseS[s]!) latencyBaseS[s] = tT + t1;
    }
    if (low < powerLowW) powerLowW = low;
    if (high > powerHighW) powerHighW = high;
  }
  const capacityPerS = key.streams.map((s, i) => Math.max(...s.candidateBatchSizes.map((b, bi) => b / minTI[i]![bi]!)));
  return { powerLowW, powerHighW, capacityPerS, latencyBaseS };
}

/** One configuration's varying numbers. */
export interface ConfigNumbers {
  readonly powerBudgetW: number;
  readonly ratesPerS: readonly number[];
  readonly latencyBudgetsS: readonly number[];
}

/** The SPEC §2 problem for one configuration of a key (already valid: no validation pass needed). */
export function problemOf(key: TableKey, c: ConfigNumbers): Problem {
  return {
    device: key.device,
    trainWorkload: key.trainWorkload,
    trainBatchSize: key.trainBatchSize,
    powerBudgetW: c.powerBudgetW,
    powerSemantics: 'peak',
    streams: key.streams.map((s, i) => ({
      name: `s${i}`,
      workload: s.workload,
      arrivalRatePerS: c.ratesPerS[i]!,
      latencyBudgetS: c.latencyBudgetsS[i]!,
      candidateBatchSizes: s.candidateBatchSizes,
    })),
  };
}
