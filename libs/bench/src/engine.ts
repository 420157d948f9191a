/**
 * The benchmark's inner loop: every configuration of one key, every strategy, scored on the
 * noise-free ground truth against the oracle.
 *
 * Profiling is shared: one profile store per key, so a mode is measured once however many
 * strategies and configurations ask for it (SPEC §4), and strategies whose profiling depends only on
 * the key (ALS, random-k, PowerTrain, the presets) prepare once and answer every configuration.
 * The cost charged to each configuration is what it would have cost alone: the modes the prepared
 * strategy profiled plus the distinct modes its answer asked for, with their profiling seconds.
 */
import { NO_MARGINS, Planner, Remeasure, oracle, type ProfileBackend, type SafetyMargins, type Strategy } from '@fulcrum/strategies';
import {
  CandidateFront,
  ModeScore,
  Objective,
  keyRanges,
  problemOf,
  scoreAssignment,
  type KeyRanges,
} from '@fulcrum/strategies/internal';
import { configsPerKey, configurations, sweepKeyOf, type KeySpec, type SweepPart } from './sweep.js';

/** Per strategy, one entry per configuration of the key. */
export interface StrategyColumns {
  /** The plan is feasible on the ground truth. */
  readonly feasible: Uint8Array;
  /** The strategy judged its plan feasible (with its safety margins). */
  readonly claimedFeasible: Uint8Array;
  /** X / X* on the ground truth (0 when the plan is infeasible or the oracle has no plan). */
  readonly ratio: Float64Array;
  /** New modes profiled. */
  readonly modes: Float64Array;
  /** Re-measured windows of already profiled modes (each a profile, counted apart from new modes). */
  readonly remeasures: Float64Array;
  /** Profiling seconds of both. */
  readonly seconds: Float64Array;
  readonly optimizerMs: Float64Array;
}

export interface KeyResult {
  readonly spec: KeySpec;
  readonly count: number;
  readonly ranges: KeyRanges;
  readonly powerBudgetW: Float64Array;
  /** count × K, row-major. */
  readonly ratesPerS: Float64Array;
  readonly latencyBudgetsS: Float64Array;
  readonly oracleFeasible: Uint8Array;
  /** X* in samples/s (0 where the oracle finds no feasible plan). */
  readonly oracleThroughput: Float64Array;
  readonly strategies: StrategyColumns[];
  /** Wall time of each strategy's key-level preparation (ms), spread over the key's configurations in reports. */
  readonly prepareMs: Float64Array;
}

export function runKey(
  backend: ProfileBackend,
  strategies: readonly Strategy[],
  part: SweepPart,
  spec: KeySpec,
  options: { margins?: SafetyMargins; targetProbability?: number; seed?: number; onConfigs?: (n: number) => void } = {},
): KeyResult {
  const key = sweepKeyOf(backend.deviceId, spec, part.candidateBatchSizes);
  const planner = new Planner(backend, { ...(options.margins ? { margins: options.margins } : {}), ...(options.targetProbability !== undefined ? { targetProbability: options.targetProbability } : {}), ...(options.seed !== undefined ? { seed: options.seed } : {}) });
  const truth = planner.store.truth(key);
  if (!truth) throw new Error(`backend ${backend.deviceId} has no ground truth to score against`);
  const modes = Int32Array.from(backend.space.indices).filter((m) => truth.has(m));
  if (modes.length === 0) throw new Error(`no mode has ground truth for ${spec.train} + ${spec.infer.join(', ')}`);
  const ranges = keyRanges(truth, modes, key);
  const oracleFront = new CandidateFront(truth, modes);
  const count = configsPerKey(part);
  const K = spec.infer.length;

  const prepareMs = new Float64Array(strategies.length);
  const handles = strategies.map((s, i) => {
    const t0 = performance.now();
    const h = planner.prepareSync(s, key);
    prepareMs[i] = performance.now() - t0;
    return h;
  });
  const cache = planner.store.cache(key);
  const costS = cache.table.costS;
  const baseMasks = handles.map((h) => {
    const mask = new Uint8Array(backend.space.size);
    for (const m of h.charge.modes) mask[m] = 1;
    return mask;
  });
  const stamp = new Int32Array(backend.space.size);
  let epoch = 0;
  // Each answer's re-measures are undone after it: the next configuration pays for its own.
  cache.checkpoint();

  const columns = (): StrategyColumns => ({
    feasible: new Uint8Array(count),
    claimedFeasible: new Uint8Array(count),
    ratio: new Float64Array(count),
    modes: new Float64Array(count),
    remeasures: new Float64Array(count),
    seconds: new Float64Array(count),
    optimizerMs: new Float64Array(count),
  });
  const result: KeyResult = {
    spec,
    count,
    ranges,
    powerBudgetW: new Float64Array(count),
    ratesPerS: new Float64Array(count * K),
    latencyBudgetsS: new Float64Array(count * K),
    oracleFeasible: new Uint8Array(count),
    oracleThroughput: new Float64Array(count),
    strategies: strategies.map(columns),
    prepareMs,
  };

  const score = new ModeScore(K);
  /** The oracle among the strategies (its answer is X*'s plan), or -1. */
  const oracleSlot = strategies.indexOf(oracle);
  let c = 0;
  for (const numbers of configurations(part, ranges)) {
    const problem = problemOf(key, numbers);
    const obj = new Objective(problem);
    result.powerBudgetW[c] = numbers.powerBudgetW;
    for (let s = 0; s < K; s++) {
      result.ratesPerS[c * K + s] = numbers.ratesPerS[s]!;
      result.latencyBudgetsS[c * K + s] = numbers.latencyBudgetsS[s]!;
    }
    const tOracle = performance.now();
    const best = oracleFront.bestFor(obj, NO_MARGINS, true);
    const oracleMs = performance.now() - tOracle;
    const xStar = best && best.feasible ? best.throughput : 0;
    result.oracleFeasible[c] = best && best.feasible ? 1 : 0;
    result.oracleThroughput[c] = xStar;

    for (let i = 0; i < strategies.length; i++) {
      const h = handles[i]!;
      const base = baseMasks[i]!;
      if (i === oracleSlot && best && best.feasible) {
        // The oracle strategy's answer is X*'s plan, just computed: not searched for twice. (Where
        // X* has no plan, the strategy runs, for the closest plan the report shows.)
        const col = result.strategies[i]!;
        col.modes[c] = h.charge.modes.length;
        col.remeasures[c] = h.charge.remeasures;
        col.seconds[c] = h.charge.seconds;
        col.optimizerMs[c] = oracleMs;
        col.claimedFeasible[c] = 1;
        col.feasible[c] = 1;
        col.ratio[c] = 1;
        continue;
      }
      epoch++;
      let extra = 0;
      let extraS = 0;
      let again = 0;
      const t0 = performance.now();
      const gen = h.prepared.answer(obj);
      let step = gen.next();
      while (!step.done) {
        const request = step.value;
        let modes: readonly number[];
        if (request instanceof Remeasure) {
          const measured = cache.remeasureSync(request.modes);
          again += measured.length;
          for (const m of measured) extraS += cache.remeasureCostS(m);
          modes = request.modes;
        } else {
          cache.ensureSync(request);
          modes = request;
        }
        for (const m of modes) {
          if (base[m] === 1 || stamp[m] === epoch) continue;
          stamp[m] = epoch;
          extra++;
          extraS += costS[m]!;
        }
        step = gen.next();
      }
      const ms = performance.now() - t0;
      const choice = step.value;
      const col = result.strategies[i]!;
      col.modes[c] = h.charge.modes.length + extra;
      col.remeasures[c] = h.charge.remeasures + again;
      col.seconds[c] = h.charge.seconds + extraS;
      col.optimizerMs[c] = ms;
      if (choice && choice.measurable) {
        col.claimedFeasible[c] = choice.feasible ? 1 : 0;
        scoreAssignment(truth, choice.modeIndex, choice.batchIndex, obj, NO_MARGINS, score);
        if (score.feasible) {
          col.feasible[c] = 1;
          col.ratio[c] = xStar > 0 ? score.throughput / xStar : 0;
        }
      }
      cache.restore();
    }
    c++;
    if (options.onConfigs && (c & 255) === 0) options.onConfigs(256);
  }
  if (options.onConfigs) options.onConfigs(c & 255);
  planner.store.forget(key);
  return result;
}
