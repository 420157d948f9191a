/**
 * A running device-controller node, usable without gRPC: the board chosen by `backend` (virtual,
 * table or jetson; open-board.ts), the executor's activity followed on the bus (virtual/table:
 * their power follows what the executor runs), power published on `fulcrum.<board>.power` every
 * `telemetry.publishIntervalMs`, telemetry as an async iterable of samples, one mode switch at a
 * time with the backends' errors as domain errors (errors.ts), and `close()` restoring the mode
 * found at start.
 *
 *   const node = await DeviceControllerNode.open({ backend: 'virtual', hardCapW: 45 }, { logger, bus });
 *   await node.setMode(mode, { settleS: 1 });
 *   for await (const s of node.telemetry({ intervalMs: 50, maxSamples: 20 })) use(s.powerW);
 *   await node.close();   // restores the mode found at start
 */
import { ValidationError, formatPowerMode, type PowerMode } from '@fulcrum/core';
import { requireNonNegative } from '@fulcrum/core/internal';
import { ActivityState, activitySubject, powerSubject, type EventBus, type EventSubscription, type ExecutorActivity } from '@fulcrum/bus';
import type { Logger } from '@fulcrum/runtime';
import type { DeviceControlBackend, DeviceControlInfo, ModeSwitch, SetModeOptions, TelemetrySample } from './backend.js';
import { deviceControllerNodeConfigSchema, type DeviceControllerNodeConfig, type DeviceControllerNodeConfigInput } from './config.js';
import { DeviceControlError, toDeviceControlError } from './errors.js';
import type { DeviceControllerMetrics, DeviceControllerMetricsSource } from './metrics.js';
import type { ModelActivity } from './model-backend.js';
import { openBoard, type Board } from './open-board.js';
import { PowerCapError } from './power-cap.js';

/** The longest settle wait a switch accepts, seconds. */
export const MAX_SETTLE_S = 600;

export interface DeviceControllerNodeOptions {
  readonly logger: Logger;
  /** Where to follow the executor's activity (virtual/table) and publish power; none: neither. Not closed by the node. */
  readonly bus?: EventBus | undefined;
  /** Switch counts and latency, clocks, executor activity (`createDeviceControllerMetrics`). */
  readonly metrics?: DeviceControllerMetrics | undefined;
}

/** What the node says about its board: its id, the backend's info and the software stack. */
export interface DeviceControllerInfo extends DeviceControlInfo {
  readonly board: string;
  readonly softwareStack: string;
}

export interface TelemetryOptions {
  /** Between samples, ms; 0 or unset: `telemetry.defaultIntervalMs`; raised to at least `telemetry.minIntervalMs`. */
  readonly intervalMs?: number | undefined;
  /** 0 or unset: until `signal` aborts or the node closes. */
  readonly maxSamples?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** One sample of a telemetry stream, numbered from 0. */
export interface TelemetryReading extends TelemetrySample {
  readonly seq: number;
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

const ignore = (): void => undefined;

export class DeviceControllerNode implements DeviceControllerMetricsSource {
  /** The board's id: the bus subjects' `<board>` (config `board`, default the host name). */
  readonly board: string;
  /** The device model (orin-agx, …; a table board's own). */
  readonly device: string;
  readonly backend: DeviceControlBackend;
  /** The mode found at start (restored by close). */
  readonly initialMode: PowerMode;
  readonly softwareStack: string;
  /** jetson: whether start found a crashed session's state and restored it first; else undefined. */
  readonly recovered: boolean | undefined;
  readonly #config: DeviceControllerNodeConfig;
  readonly #board: Board;
  readonly #logger: Logger;
  readonly #bus: EventBus | undefined;
  readonly #metrics: DeviceControllerMetrics | undefined;
  readonly #ending = new AbortController();
  #latest: TelemetrySample | undefined;
  #streams = 0;
  #switchChain: Promise<void> = Promise.resolve();
  #activitySub: EventSubscription<'activity'> | undefined;
  #publishTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(config: DeviceControllerNodeConfig, board: Board, options: DeviceControllerNodeOptions) {
    this.#config = config;
    this.#board = board;
    this.#logger = options.logger;
    this.#bus = options.bus;
    this.#metrics = options.metrics;
    this.device = config.device ?? board.device ?? 'orin-agx';
    this.board = config.board;
    this.backend = board.backend;
    this.initialMode = board.initialMode;
    this.softwareStack = board.softwareStack;
    this.recovered = board.recovered;
  }

  /**
   * Opens the board (on a jetson: restoring a crashed session's state first, then applying the
   * initial mode), follows the executor's activity and starts publishing power when given a bus.
   * `config` is parsed with `deviceControllerNodeConfigSchema` (a service config works too).
   */
  static async open(config: DeviceControllerNodeConfigInput | DeviceControllerNodeConfig, options: DeviceControllerNodeOptions): Promise<DeviceControllerNode> {
    const cfg = deviceControllerNodeConfigSchema.parse(config);
    const node = new DeviceControllerNode(cfg, await openBoard(cfg, options.logger), options);
    try {
      await node.#start();
    } catch (err) {
      await node.close().catch(ignore);
      throw err;
    }
    return node;
  }

  async #start(): Promise<void> {
    const bus = this.#bus;
    const setActivity = this.#board.setActivity;
    if (bus && setActivity) {
      this.#activitySub = bus.subscribe(activitySubject(this.board), (msg) => {
        const a = modelActivity(msg.event);
        setActivity(a);
        this.#metrics?.activity.set(a.state === 'idle' ? 0 : 1);
      });
      await this.#activitySub.ready.catch((err: unknown) => this.#logger.warn({ err: String(err) }, 'bus: activity subscription not confirmed yet; it starts when the bus connects'));
    }
    this.#metrics?.observeMode(await this.backend.getMode());
    if (bus && this.#config.telemetry.publishIntervalMs > 0) {
      this.#publishTimer = setInterval(() => {
        this.sample()
          .then((s) => this.#publish(s))
          .catch((err: unknown) => this.#logger.debug({ err: String(err) }, 'publishing power telemetry failed'));
      }, this.#config.telemetry.publishIntervalMs);
      this.#publishTimer.unref();
    }
  }

  async #publish(s: TelemetrySample): Promise<void> {
    await this.#bus?.publish(powerSubject(this.board), {
      measuredAt: s.measuredAt.toISOString(),
      ...(s.mode ? { mode: s.mode } : {}),
      powerW: Math.max(0, s.powerW),
      rails: s.rails.map((r) => ({ rail: r.rail, powerW: Math.max(0, r.powerW) })),
    });
  }

  #checkOpen(): void {
    if (this.#closing) throw new DeviceControlError('unavailable', 'the device-controller is closed');
  }

  async info(): Promise<DeviceControllerInfo> {
    return { ...(await this.backend.info()), board: this.board, softwareStack: this.softwareStack };
  }

  /** The mode read back (virtual/table: the mode held). */
  async getMode(): Promise<PowerMode> {
    try {
      return await this.backend.getMode();
    } catch (err) {
      throw toDeviceControlError(err);
    }
  }

  /**
   * Switches (one at a time; a failed one does not block the next), reads back, waits `settleS`
   * (0…600 s). Off the grid or a bad settle: ValidationError; over the hard cap, a rejected
   * write, the helper gone: DeviceControlError. `signal` (the caller went away) stops the settle
   * wait, so the next switch does not wait out a settle nobody waits for; aborted before its
   * turn, nothing is switched. Either way it rejects with the signal's reason.
   */
  setMode(mode: PowerMode, options: SetModeOptions = {}): Promise<ModeSwitch> {
    const run = this.#switchChain.then(async (): Promise<ModeSwitch> => {
      try {
        this.#checkOpen();
        const settleS = requireNonNegative('settleS', options.settleS ?? 0);
        if (settleS > MAX_SETTLE_S) throw new ValidationError('settleS', `must be at most ${MAX_SETTLE_S} s, got ${settleS}`);
        options.signal?.throwIfAborted();
        const r = await this.backend.setMode(mode, { settleS, signal: options.signal });
        this.#metrics?.switches.inc({ outcome: 'ok' });
        this.#metrics?.switchSeconds.observe(r.switchS);
        this.#metrics?.observeMode(r.mode);
        this.#logger.info({ mode: formatPowerMode(r.mode), previousMode: formatPowerMode(r.previousMode), switchS: r.switchS }, 'mode applied');
        if (this.#bus && this.#config.telemetry.publishIntervalMs > 0) void this.sample().then((s) => this.#publish(s)).catch(ignore);
        return r;
      } catch (err) {
        this.#metrics?.switches.inc({ outcome: outcomeOf(err) });
        if (err instanceof PowerCapError) this.#logger.warn({ mode: formatPowerMode(err.mode), knownPowerW: err.knownPowerW, hardCapW: err.hardCapW }, 'mode refused: over the hard power cap');
        throw toDeviceControlError(err);
      }
    });
    this.#switchChain = run.then(ignore, ignore);
    return run;
  }

  /** One sample now (remembered for the power gauge). */
  async sample(): Promise<TelemetrySample> {
    const s = await this.backend.sampleTelemetry();
    this.#latest = s;
    return s;
  }

  /** Samples every `intervalMs` until `maxSamples`, the signal, `endTelemetry()` or `close()`; unreadable sensors: DeviceControlError `unavailable`. */
  async *telemetry(options: TelemetryOptions = {}): AsyncGenerator<TelemetryReading, void, undefined> {
    const { minIntervalMs, defaultIntervalMs } = this.#config.telemetry;
    const intervalMs = Math.max(minIntervalMs, options.intervalMs || defaultIntervalMs);
    const maxSamples = options.maxSamples ?? 0;
    const stop = new AbortController();
    const onStop = (): void => stop.abort();
    for (const signal of [options.signal, this.#ending.signal]) {
      if (signal?.aborted) stop.abort();
      signal?.addEventListener('abort', onStop, { once: true });
    }
    this.#streams++;
    try {
      for (let seq = 0; maxSamples === 0 || seq < maxSamples; seq++) {
        if (seq > 0) await abortableSleep(intervalMs, stop.signal);
        if (stop.signal.aborted) return;
        const s = await this.sample().catch((err: unknown) => {
          throw new DeviceControlError('unavailable', `power sensors unreadable: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
        });
        yield { ...s, seq };
      }
    } finally {
      this.#streams--;
      options.signal?.removeEventListener('abort', onStop);
      this.#ending.signal.removeEventListener('abort', onStop);
    }
  }

  /** Ends every telemetry stream, now and later (a graceful shutdown would otherwise wait for them). */
  endTelemetry(): void {
    this.#ending.abort();
  }

  get openStreams(): number {
    return this.#streams;
  }

  /** Board power for a scrape: a stream's sample under a second old, else a fresh one. */
  async scrapePowerW(): Promise<number> {
    const latest = this.#latest;
    if (this.#streams > 0 && latest && Date.now() - latest.measuredAt.getTime() < 1000) return latest.powerW;
    return (await this.sample()).powerW;
  }

  /** Ends telemetry, stops following and publishing, restores the mode found at start and closes the board. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#ending.abort();
      if (this.#publishTimer) clearInterval(this.#publishTimer);
      this.#activitySub?.unsubscribe();
      const r = await this.#board.stop();
      this.#logger.info({ restored: r?.restored ?? false, mode: r?.mode ? formatPowerMode(r.mode) : undefined }, 'restored the mode found at start');
    })());
  }
}
