/**
 * The device-controller service's wiring: config, metrics, the bus and the `DeviceControllerNode`
 * on a cleanup stack, served by the gRPC adapter (grpc.ts) through runtime's `openService`
 * (gRPC + health + reflection + bearer token and TLS + /metrics + /healthz + graceful close).
 *
 *   const svc = await startDeviceControllerService({ grpc: { port: 0 } }, { logger, bus });
 *   …
 *   await svc.close();   // stops serving, restores the mode found at start
 */
import { formatPowerMode, type PowerMode } from '@fulcrum/core';
import { givenOrOpenedBus, type EventBus } from '@fulcrum/bus/internal';
import { device as pb } from '@fulcrum/proto';
import type { RunningService } from '@fulcrum/runtime';
import { natsBusOptions, openService, type ServiceOptions, registerBusMetrics } from '@fulcrum/runtime/internal';
import type { DeviceControlBackend } from './backend.js';
import { deviceControllerServiceConfigSchema, type DeviceControllerServiceConfig, type DeviceControllerServiceConfigInput } from './config.js';
import { DEVICE_CONTROLLER_SERVICE_NAME, deviceControllerGrpcImplementation } from './grpc.js';
import { createDeviceControllerMetrics } from './metrics.js';
import { DeviceControllerNode } from './node.js';

/** `handleSignals`: close (and so restore the board's mode) on SIGTERM/SIGINT, then exit. */
export interface DeviceControllerServiceOptions extends ServiceOptions {
  /** The bus to follow the executor on and publish power to; default one from `nats.url` (in-process without it), closed on close. Given: not closed. */
  readonly bus?: EventBus | undefined;
}

/** A running device-controller: the gRPC service plus its board. */
export interface DeviceControllerService extends RunningService {
  readonly device: string;
  readonly backend: DeviceControlBackend;
  /** The bus it listens and publishes on. */
  readonly bus: EventBus;
  /** The mode found at start (restored by close). */
  readonly initialMode: PowerMode;
  /** The controller node the service serves. */
  readonly node: DeviceControllerNode;
}

/**
 * Starts the device-controller: opens the board (restoring a crashed session's state on a
 * jetson), follows the executor's activity on the bus and publishes power (the node), and serves
 * gRPC + /metrics + /healthz. `close()` ends the telemetry streams, stops serving, restores the
 * mode found at start, then closes the board and (if it opened it) the bus; it rejects when the
 * restore failed. `config` is parsed with `deviceControllerServiceConfigSchema`.
 */
export async function startDeviceControllerService(
  config: DeviceControllerServiceConfigInput | DeviceControllerServiceConfig,
  options: DeviceControllerServiceOptions,
): Promise<DeviceControllerService> {
  const cfg = deviceControllerServiceConfigSchema.parse(config);
  return openService('device-controller', cfg, options, async ({ logger, registry, cleanup, serve }) => {
    let node: DeviceControllerNode | undefined;
    const metrics = createDeviceControllerMetrics(registry, () => node);
    const bus = await givenOrOpenedBus(options.bus, { ...natsBusOptions(cfg.nats, logger), logger }, cleanup);
    registerBusMetrics(registry, bus);
    const lib = await DeviceControllerNode.open(cfg, { logger, bus, metrics });
    node = lib;
    cleanup.defer(() => lib.close());
    const info = await lib.info();
    const running = await serve({ name: DEVICE_CONTROLLER_SERVICE_NAME, definition: pb.DeviceControllerService, implementation: deviceControllerGrpcImplementation(lib, logger) as never }, {
      onClose: async () => {
        // The node closes first (it is last on the stack), then the bus; a failed restore still fails close().
        const closed = lib.close();
        await cleanup.closeAll();
        await closed;
      },
    });
    logger.info(
      {
        device: lib.device,
        backend: info.backend,
        modes: info.modeCount,
        hardCapW: info.hardCapW,
        initialMode: formatPowerMode(lib.initialMode),
        ...(lib.recovered !== undefined ? { recovered: lib.recovered } : {}),
        address: running.address,
        metrics: running.metricsUrl,
        bus: bus.backend,
      },
      'device-controller ready',
    );
    const service: DeviceControllerService = {
      name: running.name,
      address: running.address,
      port: running.port,
      metricsUrl: running.metricsUrl,
      registry: running.registry,
      grpc: running.grpc,
      device: lib.device,
      backend: lib.backend,
      bus,
      initialMode: lib.initialMode,
      node: lib,
      close: (graceMs?: number) => {
        // Telemetry streams would hold a graceful shutdown open until the grace ends.
        lib.endTelemetry();
        return running.close(graceMs);
      },
    };
    return service;
  });
}
