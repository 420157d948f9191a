/**
 * The device-controller service: `fulcrum.device.v1.DeviceController` over gRPC (with health,
 * reflection, bearer token and TLS from @fulcrum/runtime's `startService`), /metrics, and the
 * bus. One of three backends, chosen by `backend`:
 *
 * * `virtual` — the virtual Jetson of @fulcrum/devices (`ModelControlBackend`);
 * * `table` — a SPEC §3 profile CSV (`profiles`), answering only the modes it holds;
 * * `jetson` — a real board through `JetsonController` (sysfs root or the privileged helper).
 *
 * Virtual and table boards have no sensors: their power follows what the executor runs. The
 * executor publishes its activity on `fulcrum.<device>.activity`; this service subscribes and
 * hands it to the model backend. Every service publishes its power on `fulcrum.<device>.power`
 * every `telemetry.publishIntervalMs`.
 *
 *   const svc = await startDeviceControllerService(deviceControllerServiceConfig({ grpc: { port: 0 } }), { logger, bus });
 *   …
 *   await svc.close();   // restores the mode found at start
 */
import { basename } from 'node:path';
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram } from 'prom-client';
import { z } from 'zod';
import { ValidationError, formatPowerMode, parsePowerMode, requireNonNegative, type PowerMode } from '@fulcrum/core';
import { createBackend, loadProfileTable, DEFAULT_SEED, type DeviceBackend } from '@fulcrum/devices';
import { ActivityState, activitySubject, createEventBus, powerSubject, type EventBus, type EventSubscription, type ExecutorActivity } from '@fulcrum/bus';
import { device as pb, common, deviceInfoToProto, loadDescriptorSet, powerModeFromProto } from '@fulcrum/proto';
import {
  GrpcStatusError,
  closeOnSignals,
  createMetricsRegistry,
  grpcConfigSchema,
  loadConfig,
  metricsConfigSchema,
  serverStream,
  serviceLogger,
  startService,
  unary,
  type LoadConfigOptions,
  type LoadedConfig,
  type Logger,
  type RunningService,
} from '@fulcrum/runtime';
import type { Registry } from 'prom-client';
import type { DeviceControlBackend, DeviceControlInfo, ModeSwitch, TelemetrySample } from './backend.js';
import { deviceControllerConfigSchema, type DeviceControllerConfig } from './config.js';
import { JetsonController } from './controller.js';
import { HelperError } from './helper/client.js';
import { KnobMismatchError, KnobWriteError } from './knobs.js';
import { ModelControlBackend, presetMode, type ModelActivity } from './model-backend.js';
import { PowerCapError } from './power-cap.js';

export const DEVICE_CONTROLLER_SERVICE_NAME = 'fulcrum.device.v1.DeviceController';

/**
 * The service's configuration: the library's (`sysfsRoot`, `jetson.*`, `helper.*`) plus the
 * service sections. Env names follow runtime's rule (`backend` → FULCRUM_BACKEND,
 * `hardCapW` → FULCRUM_HARD_CAP_W, `grpc.port` → FULCRUM_GRPC__PORT, `nats.url` →
 * FULCRUM_NATS__URL, `telemetry.publishIntervalMs` → FULCRUM_TELEMETRY__PUBLISH_INTERVAL_MS).
 */
export const deviceControllerServiceConfigSchema = deviceControllerConfigSchema.extend({
  /** Device id: the bus subjects' `<device>` and, for `virtual`, the model (orin-agx, agx-xavier). */
  device: z.string().min(1).default('orin-agx'),
  backend: z.enum(['virtual', 'table', 'jetson']).default('virtual'),
  /** SPEC §3 profile CSV: the board for `table`; known power per mode for the cap on `jetson` (unless `jetson.profile`). */
  profiles: z.string().min(1).optional(),
  /** Hard power cap, watts: modes whose known power is above it are refused (FAILED_PRECONDITION); 0 = none. */
  hardCapW: z.number().min(0).default(0),
  /** Relative noise of virtual/table power samples; default the model's (2.5% virtual, 0 table). */
  noise: z.number().min(0).max(1).optional(),
  seed: z.number().int().default(DEFAULT_SEED),
  /** virtual/table: the mode the board is in at start (CORES,CPU,GPU,EMC or a preset name); default MAXN. jetson: see jetson.initialMode. */
  initialMode: z.string().min(1).optional(),
  /** Reported in GetDeviceInfo; default `fulcrum-virtual-<device>-seed<seed>`, `fulcrum-table-<file>`, `jetson-<board>`. */
  softwareStack: z.string().min(1).optional(),
  grpc: grpcConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  nats: z.object({ url: z.string().optional() }).prefault({}),
  telemetry: z
    .object({
      /** StreamTelemetry interval when the request says 0, ms. */
      defaultIntervalMs: z.number().int().min(1).default(1000),
      /** Shortest StreamTelemetry interval served, ms (shorter requests are raised to it). */
      minIntervalMs: z.number().int().min(1).default(5),
      /** Publish power on `fulcrum.<device>.power` this often, ms; 0 = never. */
      publishIntervalMs: z.number().int().min(0).default(1000),
      /** virtual/table: an executor activity not refreshed for this long counts as idle, ms; 0 = never. */
      activityTimeoutMs: z.number().int().min(0).default(5000),
    })
    .prefault({}),
  jetson: deviceControllerConfigSchema.shape.jetson.prefault({}),
  helper: deviceControllerConfigSchema.shape.helper.prefault({}),
});

export type DeviceControllerServiceConfig = z.output<typeof deviceControllerServiceConfigSchema>;
export type DeviceControllerServiceConfigInput = z.input<typeof deviceControllerServiceConfigSchema>;

/** flags > env > file > defaults (@fulcrum/runtime `loadConfig`). */
export function loadDeviceControllerServiceConfig(options: LoadConfigOptions = {}): LoadedConfig<DeviceControllerServiceConfig> {
  return loadConfig(deviceControllerServiceConfigSchema, options);
}

/** A config from code: defaults filled, checked (throws a ZodError on bad values). */
export function deviceControllerServiceConfig(input: DeviceControllerServiceConfigInput = {}): DeviceControllerServiceConfig {
  return deviceControllerServiceConfigSchema.parse(input);
}

export interface DeviceControllerServiceOptions {
  readonly logger: Logger;
  /** The bus to follow the executor on and publish power to; default one from `nats.url` (in-process without it), closed on close. Given: not closed. */
  readonly bus?: EventBus | undefined;
  readonly registry?: Registry | undefined;
  /** Close (and so restore) on SIGTERM/SIGINT, then exit. Default false: the caller owns signals. */
  readonly handleSignals?: boolean;
}

/** A running device-controller: the gRPC service plus its board. */
export interface DeviceControllerService extends RunningService {
  readonly device: string;
  readonly backend: DeviceControlBackend;
  /** The bus it listens and publishes on. */
  readonly bus: EventBus;
  /** The mode found at start (restored by close). */
  readonly initialMode: PowerMode;
}

/** What the service needs of a board, whatever its backend. */
interface Board {
  readonly backend: DeviceControlBackend;
  readonly initialMode: PowerMode;
  readonly softwareStack: string;
  /** jetson: whether start found an earlier session's state file (a crash) and restored it first. */
  readonly recovered?: boolean;
  setActivity?(activity: ModelActivity): void;
  /** Stops, restores the mode found at start, closes. */
  stop(): Promise<{ restored: boolean; mode?: PowerMode | undefined } | undefined>;
}

function resolveMode(text: string, model: DeviceBackend | undefined, field: string): PowerMode {
  // No comma: a preset name (MAXN, 15W, …).
  if (!text.includes(',') && model) return presetMode(model, text, field);
  return parsePowerMode(text, field);
}

async function openBoard(config: DeviceControllerServiceConfig, logger: Logger): Promise<Board> {
  if (config.backend === 'jetson') {
    const jetsonConfig: DeviceControllerConfig = {
      ...config,
      jetson: {
        ...config.jetson,
        powerCapW: config.hardCapW > 0 ? config.hardCapW : config.jetson.powerCapW,
        ...(config.jetson.profile ?? config.profiles ? { profile: config.jetson.profile ?? config.profiles } : {}),
        ...(config.jetson.initialMode ?? config.initialMode ? { initialMode: config.jetson.initialMode ?? config.initialMode } : {}),
      },
    };
    // JetsonController saves the knobs' state before its first write and stop() puts it back; the
    // configured initial mode is applied after reading what the board was in.
    const found = await JetsonController.start({
      config: { ...jetsonConfig, jetson: { ...jetsonConfig.jetson, initialMode: undefined } },
      logger,
      // Every `jetson.telemetryIntervalMs` (0 = off): the board's readings in the log at debug level.
      onTelemetry: (s, seq) =>
        logger.debug({ seq, powerW: Number(s.powerW.toFixed(3)), rails: s.totalRails, temperaturesC: s.temperaturesC, mode: s.mode ? formatPowerMode(s.mode) : undefined, source: s.source }, 'telemetry'),
    });
    let initialMode: PowerMode;
    try {
      initialMode = await found.getMode();
      if (jetsonConfig.jetson.initialMode) await found.setMode(parsePowerMode(jetsonConfig.jetson.initialMode, 'jetson.initialMode'));
    } catch (err) {
      await found.stop().catch(() => undefined);
      throw err;
    }
    const backend = found.backend;
    return {
      backend,
      initialMode,
      softwareStack: config.softwareStack ?? `jetson-${backend.board.identity.id}`,
      recovered: found.recovered?.restored ?? false,
      stop: async () => {
        const r = await found.stop();
        return r ? { restored: r.restored, mode: r.mode } : undefined;
      },
    };
  }
  let model: DeviceBackend;
  if (config.backend === 'table') {
    if (!config.profiles) throw new ValidationError('profiles', 'backend table needs a profile CSV (--profiles, FULCRUM_PROFILES)');
    model = createBackend({ type: 'table', table: await loadProfileTable(config.profiles), name: basename(config.profiles) });
  } else {
    model = createBackend({ type: 'virtual', device: config.device, seed: config.seed, ...(config.noise !== undefined ? { noise: config.noise } : {}) });
  }
  const backend = new ModelControlBackend(model, {
    hardCapW: config.hardCapW,
    seed: config.seed,
    ...(config.noise !== undefined ? { noise: config.noise } : {}),
    activityTimeoutMs: config.telemetry.activityTimeoutMs,
    ...(config.initialMode ? { initialMode: resolveMode(config.initialMode, model, 'initialMode') } : {}),
  });
  return {
    backend,
    initialMode: backend.initialMode,
    softwareStack: config.softwareStack ?? (config.backend === 'table' ? `fulcrum-table-${basename(config.profiles!)}` : `fulcrum-virtual-${model.device.id}-seed${config.seed}`),
    setActivity: (a) => backend.setActivity(a),
    stop: async () => {
      const r = await backend.restore();
      await backend.close();
      return r;
    },
  };
}

/** Maps what a backend throws to the documented status (the rest goes through runtime's mapping). */
function statusOf(err: unknown): unknown {
  if (err instanceof PowerCapError) return new GrpcStatusError(status.FAILED_PRECONDITION, err.message, 'mode');
  if (err instanceof KnobMismatchError || err instanceof KnobWriteError) return new GrpcStatusError(status.ABORTED, err.message, 'mode');
  if (err instanceof HelperError) {
    if (err.code === 'UNAVAILABLE') return new GrpcStatusError(status.UNAVAILABLE, err.message);
    if (err.code === 'PERMISSION_DENIED') return new GrpcStatusError(status.PERMISSION_DENIED, err.message);
  }
  return err;
}

function outcomeOf(err: unknown): string {
  if (err instanceof ValidationError) return 'invalid';
  if (err instanceof PowerCapError) return 'refused';
  return 'failed';
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The bus's `ExecutorActivity` as the model backend reads it. */
export function modelActivity(a: ExecutorActivity): ModelActivity {
  const state = a.state === ActivityState.TRAIN ? 'train' : a.state === ActivityState.INFER ? 'infer' : 'idle';
  return {
    state,
    ...(a.workload !== undefined ? { workload: a.workload } : {}),
    ...(a.batchSize !== undefined ? { batchSize: a.batchSize } : {}),
    ...(a.stream !== undefined ? { stream: a.stream } : {}),
    ...(a.measurement !== undefined ? { measurement: a.measurement } : {}),
  };
}

/**
 * Starts the device-controller: opens the board (restoring a crashed session's state on a
 * jetson), serves gRPC + /metrics + /healthz, follows the executor's activity on the bus, and
 * publishes power. `close()` stops serving, restores the mode found at start, then closes the
 * board and (if it made it) the bus.
 */
export async function startDeviceControllerService(config: DeviceControllerServiceConfig, options: DeviceControllerServiceOptions): Promise<DeviceControllerService> {
  const logger = serviceLogger(options.logger, 'device-controller');
  const board = await openBoard(config, logger);
  const ownBus = !options.bus;
  let bus: EventBus;
  try {
    bus = options.bus ?? (await createEventBus({ natsUrl: config.nats.url, logger }));
  } catch (err) {
    await board.stop().catch(() => undefined);
    throw err;
  }
  const backend = board.backend;
  const closing = new AbortController();
  const device = config.device;
  let latest: TelemetrySample | undefined;
  let streams = 0;

  // ---- metrics
  const metrics = (registry: Registry) => ({
    power: new Gauge({
      name: 'fulcrum_device_power_watts',
      help: 'Board power, watts (sampled at scrape time unless a telemetry stream sampled it in the last second)',
      registers: [registry],
      async collect() {
        try {
          const s = streams > 0 && latest && Date.now() - latest.measuredAt.getTime() < 1000 ? latest : await sample();
          this.set(s.powerW);
        } catch {
          // keep the last value; the sensors may be briefly unreadable
        }
      },
    }),
    clock: new Gauge({ name: 'fulcrum_device_clock_mhz', help: 'Clock of each knob in the current mode, MHz', labelNames: ['knob'], registers: [registry] }),
    cores: new Gauge({ name: 'fulcrum_device_online_cores', help: 'Online CPU cores in the current mode', registers: [registry] }),
    switches: new Counter({ name: 'fulcrum_mode_switches_total', help: 'SetPowerMode calls by outcome (ok, invalid, refused: over the hard cap, failed)', labelNames: ['outcome'], registers: [registry] }),
    switchSeconds: new Histogram({
      name: 'fulcrum_mode_switch_seconds',
      help: 'Mode switch latency including the settle wait, seconds',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    telemetryStreams: new Gauge({
      name: 'fulcrum_device_telemetry_streams',
      help: 'Open StreamTelemetry calls',
      registers: [registry],
      collect() {
        this.set(streams);
      },
    }),
    activity: new Gauge({ name: 'fulcrum_device_executor_busy', help: 'virtual/table: 1 while the executor reports a minibatch running, else 0', registers: [registry] }),
  });

  const observeMode = (m: ReturnType<typeof metrics>, mode: PowerMode): void => {
    m.clock.set({ knob: 'cpu' }, mode.cpuMhz);
    m.clock.set({ knob: 'gpu' }, mode.gpuMhz);
    m.clock.set({ knob: 'emc' }, mode.emcMhz);
    m.cores.set(mode.cores);
  };

  const sample = async (): Promise<TelemetrySample> => {
    const s = await backend.sampleTelemetry();
    latest = s;
    return s;
  };

  const publishPower = async (s: TelemetrySample): Promise<void> => {
    await bus.publish(powerSubject(device), {
      measuredAt: s.measuredAt.toISOString(),
      ...(s.mode ? { mode: s.mode } : {}),
      powerW: Math.max(0, s.powerW),
      rails: s.rails.map((r) => ({ rail: r.rail, powerW: Math.max(0, r.powerW) })),
    });
  };

  const registry = options.registry ?? createMetricsRegistry('device-controller');
  const m = metrics(registry);
  let switchChain = Promise.resolve();

  const implementation = {
    getDeviceInfo: unary<pb.GetDeviceInfoRequest, pb.GetDeviceInfoResponse>(async () => pb.GetDeviceInfoResponse.fromPartial({ info: deviceInfoToProto({ ...(await backend.info()), softwareStack: board.softwareStack }) }), logger),

    setPowerMode: unary<pb.SetPowerModeRequest, pb.SetPowerModeResponse>(async (req) => {
      const run = switchChain.then(async (): Promise<ModeSwitch> => {
        try {
          const mode = powerModeFromProto(req.mode, 'mode');
          const settleS = requireNonNegative('settleS', req.settleS);
          if (settleS > 600) throw new ValidationError('settleS', `must be at most 600 s, got ${settleS}`);
          const r = await backend.setMode(mode, { settleS });
          m.switches.inc({ outcome: 'ok' });
          m.switchSeconds.observe(r.switchS);
          observeMode(m, r.mode);
          logger.info({ mode: formatPowerMode(r.mode), previousMode: formatPowerMode(r.previousMode), switchS: r.switchS }, 'mode applied');
          if (config.telemetry.publishIntervalMs > 0) void sample().then(publishPower).catch(() => undefined);
          return r;
        } catch (err) {
          m.switches.inc({ outcome: outcomeOf(err) });
          if (err instanceof PowerCapError) logger.warn({ mode: formatPowerMode(err.mode), knownPowerW: err.knownPowerW, hardCapW: err.hardCapW }, 'mode refused: over the hard power cap');
          throw statusOf(err);
        }
      });
      // One switch at a time; a failed one does not block the next.
      switchChain = run.then(
        () => undefined,
        () => undefined,
      );
      const r = await run;
      return pb.SetPowerModeResponse.fromPartial({ mode: { ...r.mode }, previousMode: { ...r.previousMode }, switchS: r.switchS });
    }, logger),

    getPowerMode: unary<pb.GetPowerModeRequest, pb.GetPowerModeResponse>(async () => {
      try {
        return pb.GetPowerModeResponse.fromPartial({ mode: { ...(await backend.getMode()) } });
      } catch (err) {
        throw statusOf(err);
      }
    }, logger),

    streamTelemetry: serverStream<pb.StreamTelemetryRequest, pb.StreamTelemetryResponse>(
      (req, call: ServerWritableStream<pb.StreamTelemetryRequest, pb.StreamTelemetryResponse>) =>
        (async function* () {
          const intervalMs = Math.max(config.telemetry.minIntervalMs, req.intervalMs || config.telemetry.defaultIntervalMs);
          const stop = new AbortController();
          const onCancel = (): void => stop.abort();
          call.once('cancelled', onCancel);
          closing.signal.addEventListener('abort', onCancel, { once: true });
          streams++;
          try {
            for (let seq = 0; req.maxSamples === 0 || seq < req.maxSamples; seq++) {
              if (seq > 0) await abortableSleep(intervalMs, stop.signal);
              if (stop.signal.aborted || call.cancelled) return;
              const s = await sample().catch((err: unknown) => {
                throw new GrpcStatusError(status.UNAVAILABLE, `power sensors unreadable: ${err instanceof Error ? err.message : String(err)}`);
              });
              yield pb.StreamTelemetryResponse.fromPartial({
                measuredAt: s.measuredAt,
                ...(s.mode ? { mode: { ...s.mode } } : {}),
                powerW: s.powerW,
                rails: s.rails.map((r) => ({ rail: r.rail, powerW: r.powerW })),
                seq,
              });
            }
          } finally {
            streams--;
            call.off('cancelled', onCancel);
            closing.signal.removeEventListener('abort', onCancel);
          }
        })(),
      logger,
    ),
  };

  // ---- the executor's activity → power readings (virtual/table)
  let activitySub: EventSubscription<'activity'> | undefined;
  let publishTimer: NodeJS.Timeout | undefined;
  const stopBusWork = async (): Promise<void> => {
    if (publishTimer) clearInterval(publishTimer);
    activitySub?.unsubscribe();
  };

  let running: RunningService;
  try {
    if (board.setActivity) {
      const setActivity = board.setActivity;
      activitySub = bus.subscribe(activitySubject(device), (msg) => {
        const a = modelActivity(msg.event);
        setActivity(a);
        m.activity.set(a.state === 'idle' ? 0 : 1);
      });
      await activitySub.ready.catch((err: unknown) => logger.warn({ err: String(err) }, 'bus: activity subscription not confirmed yet; it starts when the bus connects'));
    }
    running = await startService({
      name: 'device-controller',
      grpc: config.grpc,
      metrics: config.metrics,
      bindings: [{ name: DEVICE_CONTROLLER_SERVICE_NAME, definition: pb.DeviceControllerService, implementation }],
      logger,
      registry,
      descriptorSet: loadDescriptorSet(),
      onClose: async () => {
        await stopBusWork();
        try {
          const r = await board.stop();
          logger.info({ restored: r?.restored ?? false, mode: r?.mode ? formatPowerMode(r.mode) : undefined }, 'restored the mode found at start');
        } finally {
          if (ownBus) await bus.close();
        }
      },
    });
  } catch (err) {
    await stopBusWork();
    await board.stop().catch(() => undefined);
    if (ownBus) await bus.close().catch(() => undefined);
    throw err;
  }
  observeMode(m, await backend.getMode());

  if (config.telemetry.publishIntervalMs > 0) {
    publishTimer = setInterval(() => {
      sample()
        .then(publishPower)
        .catch((err: unknown) => logger.debug({ err: String(err) }, 'publishing power telemetry failed'));
    }, config.telemetry.publishIntervalMs);
    publishTimer.unref();
  }

  const info = await backend.info();
  logger.info(
    { device, backend: info.backend, modes: info.modeCount, hardCapW: info.hardCapW, initialMode: formatPowerMode(board.initialMode), ...(board.recovered !== undefined ? { recovered: board.recovered } : {}), address: running.address, metrics: running.metricsUrl, bus: bus.backend },
    'device-controller ready',
  );

  const service: DeviceControllerService = {
    name: running.name,
    address: running.address,
    port: running.port,
    metricsUrl: running.metricsUrl,
    registry: running.registry,
    grpc: running.grpc,
    device,
    backend,
    bus,
    initialMode: board.initialMode,
    close: (graceMs?: number) => {
      // Telemetry streams would hold a graceful shutdown open until the grace ends.
      closing.abort();
      return running.close(graceMs);
    },
  };
  if (options.handleSignals) closeOnSignals(service, logger);
  return service;
}
