/**
 * The real board-side services for tests of the profiler and the optimizer: the device-controller
 * (virtual Orin AGX; its power follows the executor's activity on the shared bus) and the executor
 * (simulated runner at `timeScale`, its mode read from the controller), on loopback port 0.
 */
import { InProcessHub, type EventBus } from '@fulcrum/bus/internal';
import { deviceControllerServiceConfig, startDeviceControllerService, type DeviceControllerService } from '@fulcrum/device-controller';
import { executorServiceConfig, startExecutorService, type ExecutorService } from '@fulcrum/executor';
import type { Logger } from '@fulcrum/runtime';
import { pino } from 'pino';
import type { Registry } from 'prom-client';

export interface BoardServicesOptions {
  /** The board id both services run as (default `test-board`). */
  readonly board?: string | undefined;
  /** Shared by both services (the controller follows the executor's activity on it); default a new in-process hub's bus, closed on close. */
  readonly bus?: EventBus | undefined;
  /** NATS instead of a given bus: both services connect to it. */
  readonly natsUrl?: string | undefined;
  /** Simulated device seconds per host second (default 20). */
  readonly timeScale?: number;
  /** Noise of the virtual device (default the model's). */
  readonly noise?: number;
  readonly seed?: number;
  /** Bearer token both services require. */
  readonly token?: string;
  readonly logger?: Logger;
}

export interface BoardServices {
  readonly controller: DeviceControllerService;
  readonly executor: ExecutorService;
  readonly controllerAddress: string;
  readonly executorAddress: string;
  /** Completed mode switches (profiling and ApplyPlan) and measurement runs, from the services' metrics. */
  counts(): Promise<{ switches: number; measurements: number }>;
  /** Stops the controller (it restores its starting mode) … */
  stopController(): Promise<void>;
  /** … and starts a new one on the same port. */
  restartController(): Promise<void>;
  close(): Promise<void>;
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

export async function startBoardServices(options: BoardServicesOptions = {}): Promise<BoardServices> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const ownBus = !options.bus && !options.natsUrl;
  const bus = options.bus ?? (options.natsUrl ? undefined : new InProcessHub().connect());
  const common = { board: options.board ?? 'test-board', ...(options.natsUrl ? { nats: { url: options.natsUrl } } : {}), ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.noise !== undefined ? { noise: options.noise } : {}) };
  const startController = (port: number): Promise<DeviceControllerService> =>
    startDeviceControllerService(
      deviceControllerServiceConfig({ grpc: { port, ...(options.token ? { token: options.token } : {}) }, metrics: { port: -1 }, telemetry: { minIntervalMs: 1 }, ...common }),
      { logger, ...(bus ? { bus } : {}) },
    );
  let controller: DeviceControllerService | undefined = await startController(0);
  const port = controller.port;
  const executor = await startExecutorService(
    executorServiceConfig({
      grpc: { port: 0, ...(options.token ? { token: options.token } : {}) },
      metrics: { port: -1 },
      timeScale: options.timeScale ?? 20,
      controller: { address: controller.address, ...(options.token ? { token: options.token } : {}) },
      ...common,
    }),
    { logger, ...(bus ? { bus } : {}) },
  );
  let switchesBefore = 0;
  return {
    get controller() {
      return controller!;
    },
    executor,
    controllerAddress: controller.address,
    executorAddress: executor.address,
    async counts() {
      const switches = switchesBefore + (controller ? await counter(controller.registry, 'fulcrum_mode_switches_total', { outcome: 'ok' }) : 0);
      return { switches, measurements: await counter(executor.registry, 'fulcrum_executor_measurements_total', { outcome: 'ok' }) };
    },
    async stopController() {
      if (!controller) return;
      switchesBefore += await counter(controller.registry, 'fulcrum_mode_switches_total', { outcome: 'ok' });
      await controller.close(0);
      controller = undefined;
    },
    async restartController() {
      if (controller) return;
      controller = await startController(port);
    },
    async close() {
      await executor.close(100);
      await controller?.close(100);
      if (ownBus) await bus!.close();
    },
  };
}
