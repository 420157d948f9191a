/**
 * The optimizer service's wiring: config, metrics, the bus, the peer clients and the `Optimizer`
 * library on a cleanup stack, served by the gRPC adapter (grpc.ts) through runtime's
 * `openService` (gRPC + health + reflection + /metrics + /healthz + graceful close), with the
 * arrival-rate watcher on the bus.
 */
import { openWorkloadRegistry } from '@fulcrum/workloads';
import { givenOrOpenedBus, type EventBus } from '@fulcrum/bus/internal';
import { basename } from 'node:path';
import { ValidationError, type Catalog, type Problem } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { loadProfileTableSetting, type ProfileTable } from '@fulcrum/devices';
import { optimizer } from '@fulcrum/proto';
import { status } from '@grpc/grpc-js';
import { GrpcStatusError, type RunningService } from '@fulcrum/runtime';
import { natsBusOptions, openService, type ServiceOptions, registerBusMetrics } from '@fulcrum/runtime/internal';
import { optimizerConfigSchema, type OptimizerConfig, type OptimizerConfigInput } from './config.js';
import { OPTIMIZER_SERVICE_NAME, optimizerGrpcImplementation } from './grpc.js';
import { createOptimizerMetrics } from './metrics.js';
import { Optimizer } from './optimizer.js';
import { announcedExecutorRefusal, parseBoardHosts } from './executor-trust.js';
import { grpcPlanExecutor, grpcProfiler, type PlanExecutorPort, type ProfilerPort } from './ports.js';
import type { ProfileProtocolOverrides } from './strategies.js';

export interface OptimizerServiceDeps extends ServiceOptions {
  /** The bus arrival rates come on (the embedded default shares one); else `nats.url`, else a private in-process bus. */
  readonly bus?: EventBus | undefined;
  /** In-process peers (an embedding program, e.g. the profiler library); else gRPC clients from config. */
  readonly profiler?: ProfilerPort | undefined;
  readonly executor?: PlanExecutorPort | undefined;
  /** Measurement protocol sent with every Profile call (absent: the profiler's own defaults). */
  readonly profileProtocol?: ProfileProtocolOverrides | undefined;
  /** The board's profile table, already read (`serve all` reads it once for every service); else read from `profiles`. */
  readonly boardTable?: ProfileTable | undefined;
}

export interface RunningOptimizerService extends RunningService {
  readonly optimizer: Optimizer;
  readonly bus: EventBus;
  readonly config: OptimizerConfig;
}

/**
 * The device and workloads of the board's table (read from `path`), and nothing else: the
 * profiler's board is that table, so a problem naming another device or workload is refused here,
 * naming its field.
 */
function tableCatalog(table: ProfileTable, path: string): { catalog: Catalog; checkProblem: (problem: Problem) => void } {
  const full = table.catalog();
  const device = table.summary().device;
  const workloads = [...table.workloads()];
  const what = `the profile table ${basename(path)}`;
  const catalog: Catalog = {
    device(id, field = 'device') {
      if (id !== device) throw new ValidationError(field, `unknown device ${describeValue(id)}: this optimizer's board is ${what}'s ${device}`);
      return full.device(id, field);
    },
    workload(id, field = 'workload') {
      if (!workloads.includes(id)) throw new ValidationError(field, `unknown workload ${describeValue(id)}; ${what} has ${workloads.join(', ')}`);
      return full.workload(id, field);
    },
    deviceIds: () => [device],
    workloadIds: () => [...workloads],
  };
  /** What the table trains and serves, at which batch sizes (fields as the proto nests them). */
  const checkProblem = (problem: Problem): void => {
    const trained = table.batchSizes(problem.trainWorkload, 'train');
    if (trained.length === 0) {
      const trains = workloads.filter((w) => table.batchSizes(w, 'train').length > 0);
      throw new ValidationError('problem.trainWorkload.name', `${what} has no training rows for ${problem.trainWorkload} (it trains ${trains.join(', ') || 'nothing'})`);
    }
    if (!trained.includes(problem.trainBatchSize)) {
      throw new ValidationError('problem.trainBatchSize', `${what} trains ${problem.trainWorkload} at batch ${trained.join(', ')}, not ${problem.trainBatchSize}`);
    }
    problem.streams.forEach((s, i) => {
      if (table.batchSizes(s.workload, 'infer').length === 0) {
        const serves = workloads.filter((w) => table.batchSizes(w, 'infer').length > 0);
        throw new ValidationError(`problem.streams[${i}].workload.name`, `${what} has no inference rows for ${s.workload} (it serves ${serves.join(', ') || 'nothing'})`);
      }
      const served = table.batchSizes(s.workload, 'infer');
      const missing = s.candidateBatchSizes.filter((b) => !served.includes(b));
      if (missing.length > 0) {
        throw new ValidationError(`problem.streams[${i}].candidateBatchSizes`, `${what} has no ${s.workload} inference rows at batch ${missing.join(', ')} (it has ${served.join(', ')}; send none for those)`);
      }
    });
  };
  return { catalog, checkProblem };
}

/**
 * Starts the optimizer service. `config` is parsed with `optimizerConfigSchema` (a partial object
 * works from code: `startOptimizerService({ grpc: { port: 0 }, profiler: { address } }, { logger })`).
 * What it opens (bus, peer clients) it closes on `close()`; what it is given it leaves open.
 */
export async function startOptimizerService(config: OptimizerConfigInput | OptimizerConfig, deps: OptimizerServiceDeps): Promise<RunningOptimizerService> {
  const cfg = optimizerConfigSchema.parse(config);
  return openService('optimizer', cfg, deps, async ({ logger, registry, cleanup, serve }) => {
    const metrics = createOptimizerMetrics(registry);
    const bus = await givenOrOpenedBus(deps.bus, { ...natsBusOptions(cfg.nats, logger), logger }, cleanup);
    registerBusMetrics(registry, bus);
    const onRetry = (peer: string): void => metrics.peerRetries.inc({ peer });
    const profilerPort = deps.profiler ?? grpcProfiler({ config: cfg.profiler, logger, onRetry });
    if (!deps.profiler) cleanup.defer(() => profilerPort.close?.());
    let executorPort = deps.executor;
    if (!executorPort && cfg.executor.apply) {
      const owned = grpcPlanExecutor({ config: cfg.executor, logger, onRetry });
      executorPort = owned;
      cleanup.defer(() => owned.close?.());
    }
    const boardHosts = parseBoardHosts(cfg.executor.boardHosts);
    const boardTable = deps.boardTable ?? (cfg.profiles ? await loadProfileTableSetting(cfg.profiles) : undefined);
    const table = boardTable ? tableCatalog(boardTable, cfg.profiles ?? boardTable.summary().device) : undefined;
    const lib = new Optimizer({
      catalog: table?.catalog ?? openWorkloadRegistry(cfg.workloads).catalog(),
      checkProblem: table?.checkProblem,
      profiler: profilerPort,
      executor: executorPort,
      // A Solve for a board applies on the executor it announced, with the executor section's token, TLS and retry.
      // The token goes only where no one else can read it (executor-trust.ts).
      executorAt: (address) => {
        const refused = announcedExecutorRefusal(address, cfg.executor, boardHosts);
        if (refused) throw new GrpcStatusError(status.FAILED_PRECONDITION, refused);
        return grpcPlanExecutor({ config: { ...cfg.executor, address }, logger, onRetry });
      },
      apply: cfg.executor.apply,
      defaults: cfg.defaults,
      noiseFraction: cfg.noiseFraction,
      margins: cfg.margins,
      softwareStack: cfg.softwareStack,
      profileProtocol: deps.profileProtocol,
      logger,
      metrics,
    });
    lib.strategy(); // the configured default strategy must exist
    cleanup.defer(() => lib.close());
    lib.watchBoards(bus);
    if (cfg.replan.auto) lib.watchArrivals(bus, cfg.replan);
    const running = await serve({ name: OPTIMIZER_SERVICE_NAME, definition: optimizer.OptimizerService, implementation: optimizerGrpcImplementation(lib, cfg.defaults, logger) as never }, { healthy: () => bus.status() !== 'closed' });
    logger.info(
      { address: running.address, profiler: deps.profiler ? 'in-process' : cfg.profiler.address, executor: executorPort ? (deps.executor ? 'in-process' : cfg.executor.address) : 'none', apply: cfg.executor.apply, autoReplan: cfg.replan.auto, bus: bus.backend },
      'optimizer ready',
    );
    return Object.assign(running, { optimizer: lib, bus, config: cfg });
  });
}
