import type { BoardIdentity } from './board.js';
import { hzToMhz, khzToMhz, type JetsonBoard } from './discover.js';
import { DEVFREQ_FILES, INA3221_DRIVER_DIR, POLICY_FILES, THERMAL_CLASS, policyDir } from './paths.js';
import { readInt, readOptional, type SysfsIo } from './sysfs-io.js';

/** One INA3221 channel with a rail name ([jtop] power.py: labels in*_label, values in*_input mV, curr*_input mA). */
export interface Ina3221Channel {
  readonly rail: string;
  readonly voltagePath: string;
  readonly currentPath: string;
}

/** One INA3221 rail's reading (not the bus's `RailPower`, which carries only the rail and its watts). */
export interface RailReading {
  readonly rail: string;
  readonly voltageMv: number;
  readonly currentMa: number;
  /** mV × mA / 10⁶. */
  readonly powerW: number;
}

export interface BoardPower {
  /** Sum of the board rails, watts. */
  readonly powerW: number;
  /** The rails summed. */
  readonly totalRails: readonly string[];
  readonly rails: readonly RailReading[];
  /** Set when the board's usual rails were not all there and another rule gave the total. */
  readonly note?: string;
}

/**
 * Every labelled INA3221 channel: `/sys/bus/i2c/drivers/ina3221/<i2c-dev>/hwmon/hwmon<N>/in<c>_label`
 * for c = 1..3 (the hwmon index differs between boards and boots, hence the listing). Channels
 * labelled `NC` (not connected) are skipped, as is channel 7 ("sum of shunt voltages").
 */
export async function findIna3221Channels(io: SysfsIo): Promise<Ina3221Channel[]> {
  const channels: Ina3221Channel[] = [];
  for (const dev of await io.list(INA3221_DRIVER_DIR)) {
    for (const hwmon of (await io.list(`${INA3221_DRIVER_DIR}/${dev}/hwmon`)).filter((e) => /^hwmon\d+$/u.test(e))) {
      const dir = `${INA3221_DRIVER_DIR}/${dev}/hwmon/${hwmon}`;
      for (const c of [1, 2, 3]) {
        const label = (await readOptional(io, `${dir}/in${c}_label`))?.trim();
        if (!label || label === 'NC') continue;
        channels.push({ rail: label, voltagePath: `${dir}/in${c}_input`, currentPath: `${dir}/curr${c}_input` });
      }
    }
  }
  return channels;
}

export async function readRails(io: SysfsIo, channels: readonly Ina3221Channel[]): Promise<RailReading[]> {
  return Promise.all(
    channels.map(async (ch) => {
      const voltageMv = await readInt(io, ch.voltagePath);
      const currentMa = await readInt(io, ch.currentPath);
      return { rail: ch.rail, voltageMv, currentMa, powerW: (voltageMv * currentMa) / 1e6 };
    }),
  );
}

/**
 * The board total from its rails: the board's own rail set when all of it is there (Orin AGX:
 * VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0, SPEC §3); else the module input VDD_IN or POM_5V_IN
 * when present ([jtop] total_power); else the sum of every rail, with a note.
 */
export function boardTotal(rails: ReadonlyArray<Pick<RailReading, 'rail' | 'powerW'>>, totalRails: readonly string[]): { powerW: number; totalRails: string[]; note?: string } {
  const byName = new Map(rails.map((r) => [r.rail, r.powerW]));
  const sum = (names: readonly string[]): number => names.reduce((s, n) => s + (byName.get(n) ?? 0), 0);
  if (totalRails.length && totalRails.every((r) => byName.has(r))) return { powerW: sum(totalRails), totalRails: [...totalRails] };
  for (const input of ['VDD_IN', 'POM_5V_IN']) {
    if (byName.has(input)) {
      return { powerW: byName.get(input)!, totalRails: [input], note: `rails ${totalRails.join(' + ')} not all present; using the module input ${input}` };
    }
  }
  const all = rails.map((r) => r.rail);
  return { powerW: sum(all), totalRails: all, note: `rails ${totalRails.join(' + ')} not all present; summing every rail (${all.join(', ') || 'none'})` };
}

export interface ThermalZone {
  readonly type: string;
  readonly path: string;
}

/** `/sys/class/thermal/thermal_zone*`: type and temp (millidegrees C). */
export async function findThermalZones(io: SysfsIo): Promise<ThermalZone[]> {
  const zones: ThermalZone[] = [];
  for (const zone of (await io.list(THERMAL_CLASS)).filter((e) => /^thermal_zone\d+$/u.test(e))) {
    const type = (await readOptional(io, `${THERMAL_CLASS}/${zone}/type`))?.trim();
    if (type) zones.push({ type, path: `${THERMAL_CLASS}/${zone}/temp` });
  }
  return zones;
}

/** What the sensors say at one instant. Nothing here needs root. */
export interface SensorReading {
  readonly measuredAt: Date;
  readonly power: BoardPower;
  readonly temperaturesC: Readonly<Record<string, number>>;
  /** Current clocks: per active cluster (policy → MHz) and GPU; EMC needs debugfs (root), see the controller. */
  readonly clocks: { readonly cpuMhz: Readonly<Record<string, number>>; readonly gpuMhz?: number };
}

export interface JetsonSensorsOptions {
  /** Rails to sum for the board total; default: the board's (BoardIdentity.totalRails). */
  readonly totalRails?: readonly string[];
}

/** The unprivileged sensors of a board: INA3221 rails, thermal zones, current clocks. */
export class JetsonSensors {
  private constructor(
    private readonly io: SysfsIo,
    readonly channels: readonly Ina3221Channel[],
    readonly zones: readonly ThermalZone[],
    readonly totalRails: readonly string[],
    private readonly board: Pick<JetsonBoard, 'clusters' | 'gpu'> | undefined,
  ) {}

  static async open(io: SysfsIo, identity: Pick<BoardIdentity, 'totalRails'>, board?: Pick<JetsonBoard, 'clusters' | 'gpu'>, options: JetsonSensorsOptions = {}): Promise<JetsonSensors> {
    return new JetsonSensors(io, await findIna3221Channels(io), await findThermalZones(io), options.totalRails ?? identity.totalRails, board);
  }

  /** True when the board has INA3221 rails (else use the tegrastats fallback). */
  get hasRails(): boolean {
    return this.channels.length > 0;
  }

  async readPower(): Promise<BoardPower> {
    const rails = await readRails(this.io, this.channels);
    const total = boardTotal(rails, this.totalRails);
    return { ...total, rails };
  }

  async readTemperatures(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const zone of this.zones) {
      const text = await readOptional(this.io, zone.path);
      // Some zones read -EINVAL or absurd values while their sensor is off; keep only numbers.
      if (text !== undefined && /^-?\d+$/u.test(text.trim())) out[zone.type] = Number(text) / 1000;
    }
    return out;
  }

  async readClocks(): Promise<SensorReading['clocks']> {
    const cpuMhz: Record<string, number> = {};
    let gpuMhz: number | undefined;
    if (this.board) {
      for (const c of this.board.clusters) {
        const khz = await readOptional(this.io, `${policyDir(c.policy)}/${POLICY_FILES.curKhz}`);
        if (khz !== undefined && /^\d+$/u.test(khz)) cpuMhz[c.policy] = khzToMhz(Number(khz));
      }
      const hz = await readOptional(this.io, `${this.board.gpu.dir}/${DEVFREQ_FILES.curHz}`);
      if (hz !== undefined && /^\d+$/u.test(hz)) gpuMhz = hzToMhz(Number(hz));
    }
    return { cpuMhz, ...(gpuMhz !== undefined ? { gpuMhz } : {}) };
  }

  async read(): Promise<SensorReading> {
    const measuredAt = new Date();
    const [power, temperaturesC, clocks] = await Promise.all([this.readPower(), this.readTemperatures(), this.readClocks()]);
    return { measuredAt, power, temperaturesC, clocks };
  }
}

export interface Sampler {
  stop(): Promise<void>;
}

/**
 * Calls `sample` every `intervalMs` (never overlapping: a slow read delays the next one rather
 * than stacking up) and hands each result to `onSample`; errors go to `onError` and sampling goes on.
 */
export function startSampler<T>(intervalMs: number, sample: () => Promise<T>, onSample: (value: T, seq: number) => void, onError: (err: unknown) => void = () => undefined): Sampler {
  if (!(intervalMs > 0)) throw new Error(`sampling interval must be > 0 ms, got ${intervalMs}`);
  let stopped = false;
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    const started = Date.now();
    running = sample()
      .then((v) => {
        if (!stopped) onSample(v, seq++);
      })
      .catch((err: unknown) => {
        if (!stopped) onError(err);
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, Math.max(0, intervalMs - (Date.now() - started)));
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
