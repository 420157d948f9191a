/**
 * The executor service: `fulcrum.executor.v1.Executor` over gRPC (health, reflection, token and
 * TLS from @fulcrum/runtime's `startService`), /metrics, and the bus — inference requests on
 * `fulcrum.<device>.infer.<stream>` (request/reply), and `plan.applied`, `arrivals.rate`,
 * `executor.status` and `activity` (what the GPU runs now, which a virtual device-controller
 * follows) published.
 *
 * The interleaving runtime is the library's `Executor`, created by the first ApplyPlan. Its
 * runner is chosen by `runner`:
 * * `simulated` — the virtual Jetson (or a profile table) of @fulcrum/devices: minibatch times at
 *   the *current mode*, slept on a clock `timeScale` times faster than the host. The current mode
 *   is the device-controller's: ApplyPlan switches it with SetPowerMode and uses the read-back;
 *   RunMeasurement asks GetPowerMode first (the profiler switched it). Without `controller.address`
 *   the plan's mode (or `initialMode`) is used as is.
 * * `host` — the host's PyTorch workers (one per workload), timed by the workers.
 *
 *   const svc = await startExecutorService(executorServiceConfig({ controller: { address } }), { logger, bus });
 */
import { basename } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import { DEVICES, ValidationError, assertOnGrid, describeValue, getPreset, parsePowerMode, type PowerMode, type Problem, type WorkloadKind } from '@fulcrum/core';
import { DEFAULT_SEED, createBackend, loadProfileTable, type DeviceBackend } from '@fulcrum/devices';
import { activitySubject, createEventBus, inferFilter, planAppliedSubject, type EventBus, type InferenceReply, type InferenceService } from '@fulcrum/bus';
import { common, constraintToProto, executor as pb, loadDescriptorSet, measurementOutcomeToProto, measurementRunFromProto, planFromProto, problemFromProto } from '@fulcrum/proto';
import {
  DEFAULT_GRPC_PORTS,
  GrpcStatusError,
  closeOnSignals,
  createMetricsRegistry,
  errorField,
  grpcConfigSchema,
  isServiceError,
  loadConfig,
  logLevelSchema,
  metricsConfigSchema,
  natsConfigSchema,
  peerConfigSchema,
  serviceLogger,
  startService,
  unary,
  type LoadConfigOptions,
  type LoadedConfig,
  type Logger,
  type RunningService,
} from '@fulcrum/runtime';
import { ActivityPublisher } from './activity.js';
import { busErrorCode, busEventSink } from './bus-adapter.js';
import { RealClock, ScaledClock, type Clock } from './clock.js';
import { DeviceControllerLink } from './controller-link.js';
import { InferenceError, grpcStatusName, isInferenceError } from './errors.js';
import { Executor, type InferOutcome } from './executor.js';
import { GatedRunner, HostEngine, SimulatedEngine, type MinibatchEngine } from './service-runner.js';
import type { ExecutorEvent, ExecutorEventSink, ExecutorPlan } from './types.js';

export const EXECUTOR_SERVICE_NAME = 'fulcrum.executor.v1.Executor';

const modelSpecSchema = z.object({
  model: z.string().min(1).default('cnn'),
  input: z.array(z.number().int().positive()).optional(),
  classes: z.number().int().positive().optional(),
  width: z.number().int().positive().optional(),
  lr: z.number().positive().optional(),
});

/**
 * The executor service's configuration (flags > env > file > defaults, @fulcrum/runtime). Env
 * names: `runner` → FULCRUM_RUNNER, `timeScale` → FULCRUM_TIME_SCALE, `controller.address` →
 * FULCRUM_CONTROLLER__ADDRESS, `nats.url` → FULCRUM_NATS__URL, `grpc.port` → FULCRUM_GRPC__PORT.
 */
export const executorServiceConfigSchema = z.object({
  logLevel: logLevelSchema,
  /** Device id: the bus subjects' `<device>`, the problems' device, and the simulated model (orin-agx, agx-xavier). */
  device: z.string().min(1).default('orin-agx'),
  grpc: grpcConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  nats: natsConfigSchema.prefault({}),
  runner: z.enum(['simulated', 'host']).default('simulated'),
  /** simulated: device seconds per host second (100: a 200 ms minibatch sleeps 2 ms). */
  timeScale: z.number().positive().default(1),
  /** simulated: the device model, `virtual` or a profile `table` (`profiles`). */
  backend: z.enum(['virtual', 'table']).default('virtual'),
  profiles: z.string().min(1).optional(),
  /** simulated: relative noise of minibatch times; default the model's (2.5% virtual, 0 table). */
  noise: z.number().min(0).max(1).optional(),
  seed: z.number().int().default(DEFAULT_SEED),
  /** The mode assumed without a controller until a plan sets one (CORES,CPU,GPU,EMC or a preset); default MAXN. */
  initialMode: z.string().min(1).optional(),
  /** Reported with measurements; default `fulcrum-virtual-<device>-seed<seed>`, `fulcrum-table-<file>`, `python-torch-<version>-<cpu|cuda>`. */
  softwareStack: z.string().min(1).optional(),
  /** The device-controller (runtime's peer section); `address` unset: no controller, the plan's mode is used as is. */
  controller: peerConfigSchema({ port: DEFAULT_GRPC_PORTS['device-controller'], timeoutS: 2, attempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 })
    .extend({
      address: z.string().min(1).optional(),
      /** Settle time asked of the controller when a plan switches the mode, s. */
      settleS: z.number().min(0).default(0),
    })
    .prefault({}),
  host: z
    .object({
      /** Python with torch; default FULCRUM_PYTHON or /usr/bin/python3. */
      python: z.string().min(1).optional(),
      threads: z.number().int().min(1).default(1),
      device: z.enum(['cpu', 'auto']).default('auto'),
      /** Model per workload name (JSON in env); a workload not listed runs the built-in CNN. */
      models: z.record(z.string(), modelSpecSchema).default({}),
    })
    .prefault({}),
  executor: z
    .object({
      /** Publish telemetry (queues, latency, throughput) this often, wall seconds; 0 = never. */
      telemetryIntervalS: z.number().min(0).default(1),
      maxQueueDepth: z.number().int().positive().default(1024),
      expiredRequests: z.enum(['serve', 'reject']).default('serve'),
      /** Shortest gap between two activity publishes, ms. */
      activityIntervalMs: z.number().int().min(0).default(50),
      /** Re-publish the activity this often, ms (the controller expires a silent one); 0 = never. */
      activityHeartbeatMs: z.number().int().min(0).default(1000),
      /** Before a measurement's first minibatch, wait this long after announcing it, ms. */
      measurementLeadMs: z.number().int().min(0).default(10),
      /** Warm-up + measured minibatches one RunMeasurement may ask for. */
      maxMeasurementMinibatches: z.number().int().positive().default(10_000),
      /** On close, serve what is queued for at most this long, ms; the rest get `shutdown`. */
      drainTimeoutMs: z.number().int().min(0).default(5000),
    })
    .prefault({}),
});

export type ExecutorServiceConfig = z.output<typeof executorServiceConfigSchema>;
export type ExecutorServiceConfigInput = z.input<typeof executorServiceConfigSchema>;

export function loadExecutorServiceConfig(options: LoadConfigOptions = {}): LoadedConfig<ExecutorServiceConfig> {
  return loadConfig(executorServiceConfigSchema, options);
}

/** A config from code: defaults filled, checked (throws a ZodError on bad values). */
export function executorServiceConfig(input: ExecutorServiceConfigInput = {}): ExecutorServiceConfig {
  return executorServiceConfigSchema.parse(input);
}

export interface ExecutorServiceOptions {
  readonly logger: Logger;
  /** Default one from `nats.url` (in-process without it), closed on close. Given: not closed. */
  readonly bus?: EventBus | undefined;
  readonly registry?: Registry | undefined;
  /** Close on SIGTERM/SIGINT, then exit. Default false: the caller owns signals. */
  readonly handleSignals?: boolean;
}

export interface ExecutorService extends RunningService {
  readonly device: string;
  readonly bus: EventBus;
  /** The interleaving runtime, once a plan was applied. */
  readonly executor: Executor | undefined;
  readonly runner: GatedRunner;
  /** The device-controller client, when `controller.address` is set. */
  readonly controller: DeviceControllerLink | undefined;
  /** One inference request, as the NATS path and `Infer` serve it (counted in the metrics). */
  infer(stream: string, input?: unknown, requestId?: string): Promise<InferOutcome>;
}

interface AppliedPlan {
  readonly problem: Problem;
  readonly proto: common.Plan;
  readonly appliedAt: Date;
}

function resolveMode(text: string, device: string, field: string): PowerMode {
  if (!text.includes(',')) return getPreset(DEVICES.find((d) => d.id === device) ?? DEVICES[0]!, text, field).mode;
  return parsePowerMode(text, field);
}

async function openEngine(config: ExecutorServiceConfig, logger: Logger): Promise<{ engine: MinibatchEngine; clock: Clock; model: DeviceBackend | undefined }> {
  if (config.runner === 'host') {
    if (config.timeScale !== 1) logger.warn({ timeScale: config.timeScale }, 'timeScale applies to the simulated runner only; the host runs in real time');
    return {
      engine: new HostEngine({ models: config.host.models, python: config.host.python, threads: config.host.threads, device: config.host.device, logger, softwareStack: config.softwareStack }),
      clock: new RealClock(),
      model: undefined,
    };
  }
  let model: DeviceBackend;
  let stack: string;
  if (config.backend === 'table') {
    if (!config.profiles) throw new ValidationError('profiles', 'backend table needs a profile CSV (--profiles, FULCRUM_PROFILES)');
    model = createBackend({ type: 'table', table: await loadProfileTable(config.profiles), name: basename(config.profiles), ...(config.noise !== undefined ? { noise: config.noise } : {}), seed: config.seed });
    stack = config.softwareStack ?? `fulcrum-table-${basename(config.profiles)}`;
  } else {
    model = createBackend({ type: 'virtual', device: config.device, seed: config.seed, ...(config.noise !== undefined ? { noise: config.noise } : {}) });
    stack = config.softwareStack ?? `fulcrum-virtual-${model.device.id}-seed${config.seed}`;
  }
  const initial = config.initialMode ? resolveMode(config.initialMode, model.device.id, 'initialMode') : model.device.presets.find((p) => p.name === 'MAXN')?.mode;
  const clock = new ScaledClock(config.timeScale);
  return { engine: new SimulatedEngine(model, clock, stack, initial), clock, model };
}

/** The executor's error codes as gRPC statuses (executor.proto, Infer). */
function inferStatus(err: InferenceError): GrpcStatusError {
  const code = status[grpcStatusName(err.code) as keyof typeof status] as status;
  return new GrpcStatusError(code, err.message, err.code === 'unknown-stream' ? 'stream' : '');
}

function decodeInput(req: pb.InferRequest): unknown {
  if (req.input.length === 0) return undefined;
  const type = req.contentType || 'application/json';
  if (type === 'application/octet-stream') return new Uint8Array(req.input);
  if (type !== 'application/json') throw new ValidationError('contentType', `must be application/json or application/octet-stream, got ${describeValue(req.contentType)}`);
  try {
    return JSON.parse(req.input.toString('utf8'));
  } catch (err) {
    throw new ValidationError('input', `is not JSON: ${(err as Error).message}`);
  }
}

/**
 * Starts the executor service. Nothing runs until the first ApplyPlan (Status: IDLE; Infer and
 * NATS requests get `not-running` → UNAVAILABLE / `unavailable`). RunMeasurement works at any time.
 */
export async function startExecutorService(config: ExecutorServiceConfig, options: ExecutorServiceOptions): Promise<ExecutorService> {
  const logger = serviceLogger(options.logger, 'executor');
  const device = config.device;
  const { engine, clock, model } = await openEngine(config, logger);
  const modelDevice = model?.device.id ?? (DEVICES.some((d) => d.id === device) ? device : undefined);
  const ownBus = !options.bus;
  let bus: EventBus;
  try {
    bus = options.bus ?? (await createEventBus({ natsUrl: config.nats.url, logger }));
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }
  const registry = options.registry ?? createMetricsRegistry('executor');

  // ---- metrics
  let executor: Executor | undefined;
  let applied: AppliedPlan | undefined;
  const knownStream = (stream: string): string => (applied?.problem.streams.some((s) => s.name === stream) ? stream : '_unknown');
  const requests = new Counter({
    name: 'fulcrum_executor_requests_total',
    help: 'Inference requests answered, by stream and outcome (ok, late: a result after its budget, or the error code)',
    labelNames: ['stream', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'fulcrum_executor_request_latency_seconds',
    help: 'Arrival to result of answered requests, device seconds',
    labelNames: ['stream'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'fulcrum_executor_queue_depth',
    help: 'Requests waiting per stream',
    labelNames: ['stream'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of executor?.status().streams ?? []) this.set({ stream: s.stream }, s.queueDepth);
    },
  });
  new Gauge({
    name: 'fulcrum_executor_train_throughput_samples_per_second',
    help: 'Training throughput since the plan was applied, samples per device second',
    registers: [registry],
    collect() {
      this.set(executor?.status().trainThroughputSamplesPerS ?? 0);
    },
  });
  const minibatches = new Counter({ name: 'fulcrum_executor_minibatches_total', help: 'Minibatches run, by kind (train, infer, measure)', labelNames: ['kind'], registers: [registry] });
  const plansApplied = new Counter({ name: 'fulcrum_executor_plans_applied_total', help: 'Plans that took effect', registers: [registry] });
  const measurements = new Counter({ name: 'fulcrum_executor_measurements_total', help: 'RunMeasurement calls by outcome', labelNames: ['outcome'], registers: [registry] });
  const controllerFailures = new Counter({ name: 'fulcrum_executor_controller_failures_total', help: 'Failed device-controller calls (each try), by method', labelNames: ['method'], registers: [registry] });

  // ---- activity → the controller; the runner behind the gate
  const activity = new ActivityPublisher({
    publish: (a) => bus.publish(activitySubject(device), { ...a, measuredAt: new Date().toISOString() }),
    minIntervalMs: config.executor.activityIntervalMs,
    heartbeatMs: config.executor.activityHeartbeatMs,
    onError: (err) => logger.debug({ err: String(err) }, 'publishing the activity failed'),
  });
  const runner = new GatedRunner(engine, activity, (kind) => minibatches.inc({ kind }));
  const link = config.controller.address
    ? new DeviceControllerLink({ config: { ...config.controller, address: config.controller.address }, logger, onFailure: (method) => controllerFailures.inc({ method }) })
    : undefined;

  // ---- the executor's events → the bus; a plan taking effect (at a minibatch boundary)
  const pending: { planId: string; problem: Problem; proto: common.Plan }[] = [];
  let busSink: ExecutorEventSink = busEventSink(bus, device, { logger });
  const onPlanInstalled = (plan: ExecutorPlan): void => {
    const i = pending.findIndex((p) => p.planId === plan.planId);
    if (i < 0) return;
    const [entry] = pending.splice(i, 1);
    runner.setProblem(entry!.problem);
    applied = { problem: entry!.problem, proto: entry!.proto, appliedAt: new Date() };
    busSink = busEventSink(bus, device, { logger, trainWorkload: entry!.problem.trainWorkload });
    plansApplied.inc();
  };
  const publishPlanApplied = (e: Extract<ExecutorEvent, { type: 'plan.applied' }>): void => {
    const a = applied;
    if (!a || a.proto.planId !== e.plan.planId || !e.plan.mode) return;
    const p = a.proto;
    bus
      .publish(planAppliedSubject(device), {
        planId: p.planId,
        appliedAt: a.appliedAt.toISOString(),
        mode: e.plan.mode,
        streams: a.problem.streams.map((s) => {
          const sp = p.streams.find((x) => x.stream === s.name);
          return {
            stream: s.name,
            batchSize: e.plan.batchSizes[s.name] ?? 1,
            arrivalRatePerS: s.arrivalRatePerS,
            latencyBudgetS: s.latencyBudgetS,
            ...(sp && sp.predictedLatencyS > 0 ? { predictedLatencyS: sp.predictedLatencyS } : {}),
            ...(sp && sp.utilization > 0 ? { utilization: sp.utilization } : {}),
          };
        }),
        trainWorkload: a.problem.trainWorkload,
        trainBatchSize: a.problem.trainBatchSize,
        ...(p.predictedTrainThroughputSamplesPerS > 0 ? { predictedTrainThroughputSamplesPerS: p.predictedTrainThroughputSamplesPerS } : {}),
        ...(p.predictedPowerW > 0 ? { predictedPowerW: p.predictedPowerW } : {}),
        feasible: p.feasible,
        ...(p.strategy ? { strategy: p.strategy } : {}),
      })
      .catch((err: unknown) => logger.warn({ err: String(err) }, 'publishing plan.applied failed'));
  };
  const events: ExecutorEventSink = {
    publish: (e) => {
      if (e.type === 'plan.applied') {
        onPlanInstalled(e.plan);
        publishPlanApplied(e);
        return;
      }
      busSink.publish(e);
    },
  };

  // ---- inference, counted
  const infer = async (stream: string, input?: unknown, requestId?: string): Promise<InferOutcome> => {
    try {
      if (!executor) throw new InferenceError('not-running', stream, requestId ?? '', 'no plan applied yet (ApplyPlan first)');
      const r = await executor.infer(stream, input, requestId ? { requestId } : {});
      requests.inc({ stream: knownStream(stream), outcome: r.late ? 'late' : 'ok' });
      latency.observe({ stream: knownStream(stream) }, r.latencyS);
      return r;
    } catch (err) {
      requests.inc({ stream: knownStream(stream), outcome: isInferenceError(err) ? err.code : 'internal' });
      throw err;
    }
  };

  let inferService: InferenceService | undefined;

  // ---- gRPC
  let applyChain: Promise<unknown> = Promise.resolve();
  const applyPlan = async (req: pb.ApplyPlanRequest): Promise<pb.ApplyPlanResponse> => {
    const problem = problemFromProto(req.problem, modelDevice ? { defaultDevice: modelDevice } : {});
    if (modelDevice && problem.device !== modelDevice) throw new ValidationError('problem.device', `this executor runs ${describeValue(modelDevice)}, got ${describeValue(problem.device)}`);
    engine.check({ workload: problem.trainWorkload, kind: 'train', batchSize: problem.trainBatchSize }, { workload: 'problem.trainWorkload' });
    problem.streams.forEach((s, i) => engine.check({ workload: s.workload, kind: 'infer', batchSize: 1 }, { workload: `problem.streams[${i}].workload` }));
    const { plan, proto } = planFromProto(req.plan, problem);
    // The simulated device must be able to run every minibatch of the plan at its mode (on the grid;
    // in the table for a table model). The controller, when there is one, judges the mode as well.
    engine.check({ workload: problem.trainWorkload, kind: 'train', batchSize: problem.trainBatchSize, mode: plan.mode }, { workload: 'problem.trainWorkload', mode: 'plan.mode' });
    problem.streams.forEach((s, i) =>
      engine.check({ workload: s.workload, kind: 'infer', batchSize: plan.batchSizes[s.name]!, mode: plan.mode }, { workload: `problem.streams[${i}].workload`, mode: 'plan.mode' }),
    );
    if (!link && !model && modelDevice) {
      const spec = DEVICES.find((d) => d.id === modelDevice)!;
      assertOnGrid(plan.mode, spec.grid, spec.id, 'plan.mode');
    }
    let mode = plan.mode;
    if (link) {
      try {
        mode = (await link.setMode(plan.mode, config.controller.settleS)).mode;
      } catch (err) {
        // The controller judged the mode: name it as the plan's field.
        if (isServiceError(err) && err.code === status.INVALID_ARGUMENT) throw new ValidationError(`plan.${errorField(err) ?? 'mode'}`, err.details);
        throw err;
      }
    }
    const executorPlan: ExecutorPlan = { ...plan, mode };
    pending.push({ planId: plan.planId, problem, proto: common.Plan.fromPartial({ ...proto, mode }) });
    if (!executor) {
      runner.setMode(mode);
      executor = new Executor({
        runner,
        problem,
        plan: executorPlan,
        clock,
        events,
        logger,
        maxQueueDepth: config.executor.maxQueueDepth,
        expiredRequests: config.executor.expiredRequests,
        telemetryIntervalS: config.executor.telemetryIntervalS * clock.scale,
      });
      executor.start();
    } else {
      await executor.applyPlan(executorPlan, problem);
    }
    logger.info({ planId: plan.planId, mode, batchSizes: plan.batchSizes, strategy: plan.strategy }, 'plan applied');
    return pb.ApplyPlanResponse.fromPartial({ planId: plan.planId, mode: { ...mode }, appliedAt: applied?.proto.planId === plan.planId ? applied.appliedAt : new Date() });
  };

  const measure = async (req: pb.RunMeasurementRequest): Promise<pb.RunMeasurementResponse> => {
    const { workload, kind } = measurementRunFromProto(req);
    if (req.warmupMinibatches + req.measuredMinibatches > config.executor.maxMeasurementMinibatches) {
      throw new ValidationError('measuredMinibatches', `warm-up + measured must be at most ${config.executor.maxMeasurementMinibatches}, got ${req.warmupMinibatches + req.measuredMinibatches}`);
    }
    engine.check({ workload, kind, batchSize: req.batchSize }, { workload: 'workload.name' });
    try {
      // The board's mode now: the profiler switched it before asking.
      const mode = link ? await link.getMode() : engine.mode;
      if (model) {
        if (!mode) throw new GrpcStatusError(status.FAILED_PRECONDITION, 'no power mode known: configure controller.address or initialMode');
        try {
          engine.check({ workload, kind, batchSize: req.batchSize, mode }, { workload: 'workload.name', mode: 'mode' });
        } catch (err) {
          if (err instanceof ValidationError) throw new GrpcStatusError(status.FAILED_PRECONDITION, err.reason, 'mode');
          throw err;
        }
        runner.setMode(mode);
      }
      const r = await runner.measure({
        workload,
        kind,
        batchSize: req.batchSize,
        warmupMinibatches: req.warmupMinibatches,
        measuredMinibatches: req.measuredMinibatches,
        activityLeadMs: config.executor.measurementLeadMs,
      });
      measurements.inc({ outcome: 'ok' });
      return measurementOutcomeToProto({
        minibatchTimesMs: r.minibatchTimesMs,
        windowStartMs: r.windowStart.getTime(),
        windowEndMs: r.windowEnd.getTime(),
        softwareStack: await engine.softwareStack(),
        runner: engine.name,
      });
    } catch (err) {
      measurements.inc({ outcome: err instanceof GrpcStatusError || isServiceError(err) ? (status[err.code] ?? 'failed') : 'failed' });
      throw err;
    }
  };

  const statusOf = (): pb.StatusResponse => {
    if (!executor) return pb.StatusResponse.fromPartial({ state: runner.measuring ? pb.State.STATE_MEASURING : pb.State.STATE_IDLE });
    const s = executor.status();
    const state = runner.measuring
      ? pb.State.STATE_MEASURING
      : s.state === 'running'
        ? pb.State.STATE_RUNNING
        : s.state === 'draining'
          ? pb.State.STATE_DRAINING
          : pb.State.STATE_IDLE;
    const violations: common.Violation[] = [];
    if (s.utilization >= 1) violations.push({ constraint: constraintToProto('stability'), stream: '', value: s.utilization, limit: 1 });
    for (const st of s.streams) {
      if (st.latency.count > 0 && st.latency.p99S > st.latencyBudgetS) {
        violations.push({ constraint: constraintToProto('latency'), stream: st.stream, value: st.latency.p99S, limit: st.latencyBudgetS });
      }
    }
    return pb.StatusResponse.fromPartial({
      state,
      ...(applied ? { plan: applied.proto, planAppliedAt: applied.appliedAt } : {}),
      streams: s.streams.map((st) => ({
        stream: st.stream,
        batchSize: st.batchSize,
        arrivalRatePerS: st.arrivalRatePerS,
        queueDepth: st.queueDepth,
        latencyP50S: st.latency.p50S,
        latencyP99S: st.latency.p99S,
        latencyMaxS: st.latency.maxS,
        completed: st.completed,
        failed: Object.values(st.failed).reduce((a, b) => a + b, 0),
      })),
      trainThroughputSamplesPerS: s.trainThroughputSamplesPerS,
      trainMinibatches: s.trainMinibatches,
      utilization: Math.min(1, s.utilization),
      verdict: { feasible: violations.length === 0, violations },
    });
  };

  const implementation = {
    applyPlan: unary<pb.ApplyPlanRequest, pb.ApplyPlanResponse>((req) => {
      // One plan change at a time, in arrival order; a failed one does not block the next.
      const run = applyChain.then(() => applyPlan(req));
      applyChain = run.catch(() => undefined);
      return run;
    }, logger),
    status: unary<pb.StatusRequest, pb.StatusResponse>(() => statusOf(), logger),
    runMeasurement: unary<pb.RunMeasurementRequest, pb.RunMeasurementResponse>(measure, logger),
    infer: unary<pb.InferRequest, pb.InferResponse>(async (req) => {
      if (!req.stream) throw new ValidationError('stream', 'is required');
      const input = decodeInput(req);
      try {
        const r = await infer(req.stream, input, req.requestId || undefined);
        return pb.InferResponse.fromPartial({
          requestId: r.requestId,
          output: Buffer.from(JSON.stringify(r.output ?? null)),
          contentType: 'application/json',
          latencyS: r.latencyS,
          queueS: r.queueS,
          batchSize: r.batchSize,
        });
      } catch (err) {
        if (isInferenceError(err)) throw inferStatus(err);
        throw err;
      }
    }, logger),
  };

  let running: RunningService;
  try {
    inferService = bus.serve(inferFilter(device), async (request, subject): Promise<InferenceReply> => {
      try {
        const r = await infer(subject.stream, request.input, request.requestId);
        return { requestId: request.requestId, output: r.output, latencyS: r.latencyS, queueS: r.queueS, batchSize: r.batchSize };
      } catch (err) {
        if (isInferenceError(err)) return { requestId: request.requestId, error: { code: busErrorCode(err.code), message: err.message } };
        return { requestId: request.requestId, error: { code: 'internal', message: (err as Error).message } };
      }
    });
    running = await startService({
      name: 'executor',
      grpc: config.grpc,
      metrics: config.metrics,
      bindings: [{ name: EXECUTOR_SERVICE_NAME, definition: pb.ExecutorService, implementation }],
      logger,
      registry,
      descriptorSet: loadDescriptorSet(),
      onClose: async () => {
        inferService?.stop();
        if (executor) {
          const stopped = executor.stop({ drain: true });
          const timedOut = await Promise.race([stopped.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), config.executor.drainTimeoutMs).unref())]);
          if (timedOut) logger.warn({ drainTimeoutMs: config.executor.drainTimeoutMs }, 'queues not drained in time; closing anyway');
        }
        await Promise.race([inferService?.drain(), new Promise((r) => setTimeout(r, 1000).unref())]);
        activity.close();
        await runner.close();
        link?.close();
        if (ownBus) await bus.close();
      },
    });
  } catch (err) {
    inferService?.stop();
    activity.close();
    await runner.close().catch(() => undefined);
    link?.close();
    if (ownBus) await bus.close().catch(() => undefined);
    throw err;
  }

  logger.info(
    { device, runner: engine.name, timeScale: clock.scale, controller: config.controller.address ?? null, address: running.address, metrics: running.metricsUrl, bus: bus.backend },
    'executor ready',
  );

  const service: ExecutorService = {
    ...running,
    close: running.close,
    device,
    bus,
    get executor() {
      return executor;
    },
    runner,
    controller: link,
    infer,
  };
  if (options.handleSignals) closeOnSignals(service, logger);
  return service;
}

