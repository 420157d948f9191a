/**
 * Event-driven simulation in virtual time: the executor's policy (the same `InterleavingScheduler`
 * the real executor runs), a virtual device's minibatch times, and a sequence of arrivals. Nothing
 * sleeps, so hours of arrivals take seconds. Used to check SPEC §2's formulas, to study Poisson
 * load and rate changes, and by `fulcrum simulate`.
 */
import type { Arrival } from './arrivals.js';
import { DEFAULT_MAX_QUEUE_DEPTH, requireMaxQueueDepth } from './executor.js';
import { Ewma, LatencyRecorder, Timeline, type TimelinePoint } from './stats.js';
import { InterleavingScheduler, type QueuedRequest, type TimeEstimates } from './policy.js';
import { RateWatcher, withRates, type RateWatchOptions } from './replan.js';
import type { MinibatchTimeSource } from './runners/simulated.js';
import type { ExecutorEventSink, ExecutorPlan, ExecutorProblem, LatencySummary, Replanner } from './types.js';

export interface SimulationOptions {
  readonly problem: ExecutorProblem;
  readonly plan: ExecutorPlan;
  readonly times: MinibatchTimeSource;
  /** Time-ordered; arrivals at or after `durationS` are ignored. */
  readonly arrivals: Iterable<Arrival>;
  /** Arrivals stop here; queued requests are then served (drained) so every one is answered. */
  readonly durationS: number;
  /** Training throughput is measured over [warmupS, durationS]. Default 0. */
  readonly warmupS?: number;
  readonly training?: boolean;
  /** SPEC §2's deadline rule (default on; off only to compare). */
  readonly deadlineRule?: boolean;
  /**
   * Deadline-rule estimates: 'exact' uses the device's times for the running mode (the default;
   * a real executor converges to these by measuring), 'plan' uses the plan's predictions.
   */
  readonly estimates?: 'exact' | 'plan';
  readonly replanner?: Replanner;
  readonly rateWatch?: RateWatchOptions;
  readonly events?: ExecutorEventSink;
  readonly expiredRequests?: 'serve' | 'reject';
  /** Requests queued per stream before more are shed, as on the Executor: default DEFAULT_MAX_QUEUE_DEPTH, at most MAX_QUEUE_DEPTH. */
  readonly maxQueueDepth?: number;
  /** Record a timeline with buckets this wide (virtual seconds). */
  readonly timelineBucketS?: number;
  /**
   * Most minibatches (training and inference) one simulation runs before it stops with a
   * SimulationLimitError; default DEFAULT_MAX_SIMULATED_MINIBATCHES (about a minute on one core).
   */
  readonly maxMinibatches?: number;
}

/** 20 million minibatches: about 4 days of a 17 ms training minibatch, about a minute of host time. */
export const DEFAULT_MAX_SIMULATED_MINIBATCHES = 20_000_000;

/**
 * A simulation would run more minibatches than its limit: the duration is long for the times (a
 * table's time_ms written in seconds' magnitude, a microsecond minibatch), and it stops rather than
 * run for hours.
 */
export class SimulationLimitError extends Error {
  override readonly name = 'SimulationLimitError';
  constructor(
    readonly maxMinibatches: number,
    readonly atS: number,
    readonly durationS: number,
    readonly trainTimeS: number | undefined,
    /** Set when the limit was foreseen before the run: the training minibatches the duration holds. */
    readonly estimated?: number,
  ) {
    const limit = maxMinibatches.toLocaleString('en-US');
    super(
      (estimated !== undefined
        ? `would run up to ${Math.round(estimated).toLocaleString('en-US')} training minibatches in ${durationS} s, over the limit of ${limit}`
        : `stopped after ${limit} minibatches at ${atS.toPrecision(3)} s of the ${durationS} s simulated`) +
        (trainTimeS !== undefined ? ` (a training minibatch takes ${(trainTimeS * 1e3).toPrecision(3)} ms)` : '') +
        ': shorten the duration, or check the minibatch times (a profile table\'s time_ms is milliseconds)',
    );
  }
}

export interface SimulatedStreamReport {
  readonly stream: string;
  readonly latencyBudgetS: number;
  readonly arrivals: number;
  readonly completed: number;
  readonly failed: Readonly<Record<string, number>>;
  readonly late: number;
  readonly minibatches: number;
  readonly partialMinibatches: number;
  readonly maxQueueDepth: number;
  readonly latency: LatencySummary;
  /** Batch size at the end. */
  readonly batchSize: number;
}

export interface SimulationReport {
  readonly durationS: number;
  /** Virtual time when the last request was answered. */
  readonly endS: number;
  readonly wallS: number;
  readonly streams: readonly SimulatedStreamReport[];
  readonly trainMinibatches: number;
  /** Samples trained in [warmupS, durationS] / (durationS − warmupS). */
  readonly trainThroughputSamplesPerS: number;
  /** Share of [0, durationS] the GPU spent on inference. */
  readonly utilization: number;
  readonly plans: ReadonlyArray<{ readonly atS: number; readonly plan: ExecutorPlan; readonly problem: ExecutorProblem }>;
  readonly replanRequests: number;
  readonly timeline: readonly TimelinePoint[];
  /** Every accepted request was answered (result or explicit error). */
  readonly allAnswered: boolean;
}

interface SimRequest extends QueuedRequest {
  readonly stream: number;
}

export async function simulate(options: SimulationOptions): Promise<SimulationReport> {
  const wall0 = performance.now();
  const { times, durationS } = options;
  const warmupS = options.warmupS ?? 0;
  const training = options.training ?? true;
  // The Executor's limit and default: an overloaded stream sheds instead of queueing without bound.
  const maxQueueDepth = options.maxQueueDepth === undefined ? DEFAULT_MAX_QUEUE_DEPTH : requireMaxQueueDepth(options.maxQueueDepth);
  const maxMinibatches = options.maxMinibatches ?? DEFAULT_MAX_SIMULATED_MINIBATCHES;
  let minibatches = 0;
  let lastTrainS: number | undefined;
  let problem = options.problem;
  let plan = options.plan;
  if (training) {
    // Foreseen before the run where it is plain: the duration holds more training minibatches than
    // the limit (an upper bound: inference takes a share ρ, which a plan keeps well below 1).
    const tT = options.times.trainTimeS(plan.mode, problem.trainBatchSize);
    if (tT > 0 && durationS / tT > maxMinibatches) throw new SimulationLimitError(maxMinibatches, 0, durationS, tT, durationS / tT);
  }
  const streamsOf = (p: ExecutorProblem, pl: ExecutorPlan) =>
    p.streams.map((s) => ({ name: s.name, latencyBudgetS: s.latencyBudgetS, batchSize: pl.batchSizes[s.name] ?? 1 }));
  const sched = new InterleavingScheduler<SimRequest>(streamsOf(problem, plan), { deadlineRule: options.deadlineRule ?? true });
  const names = problem.streams.map((s) => s.name);
  const idx = new Map(names.map((n, i) => [n, i]));
  const stats = names.map((stream) => ({
    stream,
    arrivals: 0,
    completed: 0,
    failed: {} as Record<string, number>,
    late: 0,
    minibatches: 0,
    partialMinibatches: 0,
    maxQueueDepth: 0,
    latency: new LatencyRecorder(),
  }));
  const rates = new RateWatcher(options.rateWatch ?? {}, 0);
  const timeline = options.timelineBucketS ? new Timeline(options.timelineBucketS) : undefined;
  const plans: { atS: number; plan: ExecutorPlan; problem: ExecutorProblem }[] = [{ atS: 0, plan, problem }];
  options.events?.publish({ type: 'plan.applied', atS: 0, plan, problem });

  const measuredTrain = new Ewma();
  const estimates: TimeEstimates =
    options.estimates === 'plan'
      ? {
          trainTimeS: () => measuredTrain.get() ?? plan.trainTimeS ?? 0,
          inferTimeS: (k, b) => plan.inferTimeS?.[sched.streams[k]!.name] ?? times.inferTimeS(sched.streams[k]!.name, plan.mode, b),
        }
      : {
          trainTimeS: () => times.trainTimeS(plan.mode, problem.trainBatchSize),
          inferTimeS: (k, b) => times.inferTimeS(sched.streams[k]!.name, plan.mode, b),
        };

  const it = options.arrivals[Symbol.iterator]();
  let next: Arrival | undefined = nextArrival();
  function nextArrival(): Arrival | undefined {
    const r = it.next();
    if (r.done || r.value.tS >= durationS) return undefined;
    return r.value;
  }
  function admitUntil(tS: number): void {
    while (next && next.tS <= tS) {
      const k = idx.get(next.stream);
      if (k === undefined) throw new Error(`simulate: arrival for unknown stream ${JSON.stringify(next.stream)}`);
      const st = stats[k]!;
      st.arrivals++;
      rates.arrival(next.stream, next.tS);
      timeline?.arrival(next.tS, next.stream);
      const s = sched.streams[k]!;
      if (s.queue.length >= maxQueueDepth) st.failed['shed'] = (st.failed['shed'] ?? 0) + 1;
      else {
        sched.enqueue(k, { stream: k, arrivalS: next.tS, deadlineS: next.tS + s.latencyBudgetS });
        if (s.queue.length > st.maxQueueDepth) st.maxQueueDepth = s.queue.length;
      }
      next = nextArrival();
    }
  }
  const timelineState = (now: number): void =>
    timeline?.state(
      now,
      plan.planId,
      sched.streams.map((s) => ({ stream: s.name, measuredRatePerS: rates.ratePerS(s.name, now), batchSize: s.batchSize, latencyBudgetS: s.latencyBudgetS })),
    );

  let now = 0;
  let planAtS = 0;
  let trainMinibatches = 0;
  let trainSamplesInWindow = 0;
  let inferBusyS = 0;
  let replanRequests = 0;
  let lastTimelineBucket = -1;
  timelineState(0);

  for (;;) {
    const draining = now >= durationS;
    if (draining && sched.queued() === 0 && !next) break;
    if (!draining) {
      const planned: Record<string, number> = {};
      for (const s of problem.streams) planned[s.name] = s.arrivalRatePerS;
      const check = rates.check(now, planned, planAtS);
      if (check.publish) options.events?.publish({ type: 'arrivals.rate', atS: now, windowS: rates.windowS, ratesPerS: check.publish, plannedRatesPerS: planned });
      if (check.replan && options.replanner) {
        replanRequests++;
        const request = { reason: 'rate-change' as const, problem: withRates(problem, check.replan), currentPlan: plan, measuredRatesPerS: check.replan };
        options.events?.publish({ type: 'replan.requested', atS: now, request });
        try {
          const next = await options.replanner.replan(request);
          if (!next) throw new Error('the replanner gave no plan');
          plan = next;
          problem = request.problem;
          for (const r of sched.configure(streamsOf(problem, plan))) stats[r.stream]!.failed['unknown-stream'] = (stats[r.stream]!.failed['unknown-stream'] ?? 0) + 1;
          measuredTrain.reset();
          plans.push({ atS: now, plan, problem });
          options.events?.publish({ type: 'plan.applied', atS: now, plan, problem });
          timelineState(now);
        } catch (err) {
          options.events?.publish({ type: 'replan.failed', atS: now, error: (err as Error).message });
        }
        planAtS = now;
      }
      if (timeline && Math.floor(now / timeline.bucketS) !== lastTimelineBucket) {
        lastTimelineBucket = Math.floor(now / timeline.bucketS);
        timelineState(now);
      }
    }
    if (options.expiredRequests === 'reject') {
      for (const r of sched.takeExpired(now)) stats[r.stream]!.failed['deadline'] = (stats[r.stream]!.failed['deadline'] ?? 0) + 1;
    }
    const d = sched.decide(now, training && !draining, estimates, draining);
    if (d.kind !== 'idle' && ++minibatches > maxMinibatches) throw new SimulationLimitError(maxMinibatches, now, durationS, lastTrainS);
    if (d.kind === 'idle') {
      const wake = Math.min(d.wakeAtS, next ? next.tS : Infinity, draining ? Infinity : durationS);
      // Idle with no timer and no arrival left: nothing queued, nothing will come.
      if (wake === Infinity) break;
      now = Math.max(now, wake);
      admitUntil(now);
      continue;
    }
    if (d.kind === 'train') {
      const t = times.trainTimeS(plan.mode, problem.trainBatchSize);
      lastTrainS = t;
      const end = now + t;
      admitUntil(end);
      measuredTrain.add(t);
      trainMinibatches++;
      if (end > warmupS && end <= durationS) trainSamplesInWindow += problem.trainBatchSize;
      timeline?.trained(end, problem.trainBatchSize);
      now = end;
      continue;
    }
    const k = d.stream;
    const s = sched.streams[k]!;
    const batch = sched.take(k, d.count);
    const t = times.inferTimeS(s.name, plan.mode, batch.length);
    const end = now + t;
    admitUntil(end);
    if (now < durationS) inferBusyS += Math.min(end, durationS) - now;
    const st = stats[idx.get(s.name)!]!;
    st.minibatches++;
    if (batch.length < s.batchSize) st.partialMinibatches++;
    for (const r of batch) {
      const latencyS = end - r.arrivalS;
      st.completed++;
      if (end > r.deadlineS) st.late++;
      st.latency.record(latencyS);
      timeline?.answered(end, s.name, latencyS);
    }
    now = end;
  }

  const streams: SimulatedStreamReport[] = stats.map((st) => ({
    stream: st.stream,
    latencyBudgetS: sched.streams[idx.get(st.stream)!]?.latencyBudgetS ?? 0,
    arrivals: st.arrivals,
    completed: st.completed,
    failed: st.failed,
    late: st.late,
    minibatches: st.minibatches,
    partialMinibatches: st.partialMinibatches,
    maxQueueDepth: st.maxQueueDepth,
    latency: st.latency.summary(),
    batchSize: sched.streams[idx.get(st.stream)!]?.batchSize ?? 0,
  }));
  const allAnswered = streams.every((s) => s.arrivals === s.completed + Object.values(s.failed).reduce((a, b) => a + b, 0));
  return {
    durationS,
    endS: now,
    wallS: (performance.now() - wall0) / 1000,
    streams,
    trainMinibatches,
    trainThroughputSamplesPerS: trainSamplesInWindow / Math.max(1e-9, durationS - warmupS),
    utilization: inferBusyS / durationS,
    plans,
    replanRequests,
    timeline: timeline?.points() ?? [],
    allAnswered,
  };
}
