/**
 * A running executor node: what the executor service is without gRPC, for a Node program that
 * embeds it. It owns the minibatch engine (behind the one-minibatch-at-a-time gate), the
 * interleaving `Executor` (created by the first plan), the applied and pending plans, and talks to
 * the device-controller when given one; on a bus it publishes `plan.applied`, `arrivals.rate`,
 * `executor.status` and `activity` and answers `fulcrum.<board>.infer.<stream>`.
 *
 *   const node = new ExecutorNode({ board: 'jetson-01', device: 'orin-agx', engine, clock, bus });
 *   await node.applyPlan(problem, { planId: 'p1', mode, batchSizes: { cam: 4 } });
 *   const r = await node.infer('cam', input);
 *   node.status(); await node.close();
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { BUILTIN_CATALOG, LOCAL_FRONT_STRATEGY, ValidationError, requireBatchSize, type Catalog, assertOnGrid, type ConstraintKind, type PowerMode, type Problem, type RunPlan } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import type { DeviceBackend } from '@fulcrum/devices';
import { activitySubject, type EventBus, type InferenceService } from '@fulcrum/bus';
import { common, powerModeToProto, runPlanToProto } from '@fulcrum/proto';
import type { MeasurementOutcome, MeasurementRun } from '@fulcrum/proto/internal';
import type { FrontModeRecord } from '@fulcrum/proto';
import { GrpcStatusError, errorField, isServiceError, type Logger } from '@fulcrum/runtime';
import { defaultBoardId } from '@fulcrum/runtime/internal';
import { ActivityPublisher } from './activity.js';
import { busEventSink, serveInference, type PlanAppliedDetails } from './bus-adapter.js';
import { RealClock, type Clock } from './clock.js';
import { executorLimitsSchema, type ExecutorLimits } from './config.js';
import { InferenceError, isInferenceError } from './errors.js';
import { Executor, type InferOutcome } from './executor.js';
import type { ExecutorServiceMetrics } from './metrics.js';
import { GatedRunner, MeasurementAbortedError, type MinibatchEngine } from './service-runner.js';
import { planFromFront, type ProfiledMode } from './replan.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutorEventSink, ExecutorPlan, ExecutorStatus, ReplanRequest, Replanner } from './types.js';

/** The board's power mode: what `DeviceControllerLink` (gRPC) does, or an in-process board. */
export interface ModeController {
  getMode(): Promise<PowerMode>;
  /** Switches and returns the mode read back. */
  setMode(mode: PowerMode, settleS?: number): Promise<{ readonly mode: PowerMode }>;
}

export interface ExecutorNodeOptions {
  /** This board's id: the bus subjects' `<board>`; default the host name (SPEC §1). */
  readonly board?: string | undefined;
  /** Device model id: the device problems must be for when it is a known one. */
  readonly device: string;
  /** Runs the minibatches (`SimulatedEngine`, `HostEngine`); the node closes it on close. */
  readonly engine: MinibatchEngine;
  /** The clock the engine runs on (a `ScaledClock` for a faster simulated device); default real time. */
  readonly clock?: Clock | undefined;
  /** The device model a simulated engine runs (problems must be for it; a measurement needs a known mode). */
  readonly model?: DeviceBackend | undefined;
  /** Switches the board's mode for each plan (the read-back is used) and reads it before each measurement. Not closed by the node. */
  readonly controller?: ModeController | undefined;
  /** Settle time asked of the controller when a plan switches the mode, s (default 0). */
  readonly settleS?: number | undefined;
  /** Publishes events and activity here, and answers inference requests (unless `serveInference: false`). Not closed by the node. */
  readonly bus?: EventBus | undefined;
  readonly serveInference?: boolean | undefined;
  readonly logger?: Logger | undefined;
  readonly metrics?: ExecutorServiceMetrics | undefined;
  /** Queues, telemetry, activity, measurement and drain limits (the config's `executor` section); defaults as there. */
  readonly limits?: Partial<ExecutorLimits> | undefined;
}

/** A plan that took effect. */
export interface AppliedPlan {
  readonly problem: Problem;
  /** As it runs: the mode is the controller's read-back. */
  readonly plan: ExecutorPlan;
  readonly appliedAt: Date;
  /** The plan as the planner sent it (its predictions), with the mode read back: what Status reports. */
  readonly record: common.Plan;
}

export type ExecutorNodeState = 'idle' | 'running' | 'measuring' | 'draining' | 'stopped';

export interface ConstraintViolation {
  readonly constraint: ConstraintKind;
  readonly stream?: string | undefined;
  readonly value: number;
  readonly limit: number;
}

export interface ExecutorNodeStatus {
  /** `measuring` while a measurement holds (or waits for) the GPU; else the executor's state (`idle` before a plan). */
  readonly state: ExecutorNodeState;
  readonly applied: AppliedPlan | undefined;
  /** The executor's own status, once a plan was applied. */
  readonly executor: ExecutorStatus | undefined;
  /** `latency`: a stream's p99 since the plan over its budget; `stability`: inference took all of the GPU. */
  readonly violations: readonly ConstraintViolation[];
  /** Who re-plans when rates move: the optimizer, or `local` while it stays silent (the executor re-planned from the plan's front). */
  readonly replanOwner: 'optimizer' | 'local';
  /** Plans the executor made itself from a front. */
  readonly localReplans: number;
  /** Modes of the front kept for local re-planning (0: none; it will not re-plan itself). */
  readonly frontModes: number;
}

interface PendingPlan {
  readonly planId: string;
  readonly problem: Problem;
  readonly record: common.Plan;
  readonly details: PlanAppliedDetails;
}

/** The planner's predictions a proto plan carries, for `plan.applied`. */
function predictionsOf(record: common.Plan): PlanAppliedDetails {
  return {
    streams: Object.fromEntries(record.streams.map((s) => [s.stream, { predictedLatencyS: s.predictedLatencyS, utilization: s.utilization }])),
    predictedPowerW: record.predictedPowerW,
    feasible: record.feasible,
  };
}

export class ExecutorNode {
  /** The board's id: its subjects' `<board>`. */
  readonly board: string;
  readonly device: string;
  /** The device problems must be for (the simulated model's, or `device` when it is a known one); undefined: any. */
  readonly modelDevice: string | undefined;
  /** The devices and workloads problems may name: the simulated model's (a table's own device and workloads), else the built-in ones. */
  readonly catalog: Catalog;
  readonly engine: MinibatchEngine;
  /** The engine behind the gate: interleaved minibatches and measurements, one at a time. */
  readonly runner: GatedRunner;
  readonly controller: ModeController | undefined;
  readonly limits: ExecutorLimits;
  readonly #clock: Clock;
  readonly #model: DeviceBackend | undefined;
  readonly #settleS: number;
  readonly #logger: Logger | undefined;
  readonly #metrics: ExecutorServiceMetrics | undefined;
  readonly #activity: ActivityPublisher | undefined;
  readonly #events: ExecutorEventSink;
  readonly #inferService: InferenceService | undefined;
  readonly #pending: PendingPlan[] = [];
  #executor: Executor | undefined;
  #applied: (AppliedPlan & { readonly details: PlanAppliedDetails }) | undefined;
  #applyChain: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  /** The front of the last plan that brought one (local re-planning chooses among its modes). */
  #front: readonly FrontModeRecord[] | undefined;
  #replanOwner: 'optimizer' | 'local' = 'optimizer';
  #localReplans = 0;
  /** Plans applied (any source): a local re-plan waits for this to move. */
  #applies = 0;
  /**
   * The executor's re-planner (SPEC §6): the optimizer owns re-planning; when the rates moved and no
   * new plan came within `limits.localReplanAfterS`, re-plans from the running plan's front itself,
   * applied through the node (the controller switches the mode), and says so in Status and plan.applied.
   */
  readonly #localReplanner: Replanner = {
    ready: () => this.#front !== undefined && !this.#closing,
    replan: (request) => this.#replanLocally(request),
  };
  /** Aborted on close: stops every measurement in flight. */
  readonly #shutdown = new AbortController();

  constructor(options: ExecutorNodeOptions) {
    const { bus, logger, metrics } = options;
    this.device = options.device;
    this.board = options.board ?? defaultBoardId();
    this.engine = options.engine;
    this.controller = options.controller;
    this.limits = executorLimitsSchema.parse(options.limits ?? {});
    this.#clock = options.clock ?? new RealClock();
    this.#model = options.model;
    this.#settleS = options.settleS ?? 0;
    this.#logger = logger;
    this.#metrics = metrics;
    this.catalog = options.model?.catalog ?? options.engine.catalog ?? BUILTIN_CATALOG;
    this.modelDevice = options.model?.device.id ?? (this.catalog.deviceIds().includes(options.device) ? options.device : undefined);
    this.#activity = bus
      ? new ActivityPublisher({
          publish: (a) => bus.publish(activitySubject(this.board), { ...a, measuredAt: new Date().toISOString() }),
          minIntervalMs: this.limits.activityIntervalMs,
          heartbeatMs: this.limits.activityHeartbeatMs,
          onError: (err) => logger?.debug({ err: String(err) }, 'publishing the activity failed'),
        })
      : undefined;
    this.runner = new GatedRunner(this.engine, this.#activity, (kind) => metrics?.minibatches.inc({ kind }));
    // The executor's events: a plan taking effect (at a minibatch boundary) is recorded first, then all go on the bus.
    const sink = bus
      ? busEventSink(bus, this.board, { logger, planDetails: (plan) => (this.#applied?.plan.planId === plan.planId ? this.#applied.details : undefined) })
      : undefined;
    this.#events = {
      publish: (e) => {
        if (e.type === 'plan.applied') this.#installed(e.plan);
        sink?.publish(e);
      },
    };
    this.#inferService = bus && options.serveInference !== false ? serveInference((stream, input, requestId) => this.infer(stream, input, requestId), bus, this.board) : undefined;
  }

  /** The interleaving runtime, once a plan was applied. */
  get executor(): Executor | undefined {
    return this.#executor;
  }

  get applied(): AppliedPlan | undefined {
    return this.#applied;
  }

  /** Throws a ValidationError naming the field when this node cannot run the problem (device, workloads). */
  checkProblem(problem: Problem): void {
    if (this.modelDevice && problem.device !== this.modelDevice) {
      throw new ValidationError('problem.device', `this executor runs ${describeValue(this.modelDevice)}, got ${describeValue(problem.device)}`);
    }
    this.engine.check({ workload: problem.trainWorkload, kind: 'train', batchSize: problem.trainBatchSize }, { workload: 'problem.trainWorkload' });
    problem.streams.forEach((s, i) => this.engine.check({ workload: s.workload, kind: 'infer', batchSize: 1 }, { workload: `problem.streams[${i}].workload` }));
  }

  /**
   * Switches the board to the plan's mode (through the controller: its read-back is used) and runs
   * the plan: the first one starts the executor, later ones take effect at the next minibatch
   * boundary. One plan change at a time, in call order; a failed one does not block the next.
   * `record`: the plan as the planner sent it (proto, with its predictions) for Status and
   * `plan.applied`; default one made from `plan`. Errors: ValidationError naming `problem.…` /
   * `plan.…`; the controller's errors as it sent them (UNAVAILABLE when it stays away).
   */
  applyPlan(problem: Problem, plan: RunPlan, options: { readonly record?: common.Plan | undefined; readonly front?: readonly FrontModeRecord[] | undefined; readonly local?: boolean | undefined } = {}): Promise<AppliedPlan> {
    const run = this.#applyChain.then(async () => {
      const applied = await this.#apply(problem, plan, options.record);
      // A plan that brings its front replaces the one kept for local re-planning; one without keeps it.
      if (options.front?.length) this.#front = options.front;
      if (!options.local) this.#replanOwner = 'optimizer';
      this.#applies++;
      return applied;
    });
    this.#applyChain = run.catch(() => undefined);
    return run;
  }

  async #apply(problem: Problem, plan: RunPlan, record: common.Plan | undefined): Promise<AppliedPlan> {
    if (this.#closing) throw new GrpcStatusError(grpcStatus.UNAVAILABLE, 'the executor is closing');
    this.checkProblem(problem);
    // The simulated device must be able to run every minibatch of the plan at its mode (on the grid;
    // in the table for a table model). The controller, when there is one, judges the mode as well.
    if (plan.mode) {
      const mode = plan.mode;
      this.engine.check({ workload: problem.trainWorkload, kind: 'train', batchSize: problem.trainBatchSize, mode }, { workload: 'problem.trainWorkload', mode: 'plan.mode' });
      problem.streams.forEach((s, i) =>
        this.engine.check({ workload: s.workload, kind: 'infer', batchSize: plan.batchSizes[s.name] ?? 1, mode }, { workload: `problem.streams[${i}].workload`, mode: 'plan.mode' }),
      );
      if (!this.controller && !this.#model && this.modelDevice) {
        const spec = this.catalog.device(this.modelDevice);
        assertOnGrid(mode, spec.grid, spec.id, 'plan.mode');
      }
    }
    let mode = plan.mode;
    if (this.controller) {
      if (!mode) throw new ValidationError('plan.mode', 'is required: the device-controller switches the board to it');
      try {
        mode = (await this.controller.setMode(mode, this.#settleS)).mode;
      } catch (err) {
        // The controller judged the mode: name it as the plan's field.
        if (isServiceError(err) && err.code === grpcStatus.INVALID_ARGUMENT) throw new ValidationError(`plan.${errorField(err) ?? 'mode'}`, err.details);
        throw err;
      }
    }
    const executorPlan: ExecutorPlan = { ...plan, mode };
    const entry: PendingPlan = {
      planId: plan.planId,
      problem,
      record: common.Plan.fromPartial({ ...(record ?? runPlanToProto(problem, plan)), ...(mode ? { mode: powerModeToProto(mode) } : {}) }),
      details: { trainWorkload: problem.trainWorkload, ...(record ? predictionsOf(record) : {}) },
    };
    this.#pending.push(entry);
    if (!this.#executor) {
      this.runner.setMode(mode);
      this.#executor = new Executor({
        runner: this.runner,
        problem,
        plan: executorPlan,
        clock: this.#clock,
        events: this.#events,
        ...(this.#logger ? { logger: this.#logger } : {}),
        maxQueueDepth: this.limits.maxQueueDepth,
        expiredRequests: this.limits.expiredRequests,
        telemetryIntervalS: this.limits.telemetryIntervalS * this.#clock.scale,
        replanner: this.#localReplanner,
      });
      this.#executor.start();
    } else {
      await this.#executor.applyPlan(executorPlan, problem);
    }
    this.#logger?.info({ planId: plan.planId, mode, batchSizes: plan.batchSizes, strategy: plan.strategy }, 'plan applied');
    const applied = this.#applied;
    return applied?.plan.planId === plan.planId ? applied : { problem, plan: executorPlan, appliedAt: new Date(), record: entry.record };
  }

  /** The executor reported a plan taking effect (at a minibatch boundary). */
  #installed(plan: ExecutorPlan): void {
    const i = this.#pending.findIndex((p) => p.planId === plan.planId);
    if (i < 0) return;
    const [entry] = this.#pending.splice(i, 1);
    const appliedAt = new Date();
    this.runner.setProblem(entry!.problem);
    this.#applied = { problem: entry!.problem, plan, appliedAt, record: entry!.record, details: { ...entry!.details, appliedAt } };
    this.#metrics?.plansApplied.inc();
    void this.#metrics?.retainStreams(entry!.problem.streams.map((s) => s.name)).catch(() => undefined);
  }

  /**
   * One inference request, counted in the metrics (by stream and outcome). Rejects with an
   * `InferenceError` (`not-running` before the first plan). Both the gRPC `Infer` and the bus's
   * infer subjects are answered through it.
   */
  async infer(stream: string, input?: unknown, requestId?: string): Promise<InferOutcome> {
    const knownStream = (): string => (this.#applied?.problem.streams.some((s) => s.name === stream) ? stream : '_unknown');
    try {
      if (!this.#executor) throw new InferenceError('not-running', stream, requestId ?? '', 'no plan applied yet (ApplyPlan first)');
      const r = await this.#executor.infer(stream, input, requestId ? { requestId } : {});
      this.#metrics?.requests.inc({ stream: knownStream(), outcome: r.late ? 'late' : 'ok' });
      this.#metrics?.latency.observe({ stream: knownStream() }, r.latencyS);
      return r;
    } catch (err) {
      this.#metrics?.requests.inc({ stream: knownStream(), outcome: isInferenceError(err) ? err.code : 'internal' });
      throw err;
    }
  }

  /**
   * Warm-up + measured minibatches of one (workload, kind, batch size) at the board's mode (the
   * controller's, read first: the profiler switched it), between the running plan's minibatches.
   * A simulated device with no known mode, or without that row in its table: FAILED_PRECONDITION.
   * It stops early, leaving the GPU to the running plan, when `signal` aborts (its caller cancelled:
   * CANCELLED), when it has run `limits.maxMeasurementS` wall seconds (DEADLINE_EXCEEDED), or when
   * the node closes (UNAVAILABLE).
   */
  async measure(run: MeasurementRun, options: { readonly signal?: AbortSignal | undefined } = {}): Promise<MeasurementOutcome> {
    const { workload, kind, batchSize } = run;
    if (this.#closing || this.#shutdown.signal.aborted) throw new GrpcStatusError(grpcStatus.UNAVAILABLE, 'the executor is closing');
    const max = this.limits.maxMeasurementMinibatches;
    if (run.warmupMinibatches + run.measuredMinibatches > max) {
      throw new ValidationError('measuredMinibatches', `warm-up + measured must be at most ${max}, got ${run.warmupMinibatches + run.measuredMinibatches}`);
    }
    this.engine.check({ workload, kind, batchSize }, { workload: 'workload' });
    // The workload's own maximum for this kind (its manifest's max_batch_size), where it has one.
    if (this.catalog.workloadIds().includes(workload)) requireBatchSize('batchSize', batchSize, this.catalog.workload(workload), kind);
    try {
      const mode = this.controller ? await this.controller.getMode() : this.engine.mode;
      if (this.#model) {
        if (!mode) throw new GrpcStatusError(grpcStatus.FAILED_PRECONDITION, 'no power mode known: configure controller.address or initialMode');
        try {
          this.engine.check({ workload, kind, batchSize, mode }, { workload: 'workload', mode: 'mode' });
        } catch (err) {
          if (err instanceof ValidationError) throw new GrpcStatusError(grpcStatus.FAILED_PRECONDITION, err.reason, 'mode');
          throw err;
        }
        this.runner.setMode(mode);
      }
      const limitS = this.limits.maxMeasurementS;
      const timeout = AbortSignal.timeout(limitS * 1000);
      const signal = AbortSignal.any([this.#shutdown.signal, timeout, ...(options.signal ? [options.signal] : [])]);
      let r;
      try {
        r = await this.runner.measure({ ...run, activityLeadMs: this.limits.measurementLeadMs }, signal);
      } catch (err) {
        if (!(err instanceof MeasurementAbortedError)) throw err;
        const progress = `after ${err.done} of ${err.total} minibatches`;
        if (this.#shutdown.signal.aborted) throw new GrpcStatusError(grpcStatus.UNAVAILABLE, `measurement stopped ${progress}: the executor is closing`);
        if (timeout.aborted) {
          throw new GrpcStatusError(grpcStatus.DEADLINE_EXCEEDED, `measurement stopped ${progress}: it ran past the executor's limit of ${limitS} s (executor.maxMeasurementS); measure fewer minibatches`);
        }
        throw new GrpcStatusError(grpcStatus.CANCELLED, `measurement stopped ${progress}: its caller cancelled`);
      }
      const softwareStack = await this.engine.softwareStack(workload);
      this.#metrics?.measurements.inc({ outcome: 'ok' });
      return { minibatchTimesMs: r.minibatchTimesMs, windowStartMs: r.windowStart.getTime(), windowEndMs: r.windowEnd.getTime(), softwareStack, runner: this.engine.name };
    } catch (err) {
      this.#metrics?.measurements.inc({ outcome: err instanceof GrpcStatusError || isServiceError(err) ? (grpcStatus[err.code] ?? 'failed') : 'failed' });
      throw err;
    }
  }

  status(): ExecutorNodeStatus {
    const measuring = this.runner.measuring;
    const replan = { replanOwner: this.#replanOwner, localReplans: this.#localReplans, frontModes: this.#front?.length ?? 0 };
    if (!this.#executor) return { state: measuring ? 'measuring' : 'idle', applied: this.#applied, executor: undefined, violations: [], ...replan };
    const s = this.#executor.status();
    const violations: ConstraintViolation[] = [];
    if (s.utilization >= 1) violations.push({ constraint: 'stability', value: s.utilization, limit: 1 });
    for (const st of s.streams) {
      if (st.latency.count > 0 && st.latency.p99S > st.latencyBudgetS) violations.push({ constraint: 'latency', stream: st.stream, value: st.latency.p99S, limit: st.latencyBudgetS });
    }
    return { state: measuring ? 'measuring' : s.state, applied: this.#applied, executor: s, violations, ...replan };
  }

  async #replanLocally(request: ReplanRequest): Promise<undefined> {
    const applies = this.#applies;
    const waitMs = this.limits.localReplanAfterS * 1000;
    for (const started = Date.now(); Date.now() - started < waitMs && this.#applies === applies && !this.#closing; ) await sleep(Math.min(100, waitMs));
    if (this.#applies !== applies || this.#closing) return undefined; // the optimizer answered
    const front = this.#front;
    const running = this.#applied;
    if (!front || !running) return undefined;
    const problem = { ...running.problem, streams: running.problem.streams.map((s) => ({ ...s, arrivalRatePerS: request.measuredRatesPerS[s.name] ?? s.arrivalRatePerS })) };
    const answer = planFromFront(problem, profiledModes(problem, front), LOCAL_FRONT_STRATEGY);
    this.#replanOwner = 'local';
    this.#localReplans++;
    this.#logger?.warn(
      { planId: answer.plan.planId, measured: request.measuredRatesPerS, afterS: this.limits.localReplanAfterS, verdict: answer.verdict },
      'the optimizer did not re-plan for the moved rates in time; re-planned locally from the front',
    );
    await this.applyPlan(problem, { planId: answer.plan.planId, mode: answer.plan.mode, batchSizes: answer.plan.batchSizes, strategy: LOCAL_FRONT_STRATEGY }, { local: true });
    return undefined;
  }

  /**
   * Stops answering inference requests, serves what is queued for at most `limits.drainTimeoutMs`
   * (the rest get `shutdown`), then closes the activity publisher and the engine. Idempotent.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  /** Stops every measurement in flight (UNAVAILABLE: the executor is closing) and refuses new ones; the service calls it first on close. */
  stopMeasurements(): void {
    this.#shutdown.abort(new Error('the executor is closing'));
  }

  async #close(): Promise<void> {
    this.stopMeasurements();
    this.#inferService?.stop();
    if (this.#executor) {
      const stopped = this.#executor.stop({ drain: true });
      const timeoutMs = this.limits.drainTimeoutMs;
      const timedOut = await Promise.race([stopped.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs).unref())]);
      if (timedOut) this.#logger?.warn({ drainTimeoutMs: timeoutMs }, 'queues not drained in time; closing anyway');
    }
    await Promise.race([this.#inferService?.drain(), new Promise((r) => setTimeout(r, 1000).unref())]);
    this.#activity?.close();
    await this.runner.close();
  }
}

/** A front as the planner's `ProfiledMode`s for `problem` (its streams by index). */
function profiledModes(problem: Problem, front: readonly FrontModeRecord[]): ProfiledMode[] {
  return front.map((m) => ({
    mode: m.mode,
    training: m.training,
    inference: (i: number, b: number) => {
      const stream = problem.streams[i]?.name;
      const x = m.inference.find((e) => e.stream === stream && e.batchSize === b);
      return x ? { timeS: x.timeS, powerW: x.powerW } : undefined;
    },
  }));
}
