/**
 * Re-planning when arrivals move: a sliding-window rate per stream, a relative threshold against
 * the rate the running plan was made for, and a minimum interval between requests. The optimizer
 * answers through the `Replanner` interface; `FrontReplanner` answers from a set of already
 * profiled modes (an ALS front) with no new profiling.
 */
import {
  PROBLEM_LIMITS,
  bestBatchSizes,
  compareEvaluations,
  describeBinding,
  type Evaluation,
  type Measurement,
  type PowerMode,
  type Problem,
} from '@fulcrum/core';
import { RateMeter } from './stats.js';
import type { ExecutorPlan, ExecutorProblem, ReplanRequest, Replanner } from './types.js';

export interface RateWatchOptions {
  /** Sliding window of the rate estimate, seconds. Default 10. */
  readonly windowS?: number;
  /** Re-plan when |measured − planned| / planned exceeds this. Default 0.25. */
  readonly replanThreshold?: number;
  /** At least this long between a plan taking effect and the next re-plan request, seconds. Default = windowS. */
  readonly replanMinIntervalS?: number;
  /**
   * Publish `arrivals.rate` when a rate moved by more than this (relative) since last published,
   * and by more than PUBLISH_NOISE_SIGMAS standard deviations of the windowed estimate; at most
   * once per half window. Default 0.05.
   */
  readonly publishThreshold?: number;
  /**
   * Poisson noise guard: a move must also exceed this many standard deviations of the windowed
   * estimate (√(λ/W)), so random bunching at a steady rate does not trigger re-plans. Default 4.
   */
  readonly noiseSigmas?: number;
}

export interface RateCheck {
  /** Rates to publish now (some stream moved beyond the publish threshold). */
  readonly publish?: Record<string, number>;
  /** Measured rates that call for a new plan. */
  readonly replan?: Record<string, number>;
}

/**
 * A published rate must have moved by this many standard deviations of the windowed estimate: a
 * steady Poisson stream's estimate wanders by ±1σ all the time, and each publish is a durable event
 * (the board's stream) the optimizer reads.
 */
export const PUBLISH_NOISE_SIGMAS = 2;

export class RateWatcher {
  private readonly meters = new Map<string, RateMeter>();
  private readonly published = new Map<string, number>();
  private lastPublishS = -Infinity;
  /** Since when a publish-worthy change, and a re-plan-worthy move, have held (undefined: none now). */
  private changeSinceS: number | undefined;
  private moveSinceS: number | undefined;
  readonly windowS: number;
  readonly replanThreshold: number;
  readonly replanMinIntervalS: number;
  readonly publishThreshold: number;
  readonly noiseSigmas: number;
  private readonly startS: number;

  constructor(options: RateWatchOptions, startS: number) {
    this.windowS = options.windowS ?? 10;
    this.replanThreshold = options.replanThreshold ?? 0.25;
    this.replanMinIntervalS = options.replanMinIntervalS ?? this.windowS;
    this.publishThreshold = options.publishThreshold ?? 0.05;
    this.noiseSigmas = options.noiseSigmas ?? 4;
    this.startS = startS;
  }

  /** Forgets the meters and last published rates of streams not in `streams`. */
  retain(streams: ReadonlySet<string>): void {
    for (const name of [...this.meters.keys()]) if (!streams.has(name)) this.meters.delete(name);
    for (const name of [...this.published.keys()]) if (!streams.has(name)) this.published.delete(name);
  }

  private meter(stream: string): RateMeter {
    let m = this.meters.get(stream);
    if (!m) this.meters.set(stream, (m = new RateMeter(this.windowS, this.startS)));
    return m;
  }

  arrival(stream: string, tS: number): void {
    this.meter(stream).record(tS);
  }

  ratePerS(stream: string, nowS: number): number {
    return this.meter(stream).ratePerS(nowS);
  }

  /**
   * `plannedRatesPerS`: λ per stream of the running plan's problem; `planAtS`: when it took effect.
   * Rates are trusted only once a whole window has been observed. A rate past the problem limit
   * (PROBLEM_LIMITS.maxArrivalRatePerS) is published and re-planned for as that limit: the
   * `arrivals.rate` event and the re-planned problem stay within what the bus and the services accept.
   */
  check(nowS: number, plannedRatesPerS: Readonly<Record<string, number>>, planAtS: number): RateCheck {
    if (nowS - this.startS < this.windowS) return {};
    const rates: Record<string, number> = {};
    let publish = false;
    let replan = false;
    for (const [stream, planned] of Object.entries(plannedRatesPerS)) {
      const r = Math.min(this.ratePerS(stream, nowS), PROBLEM_LIMITS.maxArrivalRatePerS);
      rates[stream] = r;
      const last = this.published.get(stream);
      if (last === undefined) publish = true;
      else {
        const change = Math.abs(r - last);
        if (change > this.publishThreshold * Math.max(last, 1e-9) && change > PUBLISH_NOISE_SIGMAS * Math.sqrt(Math.max(r, last) / this.windowS)) publish = true;
      }
      const moved = Math.abs(r - planned);
      const noise = this.noiseSigmas * Math.sqrt(Math.max(r, planned) / this.windowS);
      if (r > 0 && moved > this.replanThreshold * planned && moved > noise) replan = true;
    }
    // A step in the arrivals takes one window to show fully in the windowed estimate: a change is
    // acted on (published, re-planned for) once it has held for a whole window, so the estimate
    // then rests on arrivals after the step only — one publish and one re-plan per step, for the
    // rate reached, not one per point of the ramp. The first rates are published at once.
    const firstPublish = this.published.size === 0;
    this.changeSinceS = publish ? (this.changeSinceS ?? nowS) : undefined;
    this.moveSinceS = replan ? (this.moveSinceS ?? nowS) : undefined;
    if (publish && !firstPublish && (nowS - this.changeSinceS! < this.windowS || nowS - this.lastPublishS < this.windowS / 2)) publish = false;
    if (publish) {
      this.lastPublishS = nowS;
      this.changeSinceS = undefined;
      for (const [s, r] of Object.entries(rates)) this.published.set(s, r);
    }
    const canReplan = replan && nowS - this.moveSinceS! >= this.windowS && nowS - planAtS >= this.replanMinIntervalS;
    return { ...(publish ? { publish: rates } : {}), ...(canReplan ? { replan: rates } : {}) };
  }
}

/** The problem with each stream's λ replaced by a measured rate (streams with no measurement keep theirs). */
export function withRates<P extends ExecutorProblem>(problem: P, ratesPerS: Readonly<Record<string, number>>): P {
  return {
    ...problem,
    streams: problem.streams.map((s) => {
      const r = ratesPerS[s.name];
      return r !== undefined && r > 0 ? { ...s, arrivalRatePerS: r } : s;
    }),
  };
}

/** One profiled power mode: tT, pT and tI, pI per (stream, batch size) — a point of an ALS front or a profile table. */
export interface ProfiledMode {
  readonly mode: PowerMode;
  readonly training: Measurement;
  /** Undefined where this batch size was not profiled. */
  inference(streamIndex: number, batchSize: number): Measurement | undefined;
}

export interface FrontPlan {
  readonly plan: ExecutorPlan;
  readonly evaluation: Evaluation;
  /** One line: feasible or not, and the binding constraint. */
  readonly verdict: string;
}

let planCounter = 0;

/** The best (mode, batch sizes) among profiled modes for a problem, by SPEC §2; the closest plan when none is feasible. */
export function planFromFront(problem: Problem, front: readonly ProfiledMode[], strategy = 'front'): FrontPlan {
  let best: { mode: PowerMode; choice: NonNullable<ReturnType<typeof bestBatchSizes>> } | undefined;
  for (const m of front) {
    const choice = bestBatchSizes(problem, m.training, (i, b) => m.inference(i, b));
    if (choice && (!best || compareEvaluations(choice.evaluation, best.choice.evaluation) < 0)) best = { mode: m.mode, choice };
  }
  if (!best) throw new Error('planFromFront: no profiled mode has measurements for every stream');
  const { mode, choice } = best;
  const batchSizes: Record<string, number> = {};
  const inferTimeS: Record<string, number> = {};
  problem.streams.forEach((s, i) => {
    batchSizes[s.name] = choice.batchSizes[i]!;
    inferTimeS[s.name] = choice.point.streams[i]!.inference.timeS;
  });
  const verdict = `${choice.evaluation.feasible ? 'feasible' : 'infeasible'}: ${describeBinding(choice.evaluation)}`;
  return {
    plan: {
      planId: `${strategy}-${++planCounter}`,
      mode,
      batchSizes,
      trainTimeS: choice.point.training.timeS,
      inferTimeS,
      predictedTrainThroughputSamplesPerS: choice.evaluation.trainThroughputSamplesPerS,
      strategy,
    },
    evaluation: choice.evaluation,
    verdict,
  };
}

/**
 * Answers re-plan requests from a fixed set of profiled modes (e.g. an ALS front): a new arrival
 * rate is planned with no new profiling, by evaluating SPEC §2 on the modes already measured.
 */
export class FrontReplanner implements Replanner {
  readonly plans: FrontPlan[] = [];
  constructor(
    private readonly problem: Problem,
    private readonly front: readonly ProfiledMode[],
    private readonly strategy = 'front',
  ) {}

  replan(request: ReplanRequest): ExecutorPlan {
    const answer = planFromFront(withRates(this.problem, request.measuredRatesPerS), this.front, this.strategy);
    this.plans.push(answer);
    return answer.plan;
  }
}
