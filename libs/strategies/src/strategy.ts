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
import { ModeScore, Objective, type SafetyMargins } from './objective.js';
import { BackendCaches, type ProfileBackend, type ProfileCache } from './profiler.js';
import type { ModeSpace } from './space.js';
import { tableKeyOf, tableKeyText, type MeasurementTable, type TableKey } from './table.js';
import { seedFrom } from './rng.js';

/** Mode indices to profile; the driver resumes the generator once they are measured. */
export type ProfileRequest = readonly number[];
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
  /** Profiling seconds of those modes (switch + settle + minibatches). */
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

/** Default safety margins for a backend's noise level: about two standard deviations. */
export function marginsFor(noiseFraction: number): SafetyMargins {
  return { timeFraction: 2 * noiseFraction, powerFraction: 2 * noiseFraction };
}

/** The set of modes charged to one answer: the prepared ones plus the answer's own. */
export class ChargeSheet {
  readonly modes: number[] = [];
  private readonly seen = new Set<number>();
  seconds = 0;
  constructor(private readonly table: MeasurementTable) {}
  add(indices: readonly number[]): void {
    for (const i of indices) {
      if (this.seen.has(i)) continue;
      this.seen.add(i);
      this.modes.push(i);
      this.seconds += this.table.costS[i]!;
    }
  }
  extend(other: ChargeSheet): void {
    this.add(other.modes);
  }
}

/** Runs a profiling generator against a synchronous cache, charging what it requests. */
export function driveSync<T>(gen: Profiling<T>, cache: ProfileCache, charge: ChargeSheet): T {
  for (;;) {
    const step = gen.next();
    if (step.done) return step.value;
    cache.ensureSync(step.value);
    charge.add(step.value);
  }
}

export async function drive<T>(gen: Profiling<T>, cache: ProfileCache, charge: ChargeSheet): Promise<T> {
  for (;;) {
    const step = gen.next();
    if (step.done) return step.value;
    await cache.ensure(step.value);
    charge.add(step.value);
  }
}

export interface PlannerOptions {
  /** Safety margins; default from the backend's noise level (`marginsFor`). */
  readonly margins?: SafetyMargins;
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
    this.margins = options.margins ?? marginsFor(backend.noiseFraction);
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
    return this.render(strategy, problem, cache.table, handle.prepared.choiceTable, choice, charge, handle.prepareMs + performance.now() - t0);
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
    return this.render(strategy, problem, cache.table, handle.prepared.choiceTable, choice, charge, handle.prepareMs + performance.now() - t0);
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
    optimizerMs: number,
  ): Plan {
    if (!choice || !choice.measurable) {
      throw new Error(`strategy ${strategy.name} found no measurable mode for this problem (no stream batch size has measurements)`);
    }
    const plan = renderPlan(problem, choiceTable ?? table, choice);
    return {
      strategy: strategy.name,
      ...plan,
      cost: { modesProfiled: charge.modes.length, profilingSeconds: charge.seconds, optimizerMs },
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
