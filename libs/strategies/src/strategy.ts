/**
 * One interface for every strategy (SPEC §5): a problem and a profiler in, a plan and its cost out.
 *
 * A strategy is written as a generator that yields the modes it wants profiled and reads their
 * measurements once the driver resumes it, so the same code runs against a synchronous in-memory
 * backend (the benchmark, millions of runs) and an asynchronous one (a profiler service).
 *
 * It has two stages. `prepare` does the profiling that depends only on the profile key (device,
 * workloads, batch sizes) — ALS's Pareto front, random-k's sample, the PowerTrain predictor — and
 * returns a `PreparedStrategy` whose `answer` handles one problem of that key (its power budget,
 * latency budgets and rates). Answers may profile more (GMD, Bayesian optimisation) or nothing
 * (ALS, random-k): a new budget or rate is then answered with zero new profiling.
 *
 * Cost: every answer is charged the modes profiled in `prepare` plus its own, as if it had run
 * alone on an empty store, even though the store shares measurements between answers.
 *
 * Re-measurement (issue 16): a strategy may yield `new Remeasure(modes)` to measure already
 * profiled modes again, one fresh window each, when a margin decides between plans; the windows
 * are combined (`MeasurementTable.combine`), so the mode's standard errors and margins shrink. Each
 * repeat is charged its profiling seconds and counted as a profile, apart from new modes.
 */
import {
  describeBinding,
  evaluate,
  type Evaluation,
  type OperatingPoint,
  type PowerMode,
  type PowerPreset,
  type Problem,
} from '@fulcrum/core';
import { probit } from 'simple-statistics';
import { ModeScore, Objective, type SafetyMargins } from './objective.js';
import { BackendCaches, type ProfileBackend, type ProfileCache } from './profiler.js';
import type { ModeSpace } from './space.js';
import { tableKeyOf, tableKeyText, type MeasurementTable, type TableKey } from './table.js';
import { seedFrom } from './rng.js';

/** Measure these already profiled modes once more (a fresh window each); see the module comment. */
export class Remeasure {
  constructor(readonly modes: readonly number[]) {}
}

/** Mode indices to profile, or modes to re-measure; the driver resumes the generator once they are measured. */
export type ProfileRequest = readonly number[] | Remeasure;
export type Profiling<T> = Generator<ProfileRequest, T, void>;

export interface StrategyContext {
  readonly space: ModeSpace;
  readonly key: TableKey;
  /** Measurements taken so far. Read only modes this strategy has requested (and been resumed after). */
  readonly measured: MeasurementTable;
  /** Noise-free ground truth; only the oracle reads it. */
  readonly truth: MeasurementTable | undefined;
  readonly presets: readonly PowerPreset[];
  /** Seed for this strategy on this key: the same key gets the same random choices. */
  readonly seed: number;
  readonly margins: SafetyMargins;
  /** The backend's relative measurement noise (σ), for noise-aware estimates; 0 or absent: exact. */
  readonly noiseFraction?: number;
  /** The backend measures a profiled mode again when asked (`Remeasure`); absent or false: it does not. */
  readonly canRemeasure?: boolean;
}

export interface PreparedStrategy {
  /** Answers one problem of the prepared key; yields any further modes it needs profiled. */
  answer(objective: Objective): Profiling<ModeScore | undefined>;
  /**
   * The table the answers were chosen on, when it is not the measurements: the oracle's ground
   * truth, the PowerTrain predictor's predictions. Plans are rendered from it.
   */
  readonly choiceTable?: MeasurementTable;
}

export interface Strategy {
  /** Registry name, e.g. `gmd`, `als-100`, `random-15`. */
  readonly name: string;
  readonly description: string;
  /** Needs the backend's ground truth (the oracle). */
  readonly needsGroundTruth?: boolean;
  prepare(ctx: StrategyContext): Profiling<PreparedStrategy>;
}

/** What a plan cost to find. */
export interface PlanCost {
  /** Distinct modes profiled (as if this problem had run alone). */
  readonly modesProfiled: number;
  /**
   * Of those, the modes the strategy's preparation profiled for the key (ALS's front, random-k's
   * sample), which every problem of the key shares; the rest this problem's answer asked for.
   */
  readonly keyModes: number;
  /** Further windows of already profiled modes (re-measures); each is a profile too. */
  readonly remeasures: number;
  /** Profiling seconds of those modes and re-measures (switch + settle + minibatches each). */
  readonly profilingSeconds: number;
  /** Wall time of the strategy's own computation, profiling excluded where it could be told apart. */
  readonly optimizerMs: number;
}

/** A strategy's answer, rendered with core's SPEC §2 model from the measurements it chose on. */
export interface Plan {
  readonly strategy: string;
  readonly modeIndex: number;
  readonly mode: PowerMode;
  /** One per stream, in the problem's order. */
  readonly batchSizes: readonly number[];
  /** Feasible on the measurements (no margin): the plan's promise. */
  readonly feasible: boolean;
  /** Feasible even with the safety margins applied (the strategy's own criterion). */
  readonly withinSafetyMargins: boolean;
  /** The predicted figures: X, latency bounds, power, the binding constraint. */
  readonly predicted: Evaluation;
  /** e.g. `feasible: tightest constraint is peak power 29.1 W ≤ 30 W budget`. */
  readonly verdict: string;
  readonly cost: PlanCost;
  /** The modes profiled for this plan, in the order they were requested. */
  readonly profiledModes: readonly number[];
}

/** The default probability that a plan held to its margins meets a constraint on the truth (one-sided). */
export const DEFAULT_TARGET_PROBABILITY = 0.975;

/** z for a one-sided target probability in (0.5, 1): 1.96 at 0.975. RangeError outside. */
export function zFor(targetProbability: number): number {
  if (!(targetProbability > 0.5 && targetProbability < 1)) throw new RangeError(`target probability must be in (0.5, 1), got ${targetProbability}`);
  return probit(targetProbability);
}

/**
 * Safety margins for a backend (SPEC §4): z·SE of each mode's measurements, z from the target
 * probability (default one-sided 97.5 %: z = 1.96), with the backend's systematic part added in
 * quadrature; for modes without standard errors (predictions, tables without SE columns) z times
 * the backend's noise level.
 */
export function marginsFor(noiseFraction: number, options: { readonly targetProbability?: number | undefined; readonly systematicFraction?: number | undefined } = {}): SafetyMargins {
  const z = zFor(options.targetProbability ?? DEFAULT_TARGET_PROBABILITY);
  return { timeFraction: z * noiseFraction, powerFraction: z * noiseFraction, z, systematicFraction: options.systematicFraction ?? 0 };
}

/** The set of modes charged to one answer: the prepared ones plus the answer's own, and its re-measures. */
export class ChargeSheet {
  readonly modes: number[] = [];
  private readonly seen = new Set<number>();
  seconds = 0;
  remeasures = 0;
  private remeasureSeconds = 0;
  constructor(private readonly table: MeasurementTable) {}
  has(index: number): boolean {
    return this.seen.has(index);
  }
  add(indices: readonly number[]): void {
    for (const i of indices) {
      if (this.seen.has(i)) continue;
      this.seen.add(i);
      this.modes.push(i);
      this.seconds += this.table.costS[i]!;
    }
  }
  /** One re-measured window of each mode (a profile each, at what its window cost: `cache.remeasureCostS`). */
  addRemeasures(indices: readonly number[], cache: ProfileCache): void {
    for (const i of indices) {
      const s = cache.remeasureCostS(i);
      this.remeasures++;
      this.remeasureSeconds += s;
      this.seconds += s;
    }
  }
  extend(other: ChargeSheet): void {
    this.add(other.modes);
    this.remeasures += other.remeasures;
    this.remeasureSeconds += other.remeasureSeconds;
    this.seconds += other.remeasureSeconds;
  }
}

/** Charges one request: modes new to this answer as profiled, windows measured again as re-measures. */
function charged(request: ProfileRequest, charge: ChargeSheet, remeasured: readonly number[], cache: ProfileCache): void {
  if (request instanceof Remeasure) {
    charge.add(request.modes);
    charge.addRemeasures(remeasured, cache);
  } else charge.add(request);
}

/** Runs a profiling generator against a synchronous cache, charging what it requests. */
export function driveSync<T>(gen: Profiling<T>, cache: ProfileCache, charge: ChargeSheet): T {
  for (;;) {
    const step = gen.next();
    if (step.done) return step.value;
    const request = step.value;
    if (request instanceof Remeasure) charged(request, charge, cache.remeasureSync(request.modes), cache);
    else {
      cache.ensureSync(request);
      charged(request, charge, [], cache);
    }
  }
}

export async function drive<T>(gen: Profiling<T>, cache: ProfileCache, charge: ChargeSheet): Promise<T> {
  for (;;) {
    const step = gen.next();
    if (step.done) return step.value;
    const request = step.value;
    if (request instanceof Remeasure) charged(request, charge, await cache.remeasure(request.modes), cache);
    else {
      await cache.ensure(request);
      charged(request, charge, [], cache);
    }
  }
}

export interface PlannerOptions {
  /** Safety margins; default from the backend's noise level and the target probability (`marginsFor`). */
  readonly margins?: SafetyMargins;
  /** One-sided probability a plan's constraints hold on the truth, for the default margins (default 0.975). */
  readonly targetProbability?: number;
  /** Base seed for the strategies' random choices. */
  readonly seed?: number;
}

export interface PreparedHandle {
  readonly strategy: Strategy;
  readonly key: TableKey;
  readonly prepared: PreparedStrategy;
  /** Modes profiled while preparing, charged to every answer. */
  readonly charge: ChargeSheet;
  readonly prepareMs: number;
}

/**
 * Strategies over one backend with a shared profile store: prepared strategies are kept per
 * (strategy, key), so a new budget or rate reuses ALS's front or random-k's sample at no profiling.
 */
export class Planner {
  readonly store: BackendCaches;
  readonly margins: SafetyMargins;
  private readonly seed: number;
  private readonly prepared = new Map<string, PreparedHandle>();

  constructor(
    readonly backend: ProfileBackend,
    options: PlannerOptions = {},
  ) {
    this.store = new BackendCaches(backend);
    this.margins = options.margins ?? marginsFor(backend.noiseFraction, { targetProbability: options.targetProbability, systematicFraction: backend.systematicFraction });
    this.seed = options.seed ?? 1;
  }

  context(strategy: Strategy, key: TableKey): StrategyContext {
    const truth = strategy.needsGroundTruth ? this.store.truth(key) : undefined;
    if (strategy.needsGroundTruth && !truth) {
      throw new Error(`strategy ${strategy.name} needs ground truth, which backend ${this.backend.deviceId} does not have`);
    }
    return {
      space: this.backend.space,
      key,
      measured: this.store.cache(key).table,
      truth,
      presets: this.backend.presets,
      seed: seedFrom(`${strategy.name}|${tableKeyText(key)}`, this.seed),
      margins: this.margins,
      noiseFraction: this.backend.noiseFraction,
      canRemeasure: this.backend.remeasures === true,
    };
  }

  private handleKey(strategy: Strategy, key: TableKey): string {
    return `${strategy.name}#${tableKeyText(key)}`;
  }

  /** Prepares (or reuses) a strategy for a key; synchronous backends only. */
  prepareSync(strategy: Strategy, key: TableKey): PreparedHandle {
    const id = this.handleKey(strategy, key);
    let h = this.prepared.get(id);
    if (!h) {
      const cache = this.store.cache(key);
      const charge = new ChargeSheet(cache.table);
      const t0 = performance.now();
      const prepared = driveSync(strategy.prepare(this.context(strategy, key)), cache, charge);
      h = { strategy, key, prepared, charge, prepareMs: performance.now() - t0 };
      this.prepared.set(id, h);
    }
    return h;
  }

  async prepare(strategy: Strategy, key: TableKey): Promise<PreparedHandle> {
    const id = this.handleKey(strategy, key);
    let h = this.prepared.get(id);
    if (!h) {
      const cache = this.store.cache(key);
      const charge = new ChargeSheet(cache.table);
      const t0 = performance.now();
      const prepared = await drive(strategy.prepare(this.context(strategy, key)), cache, charge);
      h = { strategy, key, prepared, charge, prepareMs: performance.now() - t0 };
      this.prepared.set(id, h);
    }
    return h;
  }

  /** Solves one problem (async backends welcome). */
  async solve(strategy: Strategy, problem: Problem): Promise<Plan> {
    this.checkDevice(problem);
    const key = tableKeyOf(problem);
    const handle = await this.prepare(strategy, key);
    const cache = this.store.cache(key);
    const charge = new ChargeSheet(cache.table);
    charge.extend(handle.charge);
    const t0 = performance.now();
    const choice = await drive(handle.prepared.answer(new Objective(problem)), cache, charge);
    return this.render(strategy, problem, cache.table, handle.prepared.choiceTable, choice, charge, handle.charge.modes.length, handle.prepareMs + performance.now() - t0);
  }

  /** Solves one problem against a synchronous backend. */
  solveSync(strategy: Strategy, problem: Problem): Plan {
    this.checkDevice(problem);
    const key = tableKeyOf(problem);
    const handle = this.prepareSync(strategy, key);
    const cache = this.store.cache(key);
    const charge = new ChargeSheet(cache.table);
    charge.extend(handle.charge);
    const t0 = performance.now();
    const choice = driveSync(handle.prepared.answer(new Objective(problem)), cache, charge);
    return this.render(strategy, problem, cache.table, handle.prepared.choiceTable, choice, charge, handle.charge.modes.length, handle.prepareMs + performance.now() - t0);
  }

  private checkDevice(problem: Problem): void {
    if (problem.device !== this.backend.deviceId) {
      throw new Error(`problem is for device ${problem.device}, the backend is ${this.backend.deviceId}`);
    }
  }

  private render(
    strategy: Strategy,
    problem: Problem,
    table: MeasurementTable,
    choiceTable: MeasurementTable | undefined,
    choice: ModeScore | undefined,
    charge: ChargeSheet,
    keyModes: number,
    optimizerMs: number,
  ): Plan {
    if (!choice || !choice.measurable) {
      throw new Error(`strategy ${strategy.name} found no measurable mode for this problem (no stream batch size has measurements)`);
    }
    const plan = renderPlan(problem, choiceTable ?? table, choice);
    return {
      strategy: strategy.name,
      ...plan,
      cost: { modesProfiled: charge.modes.length, keyModes, remeasures: charge.remeasures, profilingSeconds: charge.seconds, optimizerMs },
      profiledModes: [...charge.modes],
      mode: this.backend.space.mode(choice.modeIndex),
    };
  }
}

/** A chosen (mode, batch indices) as core's operating point and evaluation. */
export function renderPlan(
  problem: Problem,
  table: MeasurementTable,
  choice: ModeScore,
): Pick<Plan, 'modeIndex' | 'batchSizes' | 'feasible' | 'withinSafetyMargins' | 'predicted' | 'verdict'> {
  const m = choice.modeIndex;
  const batchSizes = problem.streams.map((s, i) => s.candidateBatchSizes[choice.batchIndex[i]!]!);
  const point: OperatingPoint = {
    trainBatchSize: problem.trainBatchSize,
    training: { timeS: table.trainTimeS[m]!, powerW: table.trainPowerW[m]! },
    streams: problem.streams.map((s, i) => ({
      name: s.name,
      arrivalRatePerS: s.arrivalRatePerS,
      latencyBudgetS: s.latencyBudgetS,
      batchSize: batchSizes[i]!,
      inference: { timeS: table.inferTimeS[i]![choice.batchIndex[i]!]![m]!, powerW: table.inferPowerW[i]![choice.batchIndex[i]!]![m]! },
    })),
  };
  const predicted = evaluate(point, problem);
  return {
    modeIndex: m,
    batchSizes,
    feasible: predicted.feasible,
    withinSafetyMargins: choice.feasible,
    predicted,
    verdict: `${predicted.feasible ? 'feasible' : 'infeasible'}: ${predicted.feasible ? 'tightest' : 'binding'} constraint is ${describeBinding(predicted)}`,
  };
}
