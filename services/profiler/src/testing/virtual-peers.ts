/**
 * Unit-test doubles of the profiler's peers: a small gRPC server implementing the generated
 * DeviceController and Executor service interfaces over `@fulcrum/devices`' virtual Jetson.
 * The controller's power telemetry follows the mode and whatever the executor is measuring, and
 * the executor sleeps each minibatch's model time divided by `timeScale`, so windows and samples
 * line up on one clock as on a board. Not the real services (those are
 * `@fulcrum/device-controller` and `@fulcrum/executor`); these exist so the profiler and the
 * optimizer can be tested against real gRPC without them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { assertOnGrid, getDevice, getWorkload, maxMode, type PowerMode, type WorkloadKind } from '@fulcrum/core';
import { createVirtualDevice } from '@fulcrum/devices';
import { device, executor } from '@fulcrum/proto';
import { deviceInfoToProto } from '@fulcrum/proto/internal';
import { GrpcStatusError } from '@fulcrum/runtime';
import { serverStream, startGrpcServer, unary, type RunningGrpcServer } from '@fulcrum/runtime/internal';

export interface VirtualPeersOptions {
  /** The board id the stand-in controller and executor report (default `test-board`). */
  readonly board?: string;
  readonly device?: string;
  readonly noise?: number;
  readonly seed?: number;
  /** Model time / real time (default 20: a 100 ms minibatch sleeps 5 ms). */
  readonly timeScale?: number;
  /** Power while nothing runs, watts. */
  readonly idlePowerW?: number;
  readonly softwareStack?: string;
  /** Listen on this port (a restart keeps it); default a free one. */
  readonly port?: number;
  readonly token?: string;
}

export interface VirtualPeers {
  /** `host:port` of both services (one server). */
  readonly address: string;
  readonly port: number;
  readonly deviceId: string;
  /** Calls served so far. */
  readonly calls: { setPowerMode: number; runMeasurement: number; applyPlan: number };
  /** The mode the virtual knobs are in. */
  readonly mode: PowerMode;
  /** Plans received through ApplyPlan, newest last. */
  readonly appliedPlans: executor.ApplyPlanRequest[];
  /** Something other than the controller moves the knobs (nvpmodel, a second client). */
  forceMode(mode: PowerMode): void;
  /** Runs `fn` just before the next measured window starts (e.g. to move the knobs under it). */
  beforeNextWindow(fn: () => void): void;
  /** Stops serving at once (calls in flight are cancelled): the peer is gone. */
  stop(): Promise<void>;
  /** Serves again on the same port. */
  restart(): Promise<void>;
}

export async function startVirtualPeers(options: VirtualPeersOptions = {}): Promise<VirtualPeers> {
  const deviceId = options.device ?? 'orin-agx';
  const spec = getDevice(deviceId);
  const dev = createVirtualDevice(deviceId, { noise: options.noise ?? 0.02, seed: options.seed ?? 1 });
  const timeScale = options.timeScale ?? 20;
  const idlePowerW = options.idlePowerW ?? 5;
  const softwareStack = options.softwareStack ?? 'virtual-test-1';
  let mode: PowerMode = maxMode(spec.grid);
  let running: { workload: string; kind: WorkloadKind; batchSize: number } | undefined;
  let hook: (() => void) | undefined;
  const calls = { setPowerMode: 0, runMeasurement: 0, applyPlan: 0 };
  const appliedPlans: executor.ApplyPlanRequest[] = [];
  let seq = 0;
  /** Windows measured so far per (mode, workload, kind, batch): a later window draws fresh noise, as on a board. */
  const windows = new Map<string, number>();

  const controller: device.DeviceControllerServer = {
    getDeviceInfo: unary(async () =>
      device.GetDeviceInfoResponse.fromPartial({
        info: deviceInfoToProto({ board: options.board ?? 'test-board', device: deviceId, displayName: spec.displayName, backend: 'virtual', softwareStack, grid: spec.grid, modeCount: 0, presets: [], hardCapW: 0, notes: ['test double'] }),
      }),
    ),
    setPowerMode: unary(async (req: device.SetPowerModeRequest) => {
      if (!req.mode) throw new GrpcStatusError(status.INVALID_ARGUMENT, 'mode is required', 'mode');
      assertOnGrid(req.mode, spec.grid, deviceId, 'mode');
      calls.setPowerMode++;
      const previous = mode;
      await sleep((req.settleS * 1000) / timeScale);
      mode = { cores: req.mode.cores, cpuMhz: req.mode.cpuMhz, gpuMhz: req.mode.gpuMhz, emcMhz: req.mode.emcMhz };
      return device.SetPowerModeResponse.fromPartial({ mode, previousMode: previous, switchS: 0.5 + req.settleS });
    }),
    getPowerMode: unary(async () => device.GetPowerModeResponse.fromPartial({ mode })),
    streamTelemetry: serverStream(async function* (req: device.StreamTelemetryRequest, call) {
      const intervalMs = req.intervalMs || 50;
      for (let n = 0; !call.cancelled && (req.maxSamples === 0 || n < req.maxSamples); n++) {
        const powerW = running ? dev.measure({ mode, ...running }, { repeat: seq++ % 1000 }).powerW : idlePowerW;
        yield device.StreamTelemetryResponse.fromPartial({ measuredAt: new Date(), mode, powerW, seq: n });
        await sleep(intervalMs);
      }
    }),
  };

  const exec: executor.ExecutorServer = {
    applyPlan: unary(async (req: executor.ApplyPlanRequest) => {
      calls.applyPlan++;
      appliedPlans.push(req);
      if (req.plan?.mode) mode = { ...req.plan.mode };
      return executor.ApplyPlanResponse.fromPartial({ planId: req.plan?.planId ?? '', mode, appliedAt: new Date(), board: options.board ?? 'test-board' });
    }),
    status: unary(async () => executor.StatusResponse.fromPartial({ state: executor.State.STATE_IDLE })),
    runMeasurement: unary(async (req: executor.RunMeasurementRequest) => {
      const workload = getWorkload(req.workload?.name ?? '', 'workload.name').id;
      const kind: WorkloadKind = req.workload?.kind === 1 ? 'train' : 'infer';
      if (req.batchSize <= 0) throw new GrpcStatusError(status.INVALID_ARGUMENT, 'batch size must be > 0', 'batchSize');
      if (req.measuredMinibatches <= 0) throw new GrpcStatusError(status.INVALID_ARGUMENT, 'measured minibatches must be > 0', 'measuredMinibatches');
      calls.runMeasurement++;
      const q = { workload, kind, batchSize: req.batchSize };
      running = q;
      try {
        for (let i = 0; i < req.warmupMinibatches; i++) await sleep(dev.measure({ mode, ...q }, { repeat: 1000 + i }).timeMs / timeScale);
        hook?.();
        hook = undefined;
        const windowStart = new Date();
        const times: number[] = [];
        // The first window of a key draws repeats 0…n-1 (as always); the w-th later one its own.
        const id = `${JSON.stringify(mode)}|${workload}|${kind}|${req.batchSize}`;
        const w = windows.get(id) ?? 0;
        windows.set(id, w + 1);
        for (let i = 0; i < req.measuredMinibatches; i++) {
          const t = dev.measure({ mode, ...q }, { repeat: w * 100_000 + i }).timeMs;
          times.push(t);
          await sleep(t / timeScale);
        }
        const windowEnd = new Date();
        return executor.RunMeasurementResponse.fromPartial({ minibatchTimesMs: times, windowStart, windowEnd, softwareStack, runner: 'virtual-test-double' });
      } finally {
        running = undefined;
      }
    }),
    infer: unary(async () => {
      throw new GrpcStatusError(status.UNIMPLEMENTED, 'the test double serves no inference');
    }),
  };

  const start = (port: number): Promise<RunningGrpcServer> =>
    startGrpcServer({
      host: '127.0.0.1',
      port,
      token: options.token,
      services: [
        { name: 'fulcrum.device.v1.DeviceController', definition: device.DeviceControllerService, implementation: controller as never },
        { name: 'fulcrum.executor.v1.Executor', definition: executor.ExecutorService, implementation: exec as never },
      ],
    });
  let server: RunningGrpcServer | undefined = await start(options.port ?? 0);
  const port = server.port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    deviceId,
    calls,
    appliedPlans,
    get mode() {
      return mode;
    },
    forceMode(m) {
      mode = m;
    },
    beforeNextWindow(fn) {
      hook = fn;
    },
    async stop() {
      await server?.shutdown(0);
      server = undefined;
    },
    async restart() {
      if (server) return;
      server = await start(port);
    },
  };
}
