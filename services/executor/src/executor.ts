/**
 * The embeddable executor: one training job and K inference streams interleaved at minibatch
 * granularity on one GPU under the SPEC §2 policy (see policy.ts), with real or simulated workers.
 *
 *   const executor = new Executor({ runner, problem, plan });
 *   executor.start();
 *   const result = await executor.infer('cam', input);   // or an InferenceError with a code
 *   await executor.stop();
 */
import { ValidationError, describeValue, requirePositiveInteger } from '@fulcrum/core/internal';
import type { Logger } from '@fulcrum/runtime';
import { RealClock, type Clock } from './clock.js';
import { InferenceError, WorkerCrashedError, type InferenceFailureCode } from './errors.js';
import { Ewma, LatencyRecorder, Timeline } from './stats.js';
import { InterleavingScheduler, type Decision, type QueuedRequest, type TimeEstimates } from './policy.js';
import { RateWatcher, withRates, type RateWatchOptions } from './replan.js';
import type {
  ExecutorEvent,
  ExecutorEventSink,
  ExecutorPlan,
  ExecutorProblem,
  ExecutorState,
  ExecutorStatus,
  MinibatchRunner,
  Replanner,
  StreamStatus,
} from './types.js';


/** Streams whose statistics an executor keeps before forgetting those no longer planned. */
export const STREAM_STATS_LIMIT = 64;

/**
 * The largest `maxQueueDepth`, requests per stream (the service's `executor.maxQueueDepth` too):
 * each queued request holds about 0.5 KiB in the executor plus its input, so 32 streams at the
 * limit hold about 1.6 GiB before inputs, and a queue that deep already holds seconds of traffic
 * at any real rate (its last requests would be late).
 */
export const MAX_QUEUE_DEPTH = 100_000;

/** `maxQueueDepth` when none is given (the Executor, the service's config, the simulator). */
export const DEFAULT_MAX_QUEUE_DEPTH = 1024;

/** Why a deeper queue is refused, in the service's config errors and the Executor's alike. */
export const MAX_QUEUE_DEPTH_REASON = `must be at most ${MAX_QUEUE_DEPTH} (each queued request holds memory; deeper queues only hold late requests)`;

/** `maxQueueDepth` checked: a positive integer ≤ MAX_QUEUE_DEPTH (ValidationError naming `field` otherwise). */
export function requireMaxQueueDepth(value: unknown, field = 'maxQueueDepth'): number {
  const depth = requirePositiveInteger(field, value);
  if (depth > MAX_QUEUE_DEPTH) throw new ValidationError(field, `${MAX_QUEUE_DEPTH_REASON}, got ${describeValue(depth)}`);
  return depth;
}

export interface InferOutcome {
  readonly requestId: string;
  readonly stream: string;
  readonly output: unknown;
  /** Arrival to result, seconds on the executor's clock. */
  readonly latencyS: number;
  /** Arrival to the start of its minibatch. */
  readonly queueS: number;
  /** The worker's own time for the minibatch it ran in. */
  readonly minibatchTimeS: number;
  /** Size of that minibatch (smaller than the plan's b under the deadline rule). */
  readonly batchSize: number;
  /** True when delivered after its latency budget. */
  readonly late: boolean;
  readonly planId: string;
}

export interface ExecutorOptions extends RateWatchOptions {
  readonly runner: MinibatchRunner;
  readonly problem: ExecutorProblem;
  readonly plan: ExecutorPlan;
  /** Run the training job (default true). */
  readonly training?: boolean;
  /** Stop training after this many minibatches (default: never). */
  readonly trainMinibatchLimit?: number;
  readonly clock?: Clock;
  readonly events?: ExecutorEventSink;
  readonly replanner?: Replanner;
  readonly logger?: Logger;
  /** Requests queued per stream beyond which new ones are shed: a positive integer ≤ MAX_QUEUE_DEPTH (100,000). Default 1024. */
  readonly maxQueueDepth?: number;
  /**
   * A request whose budget has already passed when its minibatch could start: 'serve' it anyway
   * (a late result; the default, so measured latencies stay honest) or 'reject' it with a
   * `deadline` error and spare the GPU.
   */
  readonly expiredRequests?: 'serve' | 'reject';
  /** Publish a telemetry event this often, clock seconds. Default 1. 0 disables. */
  readonly telemetryIntervalS?: number;
  /** Record a timeline with buckets of this many clock seconds (for plots). Default: none. */
  readonly timelineBucketS?: number;
  /** Training failures in a row after which training is switched off (inference keeps running). Default 5. */
  readonly maxConsecutiveTrainFailures?: number;
}

interface PendingRequest extends QueuedRequest {
  readonly id: string;
  readonly stream: string;
  readonly input: unknown;
  resolve(outcome: InferOutcome): void;
  reject(err: InferenceError): void;
}

interface StreamStats {
  accepted: number;
  completed: number;
  failed: Record<string, number>;
  late: number;
  minibatches: number;
  partialMinibatches: number;
  maxQueueDepth: number;
  latency: LatencyRecorder;
  latencyTotal: LatencyRecorder;
  /** EWMA of tI per batch size. */
  inferTimes: Map<number, Ewma>;
}

let executorCounter = 0;

export class Executor {
  readonly runner: MinibatchRunner;
  private problem: ExecutorProblem;
  private plan: ExecutorPlan;
  private readonly clock: Clock;
  private readonly events: ExecutorEventSink | undefined;
  private readonly replanner: Replanner | undefined;
  private readonly logger: Logger | undefined;
  private readonly scheduler: InterleavingScheduler<PendingRequest>;
  private readonly stats = new Map<string, StreamStats>();
  private readonly rates: RateWatcher;
  private readonly timeline: Timeline | undefined;
  private readonly maxQueueDepth: number;
  private readonly expiredRequests: 'serve' | 'reject';
  private readonly telemetryIntervalS: number;
  private readonly maxConsecutiveTrainFailures: number;
  private readonly trainMinibatchLimit: number;
  private trainingEnabled: boolean;
  private readonly trainTime = new Ewma();
  private readonly trainLoad = new Ewma();
  private lastTrainLoss: number | undefined;
  private lastTrainStep: number | undefined;
  private readonly decisionUs = new LatencyRecorder();

  private state: ExecutorState = 'idle';
  private pending: { plan: ExecutorPlan; problem: ExecutorProblem; resolve: (atS: number) => void }[] = [];
  private planAppliedAtS = 0;
  private plansApplied = 0;
  private trainMinibatches = 0;
  private trainMinibatchesTotal = 0;
  private trainSamples = 0;
  private trainFailures = 0;
  private consecutiveTrainFailures = 0;
  private inferBusyS = 0;
  private workerCrashes = 0;
  private nextTelemetryS = 0;
  private replanInFlight = false;
  private requestCounter = 0;
  private readonly idPrefix = `r${++executorCounter}-`;
  private wake: AbortController = new AbortController();
  private loopDone: Promise<void> | undefined;

  /** Throws a ValidationError naming the option when one is out of range (`maxQueueDepth`). */
  constructor(options: ExecutorOptions) {
    this.maxQueueDepth = options.maxQueueDepth === undefined ? DEFAULT_MAX_QUEUE_DEPTH : requireMaxQueueDepth(options.maxQueueDepth);
    this.runner = options.runner;
    this.problem = options.problem;
    this.plan = options.plan;
    this.clock = options.clock ?? new RealClock();
    this.events = options.events;
    this.replanner = options.replanner;
    this.logger = options.logger;
    this.expiredRequests = options.expiredRequests ?? 'serve';
    this.telemetryIntervalS = options.telemetryIntervalS ?? 1;
    this.maxConsecutiveTrainFailures = options.maxConsecutiveTrainFailures ?? 5;
    this.trainMinibatchLimit = options.trainMinibatchLimit ?? Infinity;
    this.trainingEnabled = options.training ?? true;
    this.timeline = options.timelineBucketS ? new Timeline(options.timelineBucketS) : undefined;
    this.scheduler = new InterleavingScheduler(this.schedulerStreams(this.problem, this.plan));
    this.rates = new RateWatcher(options, this.clock.nowS());
    for (const s of this.problem.streams) this.statsOf(s.name);
  }

  /** Starts the interleaving loop under the plan given at construction. */
  start(): void {
    if (this.state !== 'idle') throw new Error(`executor: start() in state ${this.state}`);
    this.state = 'running';
    const now = this.clock.nowS();
    this.planAppliedAtS = now;
    this.plansApplied = 1;
    this.nextTelemetryS = now + this.telemetryIntervalS;
    void Promise.resolve(this.runner.setMode?.(this.plan.mode));
    this.publish({ type: 'plan.applied', atS: now, plan: this.plan, problem: this.problem });
    this.timelineState(now);
    this.loopDone = this.loop().catch((err) => {
      // The loop itself failing is a bug; answer everything still queued rather than hang callers.
      this.logger?.error({ err }, 'executor loop failed');
      this.state = 'stopped';
      this.failAll('shutdown', `executor loop failed: ${(err as Error).message}`);
    });
  }

  /**
   * Submits one request. Resolves with the result, or rejects with an `InferenceError` whose
   * `code` says why (shed, deadline, shutdown, worker, unknown-stream, not-running).
   */
  infer(stream: string, input?: unknown, options: { requestId?: string } = {}): Promise<InferOutcome> {
    const id = options.requestId ?? this.idPrefix + ++this.requestCounter;
    if (this.state !== 'running') {
      const code: InferenceFailureCode = this.state === 'idle' ? 'not-running' : 'shutdown';
      return Promise.reject(new InferenceError(code, stream, id, `executor is ${this.state}`));
    }
    const index = this.scheduler.indexOf(stream);
    if (index === undefined) {
      return Promise.reject(new InferenceError('unknown-stream', stream, id, `no stream ${describeValue(stream)} in the running plan`));
    }
    const now = this.clock.nowS();
    const s = this.scheduler.streams[index]!;
    const stats = this.statsOf(stream);
    this.rates.arrival(stream, now);
    this.timeline?.arrival(now, stream);
    if (s.queue.length >= this.maxQueueDepth) {
      stats.failed['shed'] = (stats.failed['shed'] ?? 0) + 1;
      return Promise.reject(new InferenceError('shed', stream, id, `stream ${stream}: queue full (${this.maxQueueDepth} requests)`));
    }
    stats.accepted++;
    return new Promise<InferOutcome>((resolve, reject) => {
      this.scheduler.enqueue(index, { id, stream, input, arrivalS: now, deadlineS: now + s.latencyBudgetS, resolve, reject });
      if (s.queue.length > stats.maxQueueDepth) stats.maxQueueDepth = s.queue.length;
      this.wake.abort();
    });
  }

  /**
   * Switches plan at the next minibatch boundary (the minibatch in flight finishes under the old
   * one). `problem` replaces the running problem when given (new rates or budgets). Resolves with
   * the clock time the plan took effect.
   */
  applyPlan(plan: ExecutorPlan, problem: ExecutorProblem = this.problem): Promise<number> {
    if (this.state === 'stopped') return Promise.reject(new Error('executor: stopped'));
    return new Promise((resolve) => {
      this.pending.push({ plan, problem, resolve });
      if (this.state === 'idle') this.installPending();
      this.wake.abort();
    });
  }

  /**
   * Stops. `drain` (default true): stop accepting, serve what is queued (partial batches, no
   * training), then stop; otherwise queued requests get `shutdown` errors at once. The minibatch in
   * flight always finishes and its requests get their results.
   */
  async stop(options: { drain?: boolean } = {}): Promise<ExecutorStatus> {
    if (this.state === 'idle') {
      this.state = 'stopped';
      return this.status();
    }
    if (this.state === 'running') {
      this.state = 'draining';
      if (options.drain === false) this.failAll('shutdown', 'executor stopped');
      this.wake.abort();
    }
    await this.loopDone;
    return this.status();
  }

  get currentPlan(): ExecutorPlan {
    return this.plan;
  }

  get currentProblem(): ExecutorProblem {
    return this.problem;
  }

  status(): ExecutorStatus {
    const now = this.clock.nowS();
    const sincePlanS = Math.max(1e-9, now - this.planAppliedAtS);
    const streams: StreamStatus[] = this.scheduler.streams.map((s) => {
      const st = this.statsOf(s.name);
      const p = this.problem.streams.find((x) => x.name === s.name);
      return {
        stream: s.name,
        batchSize: s.batchSize,
        latencyBudgetS: s.latencyBudgetS,
        plannedRatePerS: p?.arrivalRatePerS ?? 0,
        arrivalRatePerS: this.rates.ratePerS(s.name, now),
        queueDepth: s.queue.length,
        maxQueueDepth: st.maxQueueDepth,
        accepted: st.accepted,
        completed: st.completed,
        failed: { ...st.failed },
        late: st.late,
        minibatches: st.minibatches,
        partialMinibatches: st.partialMinibatches,
        latency: st.latency.summary(),
        latencyTotal: st.latencyTotal.summary(),
        measuredInferTimeS: st.inferTimes.get(s.batchSize)?.get() ?? 0,
      };
    });
    const d = this.decisionUs.summary();
    return {
      state: this.state,
      nowS: now,
      plan: this.plan,
      planAppliedAtS: this.plansApplied ? this.planAppliedAtS : undefined,
      plansApplied: this.plansApplied,
      streams,
      trainThroughputSamplesPerS: this.trainSamples / sincePlanS,
      trainMinibatches: this.trainMinibatches,
      trainMinibatchesTotal: this.trainMinibatchesTotal,
      trainFailures: this.trainFailures,
      measuredTrainTimeS: this.trainTime.get() ?? 0,
      measuredTrainLoadS: this.trainLoad.get() ?? 0,
      ...(this.lastTrainLoss !== undefined ? { trainLoss: this.lastTrainLoss } : {}),
      ...(this.lastTrainStep !== undefined ? { trainStep: this.lastTrainStep } : {}),
      utilization: this.inferBusyS / sincePlanS,
      workerCrashes: this.workerCrashes,
      // The recorder works in seconds; here one "second" is one microsecond of decision time.
      decisionOverheadUs: { count: d.count, p50: d.p50S, p99: d.p99S, max: d.maxS },
    };
  }

  /** Timeline buckets recorded so far (needs `timelineBucketS`). */
  timelinePoints(): ReturnType<Timeline['points']> {
    return this.timeline?.points() ?? [];
  }

  // ---- the loop ---------------------------------------------------------------------------

  private readonly estimates: TimeEstimates = {
    trainTimeS: () => this.trainTime.get() ?? this.plan.trainTimeS ?? 0,
    inferTimeS: (k, b) => {
      const s = this.scheduler.streams[k]!;
      return this.statsOf(s.name).inferTimes.get(b)?.get() ?? this.plan.inferTimeS?.[s.name] ?? 0;
    },
  };

  private async loop(): Promise<void> {
    for (;;) {
      if (this.pending.length) this.installPending();
      const draining = this.state === 'draining';
      if (draining && this.scheduler.queued() === 0) break;
      const t0 = performance.now();
      const now = this.clock.nowS();
      if (this.expiredRequests === 'reject') {
        for (const r of this.scheduler.takeExpired(now)) this.failRequest(r, 'deadline', `missed its ${(r.deadlineS - r.arrivalS).toFixed(3)} s budget while queued`);
      }
      const training = this.trainingEnabled && this.trainMinibatchesTotal < this.trainMinibatchLimit;
      const decision: Decision = this.scheduler.decide(now, training, this.estimates, draining);
      const batch = decision.kind === 'infer' ? this.scheduler.take(decision.stream, decision.count) : undefined;
      // Recorded in µs as if they were seconds, so the recorder's resolution fits sub-µs decisions too.
      this.decisionUs.record((performance.now() - t0) * 1000);
      if (!draining) this.periodic(now);
      if (decision.kind === 'infer') await this.runInference(decision.stream, batch!, now);
      else if (decision.kind === 'train') await this.runTraining();
      else await this.idle(decision.wakeAtS, now);
    }
    this.state = 'stopped';
    this.publish({ type: 'telemetry', atS: this.clock.nowS(), status: this.status() });
  }

  private async idle(wakeAtS: number, now: number): Promise<void> {
    this.wake = new AbortController();
    if (this.pending.length || this.state !== 'running') return;
    const nextS = Math.min(wakeAtS, this.telemetryIntervalS > 0 ? this.nextTelemetryS : Infinity, now + 1);
    await this.clock.sleep(Math.max(0, nextS - now), this.wake.signal);
  }

  private async runInference(k: number, batch: PendingRequest[], startS: number): Promise<void> {
    const s = this.scheduler.streams[k]!;
    const stats = this.statsOf(s.name);
    const planId = this.plan.planId;
    let result;
    try {
      result = await this.runner.runInference(s.name, batch.map((r) => r.input));
    } catch (err) {
      this.workerFailed(err, batch.length);
      for (const r of batch) this.failRequest(r, 'worker', `inference minibatch failed: ${(err as Error).message}`);
      return;
    }
    const end = this.clock.nowS();
    this.inferBusyS += end - startS;
    stats.minibatches++;
    if (batch.length < s.batchSize) stats.partialMinibatches++;
    let ewma = stats.inferTimes.get(batch.length);
    if (!ewma) stats.inferTimes.set(batch.length, (ewma = new Ewma()));
    ewma.add(result.timeS);
    batch.forEach((r, i) => {
      const invalid = result.invalid?.[i];
      if (invalid !== undefined) return this.failRequest(r, 'invalid-input', invalid);
      const latencyS = end - r.arrivalS;
      const late = end > r.deadlineS;
      stats.completed++;
      if (late) stats.late++;
      stats.latency.record(latencyS);
      stats.latencyTotal.record(latencyS);
      this.timeline?.answered(end, s.name, latencyS);
      r.resolve({
        requestId: r.id,
        stream: s.name,
        output: result.outputs[i],
        latencyS,
        queueS: startS - r.arrivalS,
        minibatchTimeS: result.timeS,
        batchSize: batch.length,
        late,
        planId,
      });
    });
  }

  private async runTraining(): Promise<void> {
    const bT = this.problem.trainBatchSize;
    try {
      const result = await this.runner.runTraining(bT);
      this.trainTime.add(result.timeS);
      if (result.loadS !== undefined) this.trainLoad.add(result.loadS);
      if (result.loss !== undefined && Number.isFinite(result.loss)) this.lastTrainLoss = result.loss;
      if (result.step !== undefined) this.lastTrainStep = result.step;
      this.trainMinibatches++;
      this.trainMinibatchesTotal++;
      this.trainSamples += bT;
      this.consecutiveTrainFailures = 0;
      this.timeline?.trained(this.clock.nowS(), bT);
    } catch (err) {
      this.trainFailures++;
      this.workerFailed(err, 0);
      if (++this.consecutiveTrainFailures >= this.maxConsecutiveTrainFailures) {
        this.trainingEnabled = false;
        this.logger?.error({ failures: this.consecutiveTrainFailures }, 'training failed repeatedly; training switched off, inference continues');
      }
    }
  }

  private workerFailed(err: unknown, failedRequests: number): void {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof WorkerCrashedError) {
      this.workerCrashes++;
      this.publish({ type: 'worker.crashed', atS: this.clock.nowS(), runner: err.runner, error: message, failedRequests });
      this.logger?.warn({ runner: err.runner, failedRequests, err: message }, 'worker crashed; it restarts on the next minibatch');
    } else {
      this.logger?.warn({ failedRequests, err: message }, 'minibatch failed');
    }
  }

  private periodic(now: number): void {
    const planned: Record<string, number> = {};
    for (const s of this.problem.streams) planned[s.name] = s.arrivalRatePerS;
    const check = this.rates.check(now, planned, this.planAppliedAtS);
    if (check.publish) this.publish({ type: 'arrivals.rate', atS: now, windowS: this.rates.windowS, ratesPerS: check.publish, plannedRatesPerS: planned });
    if (check.replan && this.replanner && (this.replanner.ready?.() ?? true) && !this.replanInFlight && this.pending.length === 0) this.requestReplan(now, check.replan);
    if (this.telemetryIntervalS > 0 && now >= this.nextTelemetryS) {
      this.nextTelemetryS = now + this.telemetryIntervalS;
      const status = this.status();
      this.publish({ type: 'telemetry', atS: now, status });
      this.timelineState(now);
    } else if (this.timeline && Math.floor(now / this.timeline.bucketS) !== Math.floor(this.lastTimelineS / this.timeline.bucketS)) {
      this.timelineState(now);
    }
  }

  private lastTimelineS = 0;
  private timelineState(now: number): void {
    if (!this.timeline) return;
    this.lastTimelineS = now;
    this.timeline.state(
      now,
      this.plan.planId,
      this.scheduler.streams.map((s) => ({ stream: s.name, measuredRatePerS: this.rates.ratePerS(s.name, now), batchSize: s.batchSize, latencyBudgetS: s.latencyBudgetS })),
    );
  }

  private requestReplan(now: number, measured: Record<string, number>): void {
    const request = { reason: 'rate-change' as const, problem: withRates(this.problem, measured), currentPlan: this.plan, measuredRatesPerS: measured };
    this.replanInFlight = true;
    this.publish({ type: 'replan.requested', atS: now, request });
    // The optimizer owns re-planning: tell it the board waits for a plan for these rates.
    const planned = Object.fromEntries(this.problem.streams.map((st) => [st.name, st.arrivalRatePerS]));
    this.publish({ type: 'arrivals.rate', atS: now, windowS: this.rates.windowS, ratesPerS: measured, plannedRatesPerS: planned, replanRequested: true });
    this.logger?.info({ measured, planned: this.problem.streams.map((s) => [s.name, s.arrivalRatePerS]) }, 'arrival rate moved; re-planning');
    Promise.resolve()
      .then(() => this.replanner!.replan(request))
      .then(
        (plan) => (plan ? this.applyPlan(plan, request.problem) : undefined),
        (err) => {
          this.publish({ type: 'replan.failed', atS: this.clock.nowS(), error: (err as Error).message });
          this.logger?.warn({ err: (err as Error).message }, 're-plan failed; keeping the running plan');
          // Wait a full interval before asking again.
          this.planAppliedAtS = this.clock.nowS();
        },
      )
      .finally(() => {
        this.replanInFlight = false;
      });
  }

  private installPending(): void {
    const list = this.pending;
    this.pending = [];
    for (const { plan, problem, resolve } of list) {
      const modeChanged = JSON.stringify(plan.mode) !== JSON.stringify(this.plan.mode);
      this.plan = plan;
      this.problem = problem;
      const orphans = this.scheduler.configure(this.schedulerStreams(problem, plan));
      for (const r of orphans) this.failRequest(r, 'unknown-stream', `stream ${r.stream} is not in the new plan`);
      for (const s of problem.streams) this.statsOf(s.name).latency.reset();
      this.forgetOldStreams(problem);
      if (modeChanged) {
        // Minibatch times belong to a mode; measure afresh and trust the plan's predictions meanwhile.
        this.trainTime.reset();
        for (const st of this.stats.values()) st.inferTimes.clear();
        void Promise.resolve(this.runner.setMode?.(plan.mode)).catch((err) => this.logger?.warn({ err }, 'setMode failed'));
      }
      const now = this.clock.nowS();
      this.planAppliedAtS = now;
      this.plansApplied++;
      this.trainMinibatches = 0;
      this.trainSamples = 0;
      this.inferBusyS = 0;
      this.publish({ type: 'plan.applied', atS: now, plan, problem });
      this.timelineState(now);
      this.logger?.info({ planId: plan.planId, batchSizes: plan.batchSizes, mode: plan.mode }, 'plan applied');
      resolve(now);
    }
  }

  private schedulerStreams(problem: ExecutorProblem, plan: ExecutorPlan): { name: string; latencyBudgetS: number; batchSize: number }[] {
    return problem.streams.map((s) => ({ name: s.name, latencyBudgetS: s.latencyBudgetS, batchSize: plan.batchSizes[s.name] ?? 1 }));
  }

  /**
   * Past STREAM_STATS_LIMIT streams with statistics, forgets those the running problem lacks (their
   * statistics and rate meters): plan after plan with new stream names never grows memory.
   */
  private forgetOldStreams(problem: ExecutorProblem): void {
    if (this.stats.size <= STREAM_STATS_LIMIT) return;
    const keep = new Set(problem.streams.map((s) => s.name));
    for (const name of [...this.stats.keys()]) if (!keep.has(name)) this.stats.delete(name);
    this.rates.retain(keep);
  }

  /** Streams with statistics right now (tests: the bound holds). */
  get trackedStreams(): number {
    return this.stats.size;
  }

  private statsOf(stream: string): StreamStats {
    let st = this.stats.get(stream);
    if (!st) {
      st = {
        accepted: 0,
        completed: 0,
        failed: {},
        late: 0,
        minibatches: 0,
        partialMinibatches: 0,
        maxQueueDepth: 0,
        latency: new LatencyRecorder(),
        latencyTotal: new LatencyRecorder(),
        inferTimes: new Map(),
      };
      this.stats.set(stream, st);
    }
    return st;
  }

  private failRequest(r: PendingRequest, code: InferenceFailureCode, message: string): void {
    const st = this.statsOf(r.stream);
    st.failed[code] = (st.failed[code] ?? 0) + 1;
    r.reject(new InferenceError(code, r.stream, r.id, `request ${r.id} on stream ${r.stream}: ${message}`));
  }

  private failAll(code: InferenceFailureCode, message: string): void {
    for (const s of this.scheduler.streams) for (const r of s.queue.drain()) this.failRequest(r, code, message);
  }

  private publish(event: ExecutorEvent): void {
    if (!this.events) return;
    try {
      this.events.publish(event);
    } catch (err) {
      // A sink that fails (NATS gone) must never stop the GPU loop.
      this.logger?.warn({ err: (err as Error).message, event: event.type }, 'publishing an executor event failed');
    }
  }
}
