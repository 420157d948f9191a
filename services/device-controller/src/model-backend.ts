/**
 * The device-controller's virtual and table boards: a `DeviceControlBackend` over a
 * `@fulcrum/devices` model. There are no knobs to write, so the "board" is the mode it holds; its
 * power readings come from the model at that mode for whatever the executor runs now (the
 * executor publishes its activity — idle, or the workload, kind and batch size of the minibatch
 * on the GPU — and the service hands it to `setActivity`).
 *
 * Idle power (no minibatch running, or an activity older than `activityTimeoutMs`):
 * * virtual: the model's mode-dependent terms without any work (libs/devices physics.ts):
 *   P0 + n·Pcore·vc² + Pgpu·xg·vg² + Pemc·xe·ve² — static rails, online cores' leakage, the GPU
 *   and EMC clock trees; no busy core, no FLOP or byte rate (`virtualIdlePowerW`).
 * * table: the smallest power measured at that mode over every row (a table holds no idle
 *   readings; the smallest busy reading is the closest it has, and an over-estimate).
 *
 * Known power for the hard cap (SPEC §8): the largest power the model knows at the mode —
 * virtual: over every workload, training at its default batch size and inference at 1…64;
 * table: over every row at that mode (the conservative reading, as for the jetson backend).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import {
  ValidationError,
  assertOnGrid,
  formatPowerMode,
  getPreset,
  gridSize,
  isOnGrid,
  maxMode,
  powerModeKey,
  samePowerMode,
  seededRandom,
  type PowerMode,
  type PowerModeGrid,
  type PowerPreset,
  type WorkloadKind,
} from '@fulcrum/core';
import { requireNonNegative } from '@fulcrum/core/internal';
import { DEFAULT_EXPORT_BATCH_SIZES, VirtualDevice, TableBackend, defaultTrainBatchSize, type DeviceBackend } from '@fulcrum/devices';
import type { DevicePhysics } from '@fulcrum/devices/internal';
import type { DeviceControlBackend, DeviceControlInfo, ModeSwitch, SetModeOptions, TelemetrySample } from './backend.js';
import { checkPowerCap } from './power-cap.js';

/** What the executor's GPU runs now (the bus's `ExecutorActivity`, read by `modelActivity` in node.ts). */
export interface ModelActivity {
  readonly state: 'idle' | 'train' | 'infer';
  readonly workload?: string | undefined;
  readonly batchSize?: number | undefined;
  readonly stream?: string | undefined;
  readonly measurement?: boolean | undefined;
}

export interface ModelControlBackendOptions {
  /** Refuse modes whose known power is above this, watts; 0/undefined = no cap. */
  readonly hardCapW?: number | undefined;
  /** The mode the board is in at start (restored on stop). Default: MAXN if the board accepts it, else the top mode. */
  readonly initialMode?: PowerMode | undefined;
  /** Relative spread of power samples (gaussian, seeded); default the model's noise. */
  readonly noise?: number | undefined;
  readonly seed?: number | undefined;
  /** An activity not refreshed for this long counts as idle (the executor is gone); 0 = never expires. Default 5000. */
  readonly activityTimeoutMs?: number | undefined;
  /** Wall clock, ms (tests). */
  readonly nowMs?: () => number;
}

/** Idle power of the virtual model at a mode: its mode-dependent terms with no work running. */
export function virtualIdlePowerW(physics: DevicePhysics, mode: PowerMode): number {
  const xc = mode.cpuMhz / physics.cpuMaxMhz;
  const xg = mode.gpuMhz / physics.gpuMaxMhz;
  const xe = mode.emcMhz / physics.emcMaxMhz;
  const v = physics.voltageFloor;
  const vc = v.cpu + (1 - v.cpu) * xc;
  const vg = v.gpu + (1 - v.gpu) * xg;
  const ve = v.emc + (1 - v.emc) * xe;
  const p = physics.power;
  return p.staticW + mode.cores * p.coreIdleW * vc * vc + p.gpuIdleW * xg * vg * vg + p.emcIdleW * xe * ve * ve;
}

/** The smallest grid whose cross product covers `modes` (each knob's distinct values, sorted). */
export function coveringGrid(modes: readonly PowerMode[]): PowerModeGrid {
  const values = (pick: (m: PowerMode) => number): number[] => [...new Set(modes.map(pick))].sort((a, b) => a - b);
  return { cores: values((m) => m.cores), cpuMhz: values((m) => m.cpuMhz), gpuMhz: values((m) => m.gpuMhz), emcMhz: values((m) => m.emcMhz) };
}


export class ModelControlBackend implements DeviceControlBackend {
  readonly kind: 'virtual' | 'table';
  readonly initialMode: PowerMode;
  private mode: PowerMode;
  private activity: ModelActivity = { state: 'idle' };
  private activityAtMs = 0;
  private readonly grid: PowerModeGrid;
  private readonly accepted: ReadonlySet<string> | undefined;
  private readonly knownPower = new Map<string, number | undefined>();
  private readonly idlePower = new Map<string, number>();
  private readonly random: () => number;
  private readonly noise: number;
  private readonly nowMs: () => number;
  private readonly activityTimeoutMs: number;
  private switches = Promise.resolve();
  /** Why the last sample fell back to idle power, if it did. */
  lastNote: string | undefined;

  constructor(
    readonly model: DeviceBackend,
    private readonly options: ModelControlBackendOptions = {},
  ) {
    this.kind = model.type;
    if (model instanceof TableBackend) {
      const modes = model.table.modes();
      if (modes.length === 0) throw new ValidationError('profiles', 'the profile table holds no rows');
      this.accepted = new Set(modes.map(powerModeKey));
      this.grid = coveringGrid(modes);
    } else {
      this.grid = model.device.grid;
    }
    this.noise = options.noise ?? model.noise;
    this.random = seededRandom((options.seed ?? model.seed) * 7919 + 17);
    this.nowMs = options.nowMs ?? (() => Date.now());
    this.activityTimeoutMs = options.activityTimeoutMs ?? 5000;
    const start = options.initialMode ?? this.defaultInitialMode();
    this.validate(start, 'initialMode');
    this.initialMode = start;
    this.mode = start;
  }

  private defaultInitialMode(): PowerMode {
    const maxn = this.model.device.presets.find((p) => p.name === 'MAXN')?.mode;
    if (maxn && this.accepts(maxn)) return maxn;
    if (this.accepted) {
      const modes = (this.model as TableBackend).table.modes();
      return modes[modes.length - 1]!;
    }
    return maxMode(this.grid);
  }

  /** Whether the board takes this mode (on the grid; for a table, a mode it holds). */
  accepts(mode: PowerMode): boolean {
    if (!isOnGrid(mode, this.grid)) return false;
    return !this.accepted || this.accepted.has(powerModeKey(this.snap(mode)));
  }

  /** The grid's own values (a client may send 1300.5000001 for 1300.5). */
  private snap(mode: PowerMode): PowerMode {
    const near = (values: readonly number[], v: number): number => values.reduce((best, x) => (Math.abs(x - v) < Math.abs(best - v) ? x : best));
    return { cores: near(this.grid.cores, mode.cores), cpuMhz: near(this.grid.cpuMhz, mode.cpuMhz), gpuMhz: near(this.grid.gpuMhz, mode.gpuMhz), emcMhz: near(this.grid.emcMhz, mode.emcMhz) };
  }

  private validate(mode: PowerMode, field: string): void {
    assertOnGrid(mode, this.grid, this.model.device.id, field);
    if (this.accepted && !this.accepted.has(powerModeKey(this.snap(mode)))) {
      throw new ValidationError(field, `mode ${formatPowerMode(mode)} is not in the profile table (${this.accepted.size} modes); a table board accepts only the modes it holds`);
    }
  }

  async info(): Promise<DeviceControlInfo> {
    const device = this.model.device;
    const presets: PowerPreset[] = device.presets.filter((p) => this.accepts(p.mode));
    const notes = [
      this.model.description,
      this.kind === 'virtual'
        ? 'synthetic: the virtual Jetson model, calibrated to published Orin AGX measurements; trust it only after calibrating against your own board'
        : `answers only the ${this.accepted!.size} modes its profile table holds (grid below is the smallest grid covering them)`,
      'power follows the executor activity published on the bus; idle power when nothing runs',
    ];
    return {
      device: device.id,
      displayName: `${device.displayName} (${this.kind})`,
      backend: this.kind,
      grid: this.grid,
      modeCount: this.accepted ? this.accepted.size : gridSize(this.grid),
      presets,
      hardCapW: this.options.hardCapW ?? 0,
      notes,
    };
  }

  async getMode(): Promise<PowerMode> {
    return this.mode;
  }

  /**
   * Checks the grid (ValidationError naming `mode.<knob>`) and the hard cap (PowerCapError), then
   * records the mode; switches are serialized. `switchS` includes the settle wait.
   */
  setMode(mode: PowerMode, options: SetModeOptions = {}): Promise<ModeSwitch> {
    const run = this.switches.then(async (): Promise<ModeSwitch> => {
      const settleS = requireNonNegative('settleS', options.settleS ?? 0);
      this.validate(mode, 'mode');
      const target = this.snap(mode);
      checkPowerCap(target, this.options.hardCapW, (m) => this.knownPowerW(m));
      options.signal?.throwIfAborted();
      const started = performance.now();
      const previousMode = this.mode;
      this.mode = target;
      const switchMs = performance.now() - started;
      // Timers may fire a little early by performance.now(): wait until the settle time has passed.
      const wait = options.signal ? { signal: options.signal } : undefined;
      for (let left = settleS * 1000; left > 0; left = started + settleS * 1000 - performance.now()) await sleep(left, undefined, wait);
      return { mode: target, previousMode, switchMs, switchS: (performance.now() - started) / 1000, settleS, writes: [] };
    });
    this.switches = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Back to the mode found at start (SPEC §8); for a model board that is only state. */
  async restore(): Promise<{ restored: boolean; mode: PowerMode }> {
    await this.switches;
    const restored = !samePowerMode(this.mode, this.initialMode);
    this.mode = this.initialMode;
    return { restored, mode: this.mode };
  }

  /** What the executor runs now; power readings follow it. */
  setActivity(activity: ModelActivity): void {
    this.activity = activity;
    this.activityAtMs = this.nowMs();
  }

  /** The activity power readings use now (idle once it is older than `activityTimeoutMs`). */
  currentActivity(): ModelActivity {
    if (this.activity.state !== 'idle' && this.activityTimeoutMs > 0 && this.nowMs() - this.activityAtMs > this.activityTimeoutMs) return { state: 'idle' };
    return this.activity;
  }

  /** The largest power the model knows at `mode`, watts (undefined: nothing known). */
  knownPowerW(mode: PowerMode): number | undefined {
    const key = powerModeKey(mode);
    if (this.knownPower.has(key)) return this.knownPower.get(key);
    let maxW: number | undefined;
    const consider = (workload: string, kind: WorkloadKind, batchSize: number): void => {
      const q = { mode, workload, kind, batchSize };
      if (!this.model.has(q)) return;
      const w = this.model.groundTruth(q).powerW;
      maxW = maxW === undefined ? w : Math.max(maxW, w);
    };
    if (this.model instanceof TableBackend) {
      for (const row of this.model.table.rows()) if (samePowerMode(row.mode, mode)) maxW = Math.max(maxW ?? 0, row.powerW);
    } else {
      for (const w of this.model.workloads()) {
        consider(w, 'train', defaultTrainBatchSize(w));
        for (const b of DEFAULT_EXPORT_BATCH_SIZES) consider(w, 'infer', b);
      }
    }
    this.knownPower.set(key, maxW);
    return maxW;
  }

  /** Power with nothing running at `mode`, watts (see the file comment). */
  idlePowerW(mode: PowerMode): number {
    const key = powerModeKey(mode);
    let w = this.idlePower.get(key);
    if (w === undefined) {
      if (this.model instanceof VirtualDevice) {
        w = virtualIdlePowerW(this.model.physics, mode);
      } else if (this.model instanceof TableBackend) {
        w = Infinity;
        for (const row of this.model.table.rows()) if (samePowerMode(row.mode, mode)) w = Math.min(w, row.powerW);
        if (!Number.isFinite(w)) w = 0;
      } else {
        w = 0;
      }
      this.idlePower.set(key, w);
    }
    return w;
  }

  /** Noise-free power at `mode` while `activity` runs, and why it fell back to idle if it did. */
  truePowerW(mode: PowerMode, activity: ModelActivity): { powerW: number; note?: string } {
    if (activity.state === 'idle' || !activity.workload || !activity.batchSize) return { powerW: this.idlePowerW(mode) };
    const q = { mode, workload: activity.workload, kind: activity.state, batchSize: activity.batchSize };
    if (!this.model.has(q)) {
      return { powerW: this.idlePowerW(mode), note: `the ${this.kind} model has no power for ${activity.workload} ${activity.state} batch ${activity.batchSize} at ${formatPowerMode(mode)}; idle power reported` };
    }
    return { powerW: this.model.groundTruth(q).powerW };
  }

  private gaussian(): number {
    const u = Math.max(this.random(), 1e-12);
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  async sampleTelemetry(): Promise<TelemetrySample> {
    const mode = this.mode;
    const { powerW: truth, note } = this.truePowerW(mode, this.currentActivity());
    this.lastNote = note;
    // Sensor noise, clipped at 3σ so a reading never goes negative.
    const factor = this.noise > 0 ? 1 + this.noise * Math.max(-3, Math.min(3, this.gaussian())) : 1;
    return {
      measuredAt: new Date(this.nowMs()),
      powerW: truth * factor,
      rails: [],
      totalRails: [],
      temperaturesC: {},
      clocks: { cpuMhz: { all: mode.cpuMhz }, gpuMhz: mode.gpuMhz, emcMhz: mode.emcMhz },
      mode,
      source: 'model',
      ...(note ? { note } : {}),
    };
  }

  async close(): Promise<void> {}
}

/** A preset by name on a model board (for `initialMode: MAXN`-style config). */
export function presetMode(backend: DeviceBackend, name: string, field = 'initialMode'): PowerMode {
  return getPreset(backend.device, name, field).mode;
}
