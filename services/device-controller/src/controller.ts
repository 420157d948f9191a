import { parsePowerMode, formatPowerMode, samePowerMode, type PowerMode } from '@fulcrum/core';
import type { Logger } from '@fulcrum/runtime';
import { JetsonBackend, type DeviceControlInfo, type ModeSwitch, type SetModeOptions, type TelemetrySample } from './backend.js';
import type { DeviceControllerConfig } from './config.js';
import { LocalKnobDriver, type JetsonKnobDriver, type RestoreResult } from './driver.js';
import { openSysfs } from './fake-sysfs.js';
import { HelperClient } from './helper/client.js';
import { loadProfilePower } from './power-cap.js';
import { startSampler, type Sampler } from './power.js';
import { startTegrastats, tegrastatsTotal, type TegrastatsProcess } from './tegrastats.js';

export interface JetsonControllerOptions {
  readonly config: DeviceControllerConfig;
  readonly logger: Logger;
  /** Every telemetry sample (power, temperatures, clocks, mode). */
  readonly onTelemetry?: (sample: TelemetrySample, seq: number) => void;
  /** Called when the drift check finds the knobs moved away from the applied mode. */
  readonly onDrift?: (expected: PowerMode, found: PowerMode, pinned: boolean) => void;
}

/** Opens the knob driver the config asks for: the helper's socket, or the files in-process. */
export async function openKnobDriver(config: DeviceControllerConfig, options: { readonly hold?: boolean } = {}): Promise<JetsonKnobDriver> {
  if (config.jetson.helperSocket) return HelperClient.connect(config.jetson.helperSocket, { hold: options.hold ?? false });
  return LocalKnobDriver.open({
    io: openSysfs(config.sysfsRoot),
    ...(config.jetson.stateFile ? { stateFile: config.jetson.stateFile } : {}),
    cpuGovernor: config.jetson.cpuGovernor,
    gpuGovernor: config.jetson.gpuGovernor,
  });
}

/**
 * The device-controller's lifecycle on a Jetson (the gRPC adapter sits on top of this):
 * start → restore what an earlier session left (the state file) → serve modes and telemetry →
 * on stop restore the state found at start (the service's `handleSignals` calls stop on SIGTERM/SIGINT).
 */
export class JetsonController {
  private samplers: Sampler[] = [];
  private tegrastats: TegrastatsProcess | undefined;
  private applied: PowerMode | undefined;
  private latest: TelemetrySample | undefined;
  private stopping: Promise<RestoreResult | undefined> | undefined;

  private constructor(
    readonly backend: JetsonBackend,
    private readonly options: JetsonControllerOptions,
    /** What start() restored from an earlier session that did not (a crash), if anything. */
    readonly recovered: RestoreResult | undefined,
  ) {}

  static async start(options: JetsonControllerOptions): Promise<JetsonController> {
    const { config, logger } = options;
    // Held: if this process dies, the helper restores on its own when the connection drops.
    const driver = await openKnobDriver(config, { hold: true });
    let recovered: RestoreResult | undefined;
    try {
      const saved = await driver.savedState();
      if (saved.ignored) logger.warn({ stateFile: saved.stateFile }, `ignoring state file: ${saved.ignored}`);
      if (saved.saved) {
        logger.warn({ stateFile: saved.stateFile, savedAt: saved.saved.savedAt, savedMode: formatPowerMode(saved.saved.mode) }, 'found the state of an earlier session that did not restore (crash?); restoring it first');
        recovered = await driver.restore();
        logger.info({ mode: formatPowerMode(recovered.mode), switchMs: recovered.switchMs }, 'restored the saved state');
      }
      const board = await driver.describe();
      const profile = config.jetson.profile ? await loadProfilePower(config.jetson.profile, board.identity.id) : undefined;
      if (profile) logger.info({ profile: config.jetson.profile, modes: profile.modes }, 'known power per mode loaded for the hard cap');
      const backend = await JetsonBackend.open({
        driver,
        sensorsIo: openSysfs(config.sysfsRoot),
        ...(config.jetson.powerCapW > 0 ? { hardCapW: config.jetson.powerCapW } : {}),
        ...(profile ? { knownPowerW: profile.lookup } : {}),
        ...(config.jetson.totalRails ? { totalRails: config.jetson.totalRails } : {}),
      });
      const controller = new JetsonController(backend, options, recovered);
      logger.info({ board: board.identity.id, model: board.identity.model, grid: board.grid, emc: board.emc.mechanism, via: driver.location }, 'jetson controller started');
      if (config.jetson.initialMode) await controller.setMode(parsePowerMode(config.jetson.initialMode, 'jetson.initialMode'));
      controller.startTelemetry();
      return controller;
    } catch (err) {
      await driver.close().catch(() => undefined);
      throw err;
    }
  }

  info(): Promise<DeviceControlInfo> {
    return this.backend.info();
  }

  getMode(): Promise<PowerMode> {
    return this.backend.getMode();
  }

  /** The last telemetry sample, if sampling is on. */
  get latestTelemetry(): TelemetrySample | undefined {
    return this.latest;
  }

  get appliedMode(): PowerMode | undefined {
    return this.applied;
  }

  async setMode(mode: PowerMode, options: SetModeOptions = {}): Promise<ModeSwitch> {
    const result = await this.backend.setMode(mode, options);
    this.applied = result.mode;
    this.options.logger.info(
      { mode: formatPowerMode(result.mode), previousMode: formatPowerMode(result.previousMode), switchMs: Number(result.switchMs.toFixed(3)), switchS: result.switchS, writes: result.writes.length },
      'mode applied',
    );
    return result;
  }

  private emit(sample: TelemetrySample, seq: number): void {
    this.latest = sample;
    this.options.onTelemetry?.(sample, seq);
  }

  private startTelemetry(): void {
    const { config, logger } = this.options;
    const intervalMs = config.jetson.telemetryIntervalMs;
    if (intervalMs > 0) {
      const useTegrastats = config.jetson.powerSource === 'tegrastats' || (config.jetson.powerSource === 'auto' && !this.backend.sensors.hasRails);
      if (!useTegrastats) {
        this.samplers.push(
          startSampler(intervalMs, () => this.backend.sampleTelemetry(), (s, seq) => this.emit(s, seq), (err) => logger.warn({ err: String(err) }, 'telemetry sample failed')),
        );
      } else {
        let seq = 0;
        const totalRails = config.jetson.totalRails ?? this.backend.board.identity.totalRails;
        this.tegrastats = startTegrastats({
          intervalMs,
          command: config.jetson.tegrastatsCommand,
          onReading: (r) => {
            const total = tegrastatsTotal(r, totalRails);
            this.emit(
              {
                measuredAt: new Date(),
                powerW: total.powerW,
                rails: r.rails.map((x) => ({ rail: x.rail, powerW: x.powerW })),
                totalRails: total.totalRails,
                temperaturesC: r.temperaturesC,
                clocks: { cpuMhz: {}, ...(r.gpu?.mhz !== undefined ? { gpuMhz: r.gpu.mhz } : {}), ...(r.emc?.mhz !== undefined ? { emcMhz: r.emc.mhz } : {}) },
                ...(this.applied ? { mode: this.applied } : {}),
                source: 'tegrastats',
                ...(total.note ? { note: total.note } : {}),
              },
              seq++,
            );
          },
          onError: (err) => logger.warn({ err: err.message }, 'tegrastats failed; no power telemetry'),
        });
      }
    }
    const driftMs = config.jetson.driftCheckIntervalMs;
    if (driftMs > 0) {
      this.samplers.push(startSampler(driftMs, () => this.checkDrift(), () => undefined, (err) => logger.warn({ err: String(err) }, 'drift check failed')));
    }
  }

  /** Compares the knobs with the applied mode: jetson_clocks, nvpmodel or a user may have moved them. */
  async checkDrift(): Promise<boolean> {
    const expected = this.applied;
    if (!expected) return false;
    const found = await this.backend.readKnobs();
    if (samePowerMode(found.mode, expected) && found.pinned) return false;
    this.options.logger.warn({ expected: formatPowerMode(expected), found: formatPowerMode(found.mode), pinned: found.pinned }, 'the knobs moved away from the applied mode (jetson_clocks? nvpmodel?)');
    this.options.onDrift?.(expected, found.mode, found.pinned);
    if (this.options.config.jetson.reassertOnDrift) await this.setMode(expected);
    return true;
  }

  /** Stops sampling and restores the state found at start. Safe to call twice. */
  stop(): Promise<RestoreResult | undefined> {
    this.stopping ??= (async () => {
      for (const s of this.samplers) await s.stop();
      await this.tegrastats?.stop();
      let result: RestoreResult | undefined;
      try {
        result = await this.backend.restore();
        this.options.logger.info({ restored: result.restored, mode: formatPowerMode(result.mode), reason: result.reason }, 'restored the knobs');
      } finally {
        await this.backend.close();
      }
      return result;
    })();
    return this.stopping;
  }
}
