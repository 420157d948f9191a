/**
 * The profiler service's wiring: config, metrics, the bus, the profile store, the peer clients
 * and the `Profiler` library on a cleanup stack, served by the gRPC adapter (grpc.ts) through
 * runtime's `openService` (gRPC + health + reflection + /metrics + /healthz + graceful close).
 */
import { BUILTIN_CATALOG } from '@fulcrum/core';
import { openWorkloadRegistry, stackTagOf } from '@fulcrum/workloads';
import { ValidationError } from '@fulcrum/core';
import { loadProfileTableSetting, type ProfileTable } from '@fulcrum/devices';
import { givenOrOpenedBus, type EventBus } from '@fulcrum/bus/internal';
import { openProfileStore, type ProfileStore } from '@fulcrum/store';
import { profiler } from '@fulcrum/proto';
import type { RunningService } from '@fulcrum/runtime';
import { natsBusOptions, openService, type ServiceOptions, registerBusMetrics } from '@fulcrum/runtime/internal';
import { profilerConfigSchema, type ProfilerConfig, type ProfilerConfigInput } from './config.js';
import { PROFILER_SERVICE_NAME, profilerGrpcImplementation } from './grpc.js';
import { createProfilerMetrics } from './metrics.js';
import { grpcDeviceController, grpcExecutor, type DeviceControllerPort, type ExecutorPort } from './peers.js';
import { Profiler } from './profiler.js';

export interface ProfilerServiceDeps extends ServiceOptions {
  /** A bus to publish on (the embedded default shares one); else `nats.url`, else a private in-process bus. */
  readonly bus?: EventBus | undefined;
  /** A store to use; else opened from `store.*` (and closed on close). */
  readonly store?: ProfileStore | undefined;
  /** In-process peers (an embedding program); else gRPC clients from `controller.*` / `executor.*`. */
  readonly controller?: DeviceControllerPort | undefined;
  readonly executor?: ExecutorPort | undefined;
  /** The board's profile table, already read (`serve all` reads it once for every service); else read from `profiles`. */
  readonly boardTable?: ProfileTable | undefined;
}

export interface RunningProfilerService extends RunningService {
  readonly profiler: Profiler;
  readonly store: ProfileStore;
  readonly bus: EventBus;
  readonly config: ProfilerConfig;
}

/**
 * Starts the profiler service. `config` is parsed with `profilerConfigSchema` (so a partial object
 * works from code: `startProfilerService({ grpc: { port: 0 }, controller: { address } }, { logger })`).
 * What it opens (bus, store, peer clients) it closes on `close()`; what it is given it leaves open.
 */
export async function startProfilerService(config: ProfilerConfigInput | ProfilerConfig, deps: ProfilerServiceDeps): Promise<RunningProfilerService> {
  const cfg = profilerConfigSchema.parse(config);
  return openService('profiler', cfg, deps, async ({ logger, registry, cleanup, serve }) => {
    const metrics = createProfilerMetrics(registry);
    const bus = await givenOrOpenedBus(deps.bus, { ...natsBusOptions(cfg.nats, logger), logger }, cleanup);
    registerBusMetrics(registry, bus);
    let store = deps.store;
    if (!store) {
      if (cfg.store.backend === 'kv' && bus.backend !== 'nats' && !deps.bus) {
        throw new ValidationError('store.backend', 'the kv store needs nats.url (JetStream KV) or a shared bus');
      }
      store = await openProfileStore(cfg.store.backend === 'kv' ? { backend: 'kv', bus, bucket: cfg.store.bucket } : { backend: 'sqlite', path: cfg.store.path });
      const owned = store;
      cleanup.defer(() => owned.close());
    }
    const onRetry = (peer: string): void => metrics.peerRetries.inc({ peer });
    const controller = deps.controller ?? grpcDeviceController({ config: cfg.controller, logger, onRetry });
    if (!deps.controller) cleanup.defer(() => controller.close?.());
    const executorPort = deps.executor ?? grpcExecutor({ config: cfg.executor, logger, onRetry });
    if (!deps.executor) cleanup.defer(() => executorPort.close?.());
    const workloads = openWorkloadRegistry(cfg.workloads);
    const tableCatalog = deps.boardTable || cfg.profiles ? (deps.boardTable ?? (await loadProfileTableSetting(cfg.profiles!))).catalog() : undefined;
    const lib = new Profiler({
      catalog: workloads.catalog(tableCatalog ?? BUILTIN_CATALOG),
      workloadTag: (workload) => (workloads.has(workload) ? stackTagOf(workloads.get(workload)) : undefined),
      controller,
      executor: executorPort,
      store,
      bus,
      softwareStack: cfg.softwareStack,
      protocol: cfg.protocol,
      maxUnpublishedEvents: cfg.maxUnpublishedEvents,
      logger,
      metrics,
    });
    cleanup.defer(() => lib.close());
    const running = await serve({ name: PROFILER_SERVICE_NAME, definition: profiler.ProfilerService, implementation: profilerGrpcImplementation(lib, logger) as never }, { healthy: () => bus.status() !== 'closed' });
    logger.info(
      { address: running.address, store: store.backend, bus: bus.backend, controller: deps.controller ? 'in-process' : cfg.controller.address, executor: deps.executor ? 'in-process' : cfg.executor.address },
      'profiler ready',
    );
    return Object.assign(running, { profiler: lib, store, bus, config: cfg });
  });
}
