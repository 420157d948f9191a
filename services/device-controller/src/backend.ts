import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { DEVICES, gridSize, isOnGrid, type DeviceSpec, type PowerMode, type PowerModeGrid, type PowerPreset } from '@fulcrum/core';
import { requireNonNegative } from '@fulcrum/core/internal';
import type { JetsonBoard } from './discover.js';
import type { JetsonKnobDriver, RestoreResult, SavedStateSummary } from './driver.js';
import type { KnobReadout, WriteRecord } from './knobs.js';
import { checkPowerCap, type KnownPowerW } from './power-cap.js';
import { JetsonSensors, type BoardPower, type RailReading } from './power.js';
import type { SysfsIo } from './sysfs-io.js';

/** What the device-controller serves (SPEC §1, proto fulcrum.device.v1). */
export interface DeviceControlInfo {
  readonly device: string;
  readonly displayName: string;
  readonly backend: 'jetson' | 'virtual' | 'table';
  readonly grid: PowerModeGrid;
  readonly modeCount: number;
  readonly presets: readonly PowerPreset[];
  /** Modes whose known power exceeds this are refused, watts; 0 = no cap. */
  readonly hardCapW: number;
  readonly notes: readonly string[];
}

export interface ModeSwitch {
  /** Read back from the knobs after writing. */
  readonly mode: PowerMode;
  readonly previousMode: PowerMode;
  /** The switch itself (writes and read-back), milliseconds, as measured where the writes ran. */
  readonly switchMs: number;
  /** Switch as seen by the caller, including the round trip to the helper and the settle wait, seconds. */
  readonly switchS: number;
  readonly settleS: number;
  readonly writes: readonly WriteRecord[];
}

export interface TelemetrySample {
  readonly measuredAt: Date;
  /** Board total, watts (see BoardPower.totalRails). */
  readonly powerW: number;
  readonly rails: readonly Pick<RailReading, 'rail' | 'powerW'>[];
  readonly totalRails: readonly string[];
  readonly temperaturesC: Readonly<Record<string, number>>;
  /** Current clocks: CPU per cluster, GPU, EMC (EMC and the mode come from the knobs). */
  readonly clocks: { readonly cpuMhz: Readonly<Record<string, number>>; readonly gpuMhz?: number; readonly emcMhz?: number };
  readonly mode?: PowerMode;
  /** `model`: a virtual or table board (power from @fulcrum/devices). */
  readonly source: 'ina3221' | 'tegrastats' | 'model';
  readonly note?: string;
}

/**
 * The controller's view of a device: knobs and sensors. The jetson backend implements it over
 * sysfs; a virtual or table device can implement it over @fulcrum/devices (whose DeviceBackend
 * answers mode × workload → time and power, a different question: it has no knobs to set).
 */
/** How to switch: the settle wait after it, and what stops that wait. */
export interface SetModeOptions {
  /** Wait this long after switching, seconds. */
  readonly settleS?: number | undefined;
  /**
   * Aborted (the caller went away): the settle wait stops and the switch rejects with the
   * signal's reason; aborted before the switch, nothing is written.
   */
  readonly signal?: AbortSignal | undefined;
}

export interface DeviceControlBackend {
  readonly kind: DeviceControlInfo['backend'];
  info(): Promise<DeviceControlInfo>;
  getMode(): Promise<PowerMode>;
  setMode(mode: PowerMode, options?: SetModeOptions): Promise<ModeSwitch>;
  sampleTelemetry(): Promise<TelemetrySample>;
  close(): Promise<void>;
}

/** A core DeviceSpec of a discovered board: its sysfs grid, and NVIDIA presets that lie on that grid. */
export function deviceSpecOf(board: JetsonBoard): DeviceSpec {
  const known = DEVICES.find((d) => d.id === board.identity.id);
  const presets = (known?.presets ?? []).filter((p) => isOnGrid(p.mode, board.grid));
  const notes = [
    `grid read from sysfs on ${board.identity.model || board.identity.id}`,
    ...board.notes,
    ...(known && gridSize(known.grid) !== gridSize(board.grid) ? [`differs from the documented ${known.id} grid (${gridSize(known.grid)} modes)`] : []),
  ];
  return { id: board.identity.id, displayName: board.identity.model || board.identity.id, grid: board.grid, subGrids: {}, presets, notes: notes.join('; ') };
}

export interface JetsonBackendOptions {
  readonly driver: JetsonKnobDriver;
  /** I/O for the unprivileged sensors (INA3221, thermal, current clocks). */
  readonly sensorsIo: SysfsIo;
  /** Refuse modes whose known power is above this, watts; 0/undefined = no cap. */
  readonly hardCapW?: number;
  readonly knownPowerW?: KnownPowerW;
  /** Rails summed for the board total (default: the board's). */
  readonly totalRails?: readonly string[];
}

/** The real Jetson: knobs through the driver (in-process or the helper), sensors read directly. */
export class JetsonBackend implements DeviceControlBackend {
  readonly kind = 'jetson' as const;

  private constructor(
    readonly driver: JetsonKnobDriver,
    readonly board: JetsonBoard,
    readonly sensors: JetsonSensors,
    private readonly options: JetsonBackendOptions,
  ) {}

  static async open(options: JetsonBackendOptions): Promise<JetsonBackend> {
    const board = await options.driver.describe();
    const sensors = await JetsonSensors.open(options.sensorsIo, board.identity, board, options.totalRails ? { totalRails: options.totalRails } : {});
    return new JetsonBackend(options.driver, board, sensors, options);
  }

  get deviceSpec(): DeviceSpec {
    return deviceSpecOf(this.board);
  }

  async info(): Promise<DeviceControlInfo> {
    const spec = this.deviceSpec;
    return {
      device: spec.id,
      displayName: spec.displayName,
      backend: 'jetson',
      grid: spec.grid,
      modeCount: gridSize(spec.grid),
      presets: spec.presets,
      hardCapW: this.options.hardCapW ?? 0,
      notes: [...this.board.notes, ...(this.sensors.hasRails ? [] : ['no INA3221 rails found: power comes from tegrastats, if available'])],
    };
  }

  readKnobs(): Promise<KnobReadout> {
    return this.driver.read();
  }

  async getMode(): Promise<PowerMode> {
    return (await this.driver.read()).mode;
  }

  /** Checks the cap, switches, reads back, then waits `settleS`; reports the measured latency. */
  async setMode(mode: PowerMode, options: SetModeOptions = {}): Promise<ModeSwitch> {
    const settleS = requireNonNegative('settleS', options.settleS ?? 0);
    checkPowerCap(mode, this.options.hardCapW, this.options.knownPowerW);
    options.signal?.throwIfAborted();
    const started = performance.now();
    const result = await this.driver.apply(mode);
    if (settleS > 0) await sleep(settleS * 1000, undefined, options.signal ? { signal: options.signal } : undefined);
    return { mode: result.mode, previousMode: result.previousMode, switchMs: result.switchMs, switchS: (performance.now() - started) / 1000, settleS, writes: result.writes };
  }

  restore(): Promise<RestoreResult> {
    return this.driver.restore();
  }

  savedState(): Promise<SavedStateSummary> {
    return this.driver.savedState();
  }

  readPower(): Promise<BoardPower> {
    return this.sensors.readPower();
  }

  /** One telemetry sample: rails, temperatures, clocks, and the mode read from the knobs. */
  async sampleTelemetry(): Promise<TelemetrySample> {
    const [reading, knobs] = await Promise.all([this.sensors.read(), this.driver.read().catch(() => undefined)]);
    const emcMhz = knobs?.mode.emcMhz;
    return {
      measuredAt: reading.measuredAt,
      powerW: reading.power.powerW,
      rails: reading.power.rails.map((r) => ({ rail: r.rail, powerW: r.powerW })),
      totalRails: reading.power.totalRails,
      temperaturesC: reading.temperaturesC,
      clocks: { ...reading.clocks, ...(emcMhz ? { emcMhz } : {}) },
      ...(knobs ? { mode: knobs.mode } : {}),
      source: 'ina3221',
      ...(reading.power.note ? { note: reading.power.note } : {}),
    };
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
