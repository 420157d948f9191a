/**
 * The executor service's wiring: config, metrics, the bus, the minibatch engine, the
 * device-controller link and the `ExecutorNode` library on a cleanup stack, served by the gRPC
 * adapter (grpc.ts) through runtime's `openService` (gRPC + health + reflection + /metrics +
 * /healthz + graceful close).
 *
 * The runner is chosen by `runner`:
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
import { DEVICES, ValidationError, getPreset, parsePowerMode, type PowerMode } from '@fulcrum/core';
import { createBackend, loadProfileTable, type DeviceBackend } from '@fulcrum/devices';
import { givenOrOpenedBus, type EventBus } from '@fulcrum/bus/internal';
import { executor as pb } from '@fulcrum/proto';
import type { Logger, RunningService } from '@fulcrum/runtime';
import { natsBusOptions, openService, type ServiceOptions, registerBusMetrics } from '@fulcrum/runtime/internal';
import { RealClock, ScaledClock, type Clock } from './clock.js';
import { defaultCheckpointDir, executorServiceConfigSchema, type ExecutorServiceConfig, type ExecutorServiceConfigInput } from './config.js';
import { DeviceControllerLink } from './controller-link.js';
import type { InferOutcome, Executor } from './executor.js';
import { EXECUTOR_SERVICE_NAME, executorGrpcImplementation } from './grpc.js';
import { createExecutorServiceMetrics } from './metrics.js';
import { BoardAnnouncer, advertisedAddress } from './announce.js';
import { ExecutorNode } from './node.js';
import { openWorkloadRegistry, simulatableWorkloads } from '@fulcrum/workloads';
import { GatedRunner, HostEngine, SimulatedEngine, type MinibatchEngine } from './service-runner.js';

export interface ExecutorServiceOptions extends ServiceOptions {
  /** Default one from `nats.url` (in-process without it), closed on close. Given: not closed. */
  readonly bus?: EventBus | undefined;
}

export interface ExecutorService extends RunningService {
  readonly device: string;
  readonly bus: EventBus;
  /** What the service serves: plans, measurements, inference, status. */
  readonly node: ExecutorNode;
  /** The interleaving runtime, once a plan was applied. */
  readonly executor: Executor | undefined;
  readonly runner: GatedRunner;
  /** The device-controller client, when `controller.address` is set. */
  readonly controller: DeviceControllerLink | undefined;
  /** One inference request, as the NATS path and `Infer` serve it (counted in the metrics). */
  infer(stream: string, input?: unknown, requestId?: string): Promise<InferOutcome>;
}

function resolveMode(text: string, device: string, field: string): PowerMode {
  if (!text.includes(',')) return getPreset(DEVICES.find((d) => d.id === device) ?? DEVICES[0]!, text, field).mode;
  return parsePowerMode(text, field);
}

/** The engine `runner` names: the host's PyTorch workers, or the simulated device (virtual or a profile table) on a scaled clock. */
export async function openEngine(config: ExecutorServiceConfig, logger: Logger): Promise<{ engine: MinibatchEngine; clock: Clock; model: DeviceBackend | undefined }> {
  if (config.runner === 'host') {
    if (config.timeScale !== 1) logger.warn({ timeScale: config.timeScale }, 'timeScale applies to the simulated runner only; the host runs in real time');
    return {
      engine: new HostEngine({
        registry: openWorkloadRegistry(config.workloads),
        python: config.host.python,
        threads: config.host.threads,
        device: config.host.device,
        onnx: config.host.onnx,
        checkpoints: config.checkpoints.enabled ? { dir: config.checkpoints.dir ?? defaultCheckpointDir(), everySteps: config.checkpoints.everySteps, everyS: config.checkpoints.everyS } : false,
        seed: config.seed,
        logger,
        softwareStack: config.softwareStack,
      }),
      clock: new RealClock(),
      model: undefined,
    };
  }
  let model: DeviceBackend;
  let stack: string;
  if (config.backend === 'table') {
    if (!config.profiles) throw new ValidationError('profiles', 'backend table needs a profile CSV (--profiles, FULCRUM_PROFILES)');
    model = createBackend({ type: 'table', table: await loadProfileTable(config.profiles), name: basename(config.profiles), ...(config.noise !== undefined ? { noise: config.noise } : {}), seed: config.seed });
    if (config.device !== undefined && config.device !== model.device.id) {
      throw new ValidationError('device', `the profile table ${basename(config.profiles)} is of ${model.device.id}, not ${config.device} (leave device out on a table backend)`);
    }
    stack = config.softwareStack ?? `fulcrum-table-${basename(config.profiles)}`;
  } else {
    const workloads = simulatableWorkloads(openWorkloadRegistry(config.workloads).userFolders(), (f, reason) =>
      logger.warn({ workload: f.manifest.name, reason }, 'the virtual board cannot simulate this workload folder; it is left out'),
    );
    model = createBackend({ type: 'virtual', device: config.device ?? 'orin-agx', seed: config.seed, ...(config.noise !== undefined ? { noise: config.noise } : {}), workloads });
    stack = config.softwareStack ?? `fulcrum-virtual-${model.device.id}-seed${config.seed}`;
  }
  const initial = config.initialMode ? resolveMode(config.initialMode, model.device.id, 'initialMode') : model.device.presets.find((p) => p.name === 'MAXN')?.mode;
  const clock = new ScaledClock(config.timeScale);
  return { engine: new SimulatedEngine(model, clock, stack, initial), clock, model };
}

/** The running plan's budget and predictions, for the plan gauges (undefined before a plan). */
export function planFigures(node: ExecutorNode | undefined) {
  const applied = node?.applied;
  return applied && { powerBudgetW: applied.problem.powerBudgetW, predictedPowerW: applied.record.predictedPowerW, predictedTrainThroughputSamplesPerS: applied.record.predictedTrainThroughputSamplesPerS };
}

/**
 * Starts the executor service. Nothing runs until the first ApplyPlan (Status: IDLE; Infer and
 * NATS requests get `not-running` → UNAVAILABLE / `unavailable`). RunMeasurement works at any time.
 * What it opens (bus, engine, controller link) it closes on `close()`; a given bus stays open.
 */
export async function startExecutorService(config: ExecutorServiceConfigInput | ExecutorServiceConfig, options: ExecutorServiceOptions): Promise<ExecutorService> {
  const cfg = executorServiceConfigSchema.parse(config);
  return openService('executor', cfg, options, async ({ logger, registry, cleanup, serve }) => {
    let node: ExecutorNode | undefined;
    const metrics = createExecutorServiceMetrics(registry, () => node?.executor?.status(), () => planFigures(node));
    const bus = await givenOrOpenedBus(options.bus, { ...natsBusOptions(cfg.nats, logger), logger }, cleanup);
    registerBusMetrics(registry, bus);
    // On close, once the executor has stopped and before the bus closes: the board's last
    // announcement, state `stopped` (bounded, STOPPED_ANNOUNCEMENT_LIMIT_MS), so optimizers stop listing it as running.
    let announcer: BoardAnnouncer | undefined;
    cleanup.defer(() => announcer?.stop());
    const { engine, clock, model } = await openEngine(cfg, logger);
    const device = cfg.device ?? model?.device.id ?? 'orin-agx';
    cleanup.defer(() => (node ? node.close() : engine.close())); // the node closes its engine
    const link = cfg.controller.address
      ? new DeviceControllerLink({ config: { ...cfg.controller, address: cfg.controller.address }, logger, onFailure: (method) => metrics.controllerFailures.inc({ method }) })
      : undefined;
    if (link) cleanup.defer(() => link.close());
    const lib = new ExecutorNode({ board: cfg.board, device, engine, clock, model, controller: link, settleS: cfg.controller.settleS, bus, logger, metrics, limits: cfg.executor });
    node = lib;
    const running = await serve({ name: EXECUTOR_SERVICE_NAME, definition: pb.ExecutorService, implementation: executorGrpcImplementation(lib, logger) as never });
    logger.info(
      { device, runner: engine.name, timeScale: clock.scale, controller: cfg.controller.address ?? null, address: running.address, metrics: running.metricsUrl, bus: bus.backend },
      'executor ready',
    );
    announcer = new BoardAnnouncer({
      bus,
      board: cfg.board,
      device,
      executorAddress: advertisedAddress({ host: cfg.grpc.host, port: running.port }, cfg.advertiseAddress),
      intervalS: cfg.executor.announceIntervalS,
      softwareStack: () => engine.softwareStack(),
      state: () => {
        const s = lib.status();
        return { state: s.state, planId: s.applied?.plan.planId };
      },
      logger,
    });
    announcer.start();
    const periodic = announcer;
    const service: ExecutorService = {
      ...running,
      // A measurement in flight stops first, so the gRPC grace period is not spent waiting for it.
      // The periodic announcements stop at once (the cleanup stack sends the last one, `stopped`).
      close: (graceMs?: number) => {
        periodic.close();
        lib.stopMeasurements();
        return running.close(graceMs);
      },
      device,
      bus,
      node: lib,
      get executor() {
        return lib.executor;
      },
      runner: lib.runner,
      controller: link,
      infer: (stream, input, requestId) => lib.infer(stream, input, requestId),
    };
    return service;
  });
}
