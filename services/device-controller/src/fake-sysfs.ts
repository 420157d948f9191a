/**
 * A fake Jetson sysfs tree for tests and for trying the backend without a board
 * (`fulcrum device fake-sysfs --board orin-agx --out DIR`), and the kernel behaviour that goes
 * with it.
 *
 * The tree holds the files the backend reads and writes, at their real paths (paths.ts), with
 * the grids of SPEC §3 / @fulcrum/core as their tables. Its marker file
 * (`.fulcrum-fake-sysfs.json`) switches openSysfs() to FakeKernelIo, which gives writes the
 * semantics of the kernel (and never runs when the root is `/`):
 *
 * - cpufreq/devfreq min and max snap to the frequency table (max: highest entry ≤ value, min:
 *   lowest entry ≥ value), so an off-table value reads back differently; min > max fails EINVAL
 *   (as 4.9-era cpufreq and devfreq do; newer kernels clamp, which also shows on read-back);
 * - writes to a cpufreq policy whose CPUs are all offline fail EBUSY; cpu0 cannot be offlined;
 * - a governor not in the available list fails EINVAL;
 * - the BPMP EMC `rate` moves only while `mrq_rate_locked` is 1, snaps down to
 *   `bpmp/debug/emc/possible_rates` and respects nvpmodel's `emc_iso_cap`;
 * - the mainline EMC debugfs min/max refuse a rate not in `available_rates` with EINVAL;
 * - rules in the marker add a permission failure (EACCES on chosen files or on every file),
 *   any errno on a chosen file, and read-back overrides (a firmware or thermal cap);
 * - every write attempt is appended to `.fulcrum-fake-sysfs.writes.jsonl` (order, value, outcome).
 *
 * The rail and temperature values are synthetic examples, not measurements.
 */
import { appendFile, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { AGX_XAVIER, ORIN_AGX, ORIN_NANO, type DeviceSpec } from '@fulcrum/core';
import { RealSysfsIo, SysfsError, parseCpuList, parseNumberList, type SysfsIo } from './sysfs-io.js';
import { BOOT_ID, BPMP_EMC_DIR, BPMP_EMC_POSSIBLE_RATES, CPU_DIR, CPUFREQ_DIR, DEVFREQ_CLASS, DT_COMPATIBLE, DT_MODEL, INA3221_DRIVER_DIR, NVPMODEL_EMC_CAP, THERMAL_CLASS } from './paths.js';

export const FAKE_SYSFS_MARKER = '.fulcrum-fake-sysfs.json';
export const FAKE_SYSFS_WRITE_LOG = '.fulcrum-fake-sysfs.writes.jsonl';
export const FAKE_BOARDS = ['orin-agx', 'agx-xavier', 'orin-nano'] as const;
export type FakeBoardId = (typeof FAKE_BOARDS)[number];

export interface FakeRules {
  /** Writes to these board paths fail with EACCES (a file the process may not write). */
  readonly readOnly?: readonly string[];
  /** Every write fails with EACCES, as for a process that is not root. */
  readonly allReadOnly?: boolean;
  /** Writes to these board paths fail with the given errno (e.g. `EINVAL`, `EIO`). */
  readonly failWrites?: Readonly<Record<string, string>>;
  /** Reads of these board paths return the value whatever was written (a firmware or thermal cap). */
  readonly readBackOverrides?: Readonly<Record<string, string>>;
}

export interface FakeSysfsMarker {
  readonly board: FakeBoardId;
  readonly generatedAt: string;
  readonly note: string;
  readonly rules: FakeRules;
}

export interface FakeRail {
  readonly mV: number;
  readonly mA: number;
}

interface FakeBoardSpec {
  readonly device: DeviceSpec;
  readonly model: string;
  readonly compatible: readonly string[];
  readonly clusters: readonly (readonly number[])[];
  /** The GPU's devfreq directory and its device-tree node name. */
  readonly gpuDir: string;
  readonly gpuOfName: string;
  readonly gpuGatingFiles: readonly string[];
  readonly emcBootHz: number;
  /** INA3221 devices: i2c name, hwmon index, three channel labels. */
  readonly ina3221: ReadonlyArray<{ readonly i2c: string; readonly hwmon: number; readonly labels: readonly [string, string, string] }>;
  readonly rails: Readonly<Record<string, FakeRail>>;
  readonly thermal: Readonly<Record<string, number>>;
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

const SPECS: Record<FakeBoardId, FakeBoardSpec> = {
  'orin-agx': {
    device: ORIN_AGX,
    model: 'NVIDIA Jetson AGX Orin Developer Kit',
    compatible: ['nvidia,p3737-0000+p3701-0005', 'nvidia,p3701-0005', 'nvidia,tegra234'],
    clusters: [range(4, 0), range(4, 4), range(4, 8)],
    gpuDir: '/sys/devices/platform/17000000.ga10b/devfreq/17000000.ga10b',
    gpuOfName: 'gpu',
    gpuGatingFiles: ['/sys/devices/platform/17000000.ga10b/tpc_pg_mask', '/sys/devices/platform/17000000.ga10b/fbp_pg_mask', '/sys/devices/platform/17000000.ga10b/railgate_enable'],
    emcBootHz: 3199000000,
    ina3221: [
      { i2c: '1-0040', hwmon: 1, labels: ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0'] },
      { i2c: '1-0041', hwmon: 2, labels: ['NC', 'VDDQ_VDD2_1V8AO', 'NC'] },
    ],
    rails: {
      VDD_GPU_SOC: { mV: 5000, mA: 1028 },
      VDD_CPU_CV: { mV: 5000, mA: 654 },
      VIN_SYS_5V0: { mV: 5000, mA: 1100 },
      VDDQ_VDD2_1V8AO: { mV: 5000, mA: 250 },
    },
    thermal: { 'cpu-thermal': 52968, 'gpu-thermal': 47625, 'cv0-thermal': 48100, 'soc0-thermal': 49531, 'soc2-thermal': 48406, 'tj-thermal': 52968 },
  },
  'agx-xavier': {
    device: AGX_XAVIER,
    model: 'Jetson-AGX',
    compatible: ['nvidia,p2972-0000', 'nvidia,tegra194'],
    clusters: [range(2, 0), range(2, 2), range(2, 4), range(2, 6)],
    gpuDir: '/sys/devices/17000000.gv11b/devfreq/17000000.gv11b',
    gpuOfName: 'gv11b',
    gpuGatingFiles: ['/sys/devices/gpu.0/tpc_pg_mask', '/sys/devices/gpu.0/railgate_enable'],
    emcBootHz: 2133000000,
    ina3221: [
      { i2c: '1-0040', hwmon: 2, labels: ['GPU', 'CPU', 'SOC'] },
      { i2c: '1-0041', hwmon: 3, labels: ['CV', 'VDDRQ', 'SYS5V'] },
    ],
    rails: {
      GPU: { mV: 19000, mA: 120 },
      CPU: { mV: 19000, mA: 180 },
      SOC: { mV: 19000, mA: 160 },
      CV: { mV: 19000, mA: 10 },
      VDDRQ: { mV: 19000, mA: 60 },
      SYS5V: { mV: 5000, mA: 600 },
    },
    thermal: { 'CPU-therm': 40000, 'GPU-therm': 39500, 'AUX-therm': 38500, 'AO-therm': 38000, 'Tboard_tegra': 36000, 'Tdiode_tegra': 37250 },
  },
  'orin-nano': {
    device: ORIN_NANO,
    model: 'NVIDIA Jetson Orin Nano Developer Kit',
    compatible: ['nvidia,p3768-0000+p3767-0005', 'nvidia,p3767-0005', 'nvidia,tegra234'],
    clusters: [range(4, 0), range(2, 4)],
    gpuDir: '/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu',
    gpuOfName: 'gpu',
    gpuGatingFiles: ['/sys/devices/platform/bus@0/17000000.gpu/tpc_pg_mask'],
    emcBootHz: 2133000000,
    ina3221: [{ i2c: '1-0040', hwmon: 1, labels: ['VDD_IN', 'VDD_CPU_GPU_CV', 'VDD_SOC'] }],
    rails: { VDD_IN: { mV: 5040, mA: 1180 }, VDD_CPU_GPU_CV: { mV: 5040, mA: 300 }, VDD_SOC: { mV: 5040, mA: 390 } },
    thermal: { 'cpu-thermal': 45000, 'gpu-thermal': 44000, 'soc0-thermal': 44500, 'tj-thermal': 45000 },
  },
};

const mhzToKhz = (mhz: number): number => Math.round(mhz * 1000);
const mhzToHz = (mhz: number): number => Math.round(mhz * 1e6);

export interface GenerateFakeSysfsOptions {
  readonly board: FakeBoardId;
  /** Directory to create the tree in; an existing fake tree there is replaced, any other non-empty directory is refused. */
  readonly out: string;
  /** Rail values (mV, mA) by label, replacing the synthetic defaults. */
  readonly rails?: Readonly<Record<string, FakeRail>>;
  readonly rules?: FakeRules;
  readonly bootId?: string;
}

export interface FakeSysfsTree {
  readonly root: string;
  readonly board: FakeBoardId;
  /** Files written (not counting links). */
  readonly files: number;
}

/** What a generated tree holds at its top: the marker and these folders. */
const TREE_TOP = new Set([FAKE_SYSFS_MARKER, 'sys', 'proc']);

async function assertFakeTree(root: string, entries: readonly string[]): Promise<void> {
  const refuse = (why: string): never => {
    throw new Error(`${root} is not empty and is not a fake sysfs tree (${why}); refusing to write into it`);
  };
  if (!entries.includes(FAKE_SYSFS_MARKER)) refuse(`no ${FAKE_SYSFS_MARKER}`);
  const other = entries.find((e) => !TREE_TOP.has(e));
  if (other) refuse(`it holds ${JSON.stringify(other)}, which the generator never writes`);
  let marker: Partial<FakeSysfsMarker>;
  try {
    marker = JSON.parse(await readFile(join(root, FAKE_SYSFS_MARKER), 'utf8')) as Partial<FakeSysfsMarker>;
  } catch {
    return refuse(`${FAKE_SYSFS_MARKER} is not the generator's JSON`);
  }
  if (!FAKE_BOARDS.includes(marker.board as FakeBoardId) || typeof marker.note !== 'string' || !marker.note.startsWith('Fake Jetson sysfs tree written by Fulcrum')) {
    refuse(`${FAKE_SYSFS_MARKER} was not written by the generator`);
  }
}

/** Writes a fake sysfs tree of a Jetson board under `out`. */
export async function generateFakeSysfs(options: GenerateFakeSysfsOptions): Promise<FakeSysfsTree> {
  const spec = SPECS[options.board];
  if (!spec) throw new Error(`unknown fake board ${JSON.stringify(options.board)}; known: ${FAKE_BOARDS.join(', ')}`);
  const root = resolve(options.out);
  if (existsSync(root)) {
    const entries = await readdir(root);
    // Only a tree this generator wrote is replaced: its marker (a real one, not any file of that
    // name) and nothing beside it but the folders it writes. Anything else: refuse, delete nothing.
    if (entries.length) await assertFakeTree(root, entries);
    for (const e of entries) await rm(join(root, e), { recursive: true, force: true });
  }
  let files = 0;
  const put = async (path: string, content: string): Promise<void> => {
    const host = join(root, path);
    await mkdir(dirname(host), { recursive: true });
    await writeFile(host, content);
    files++;
  };
  const link = async (path: string, target: string): Promise<void> => {
    const host = join(root, path);
    await mkdir(dirname(host), { recursive: true });
    await symlink(relative(dirname(host), join(root, target)), host);
  };
  const grid = spec.device.grid;

  await put(DT_MODEL, `${spec.model}\0`);
  await put(DT_COMPATIBLE, spec.compatible.map((c) => `${c}\0`).join(''));
  await put(BOOT_ID, `${options.bootId ?? randomUUID()}\n`);

  const cpuCount = spec.clusters.flat().length;
  await put(`${CPU_DIR}/possible`, `0-${cpuCount - 1}\n`);
  await put(`${CPU_DIR}/present`, `0-${cpuCount - 1}\n`);
  const khz = grid.cpuMhz.map(mhzToKhz);
  for (const cpus of spec.clusters) {
    const policy = `policy${cpus[0]}`;
    const dir = `${CPUFREQ_DIR}/${policy}`;
    await put(`${dir}/related_cpus`, `${cpus.join(' ')}\n`);
    await put(`${dir}/affected_cpus`, `${cpus.join(' ')}\n`);
    await put(`${dir}/scaling_available_frequencies`, `${khz.join(' ')} \n`);
    await put(`${dir}/cpuinfo_min_freq`, `${khz[0]}\n`);
    await put(`${dir}/cpuinfo_max_freq`, `${khz.at(-1)}\n`);
    await put(`${dir}/scaling_min_freq`, `${khz[0]}\n`);
    await put(`${dir}/scaling_max_freq`, `${khz.at(-1)}\n`);
    await put(`${dir}/scaling_cur_freq`, `${khz.at(-1)}\n`);
    await put(`${dir}/scaling_governor`, 'schedutil\n');
    await put(`${dir}/scaling_available_governors`, 'userspace ondemand performance schedutil \n');
    await put(`${dir}/scaling_driver`, 'tegra194\n');
    for (const cpu of cpus) {
      await put(`${CPU_DIR}/cpu${cpu}/online`, '1\n');
      await link(`${CPU_DIR}/cpu${cpu}/cpufreq`, dir);
    }
  }

  const hz = grid.gpuMhz.map(mhzToHz);
  const gpuDevice = dirname(dirname(spec.gpuDir));
  await put(`${spec.gpuDir}/available_frequencies`, `${hz.join(' ')}\n`);
  await put(`${spec.gpuDir}/min_freq`, `${hz[0]}\n`);
  await put(`${spec.gpuDir}/max_freq`, `${hz.at(-1)}\n`);
  await put(`${spec.gpuDir}/cur_freq`, `${hz.at(-1)}\n`);
  await put(`${spec.gpuDir}/governor`, 'nvhost_podgov\n');
  await put(`${spec.gpuDir}/available_governors`, 'wmark_active nvhost_podgov userspace performance simple_ondemand\n');
  await put(`${gpuDevice}/of_node/name`, `${spec.gpuOfName}\0`);
  await link(`${spec.gpuDir}/device`, gpuDevice);
  await link(`${DEVFREQ_CLASS}/${spec.gpuDir.split('/').at(-1)}`, spec.gpuDir);
  for (const gating of spec.gpuGatingFiles) await put(gating, gating.endsWith('railgate_enable') ? '1\n' : '0\n');
  // Another devfreq device, so that discovery has to pick the GPU out.
  const vic = '/sys/devices/platform/15340000.vic/devfreq/15340000.vic';
  await put(`${vic}/available_frequencies`, '115200000 729600000\n');
  await put(`${vic}/min_freq`, '115200000\n');
  await put(`${vic}/max_freq`, '729600000\n');
  await put('/sys/devices/platform/15340000.vic/of_node/name', 'vic\0');
  await link(`${vic}/device`, '/sys/devices/platform/15340000.vic');
  await link(`${DEVFREQ_CLASS}/15340000.vic`, vic);

  const emcHz = grid.emcMhz.map(mhzToHz);
  await put(BPMP_EMC_POSSIBLE_RATES, `${emcHz.map((h) => h / 1000).join(' ')}\n`);
  await put(`${BPMP_EMC_DIR}/rate`, `${spec.emcBootHz}\n`);
  await put(`${BPMP_EMC_DIR}/min_rate`, `${emcHz[0]}\n`);
  await put(`${BPMP_EMC_DIR}/max_rate`, `${emcHz.at(-1)}\n`);
  await put(`${BPMP_EMC_DIR}/mrq_rate_locked`, '0\n');
  await put(`${BPMP_EMC_DIR}/state`, '1\n');
  await put(NVPMODEL_EMC_CAP, '0\n');

  const rails = { ...spec.rails, ...(options.rails ?? {}) };
  for (const dev of spec.ina3221) {
    const hw = `${INA3221_DRIVER_DIR}/${dev.i2c}/hwmon/hwmon${dev.hwmon}`;
    await put(`${INA3221_DRIVER_DIR}/${dev.i2c}/name`, 'ina3221\n');
    await put(`${hw}/name`, 'ina3221\n');
    for (const [i, label] of dev.labels.entries()) {
      const ch = i + 1;
      const rail = rails[label] ?? { mV: 0, mA: 0 };
      await put(`${hw}/in${ch}_label`, `${label}\n`);
      await put(`${hw}/in${ch}_input`, `${rail.mV}\n`);
      await put(`${hw}/curr${ch}_input`, `${rail.mA}\n`);
      await put(`${hw}/curr${ch}_crit`, '20000\n');
      await put(`${hw}/curr${ch}_max`, '10000\n');
      await put(`${hw}/in${ch + 3}_input`, `${Math.round(rail.mA / 20)}\n`); // shunt voltage
    }
    await put(`${hw}/in7_label`, 'sum of shunt voltages\n');
    await put(`${hw}/in7_input`, '0\n');
  }

  for (const [i, [type, milliC]] of Object.entries(spec.thermal).entries()) {
    await put(`${THERMAL_CLASS}/thermal_zone${i}/type`, `${type}\n`);
    await put(`${THERMAL_CLASS}/thermal_zone${i}/temp`, `${milliC}\n`);
  }

  const marker: FakeSysfsMarker = {
    board: options.board,
    generatedAt: new Date().toISOString(),
    note: 'Fake Jetson sysfs tree written by Fulcrum (fulcrum device fake-sysfs). Synthetic values; not a measurement of any board.',
    rules: options.rules ?? {},
  };
  await writeFile(join(root, FAKE_SYSFS_MARKER), JSON.stringify(marker, null, 2) + '\n');
  return { root, board: options.board, files };
}

/** Replaces the failure/override rules of a fake tree. */
export async function setFakeRules(root: string, rules: FakeRules): Promise<void> {
  const path = join(root, FAKE_SYSFS_MARKER);
  const marker = JSON.parse(await readFile(path, 'utf8')) as FakeSysfsMarker;
  await writeFile(path, JSON.stringify({ ...marker, rules }, null, 2) + '\n');
}

export interface FakeWrite {
  readonly path: string;
  readonly value: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** The write attempts made against a fake tree, oldest first. */
export async function readFakeWriteLog(root: string): Promise<FakeWrite[]> {
  try {
    const text = await readFile(join(root, FAKE_SYSFS_WRITE_LOG), 'utf8');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as FakeWrite);
  } catch {
    return [];
  }
}

export async function clearFakeWriteLog(root: string): Promise<void> {
  await rm(join(root, FAKE_SYSFS_WRITE_LOG), { force: true });
}

const UINT = /^\s*\d+\s*$/u;

/** Highest table entry ≤ v (the lowest if none); lowest entry ≥ v (the highest if none). */
const snapDown = (table: readonly number[], v: number): number => [...table].reverse().find((x) => x <= v) ?? table[0]!;
const snapUp = (table: readonly number[], v: number): number => table.find((x) => x >= v) ?? table.at(-1)!;

/** The kernel's side of a fake tree: see the module comment. */
export class FakeKernelIo extends RealSysfsIo {
  override async read(path: string): Promise<string> {
    const rules = await this.rules();
    const override = rules.readBackOverrides?.[path];
    if (override !== undefined) return override;
    const m = /^(.*)\/(scaling_cur_freq|cur_freq)$/u.exec(path);
    if (m) {
      const dir = m[1]!;
      const [minF, maxF] = m[2] === 'cur_freq' ? ['min_freq', 'max_freq'] : ['scaling_min_freq', 'scaling_max_freq'];
      const governor = await super.read(`${dir}/${m[2] === 'cur_freq' ? 'governor' : 'scaling_governor'}`).catch(() => '');
      const min = Number(await this.read(`${dir}/${minF}`));
      const max = Number(await this.read(`${dir}/${maxF}`));
      if (governor === 'performance') return String(max);
      return String(Math.min(Math.max(Number(await super.read(path)), min), max));
    }
    return super.read(path);
  }

  override async write(path: string, value: string): Promise<void> {
    try {
      await this.emulateWrite(path, value);
      await this.log({ path, value, ok: true });
    } catch (err) {
      await this.log({ path, value, ok: false, error: err instanceof SysfsError ? err.code : String(err) });
      throw err;
    }
  }

  private async rules(): Promise<FakeRules> {
    try {
      return (JSON.parse(await readFile(join(this.root, FAKE_SYSFS_MARKER), 'utf8')) as FakeSysfsMarker).rules ?? {};
    } catch {
      return {};
    }
  }

  private async log(entry: FakeWrite): Promise<void> {
    await appendFile(join(this.root, FAKE_SYSFS_WRITE_LOG), JSON.stringify(entry) + '\n');
  }

  private fail(path: string, value: string, code: string, detail?: string): never {
    throw new SysfsError('write', path, code, value, detail);
  }

  private async intIn(path: string): Promise<number> {
    return Number((await super.read(path)).split(/\s+/u)[0]);
  }

  private async emulateWrite(path: string, value: string): Promise<void> {
    const rules = await this.rules();
    if (rules.allReadOnly || rules.readOnly?.includes(path)) this.fail(path, value, 'EACCES');
    const errno = rules.failWrites?.[path];
    if (errno) this.fail(path, value, errno);
    if (!(await this.exists(path))) this.fail(path, value, 'ENOENT');
    const dir = dirname(path);
    const file = path.slice(dir.length + 1);

    const cpuOnline = /^\/sys\/devices\/system\/cpu\/cpu(\d+)\/online$/u.exec(path);
    if (cpuOnline) {
      if (!/^\s*[01]\s*$/u.test(value)) this.fail(path, value, 'EINVAL');
      if (cpuOnline[1] === '0' && value.trim() === '0') this.fail(path, value, 'EBUSY', 'cpu0 cannot be taken offline');
      return super.write(path, value.trim());
    }

    if (dir.startsWith(`${CPUFREQ_DIR}/policy`)) {
      const cpus = parseCpuList(await super.read(`${dir}/related_cpus`));
      const onlineFlags = await Promise.all(cpus.map(async (c) => (await super.read(`${CPU_DIR}/cpu${c}/online`).catch(() => '1')) === '1'));
      if (!onlineFlags.some(Boolean)) this.fail(path, value, 'EBUSY', 'every CPU of this policy is offline');
      if (file === 'scaling_governor') {
        const available = (await super.read(`${dir}/scaling_available_governors`)).split(/\s+/u);
        if (!available.includes(value.trim())) this.fail(path, value, 'EINVAL');
        return super.write(path, value.trim());
      }
      if (file === 'scaling_min_freq' || file === 'scaling_max_freq') {
        return this.writeLimit(path, value, dir, parseNumberList(await super.read(`${dir}/scaling_available_frequencies`)), 'scaling_min_freq', 'scaling_max_freq');
      }
    }

    if (await this.exists(`${dir}/available_frequencies`)) {
      if (file === 'governor') {
        const available = (await super.read(`${dir}/available_governors`)).split(/\s+/u);
        if (!available.includes(value.trim())) this.fail(path, value, 'EINVAL');
        return super.write(path, value.trim());
      }
      if (file === 'min_freq' || file === 'max_freq') {
        return this.writeLimit(path, value, dir, parseNumberList(await super.read(`${dir}/available_frequencies`)), 'min_freq', 'max_freq');
      }
    }

    if (dir === BPMP_EMC_DIR && (file === 'mrq_rate_locked' || file === 'rate')) {
      if (file === 'mrq_rate_locked') {
        if (!/^\s*[01]\s*$/u.test(value)) this.fail(path, value, 'EINVAL');
        return super.write(path, value.trim());
      }
      if (!UINT.test(value)) this.fail(path, value, 'EINVAL');
      // Unlocked, the DVFS owns the clock: the write is taken but the rate does not move.
      if ((await super.read(`${BPMP_EMC_DIR}/mrq_rate_locked`)) !== '1') return;
      return super.write(path, String(await this.emcRateFor(Number(value))));
    }
    if (path === NVPMODEL_EMC_CAP) {
      if (!UINT.test(value)) this.fail(path, value, 'EINVAL');
      await super.write(path, value.trim());
      const cap = Number(value);
      const rate = await this.intIn(`${BPMP_EMC_DIR}/rate`);
      if (cap > 0 && rate > cap) await super.write(`${BPMP_EMC_DIR}/rate`, String(await this.emcRateFor(rate)));
      return;
    }
    if (dir === '/sys/kernel/debug/emc' && (file === 'min_rate' || file === 'max_rate')) {
      if (!UINT.test(value)) this.fail(path, value, 'EINVAL');
      const table = parseNumberList(await super.read(`${dir}/available_rates`));
      if (!table.includes(Number(value))) this.fail(path, value, 'EINVAL', 'not in available_rates');
      const other = await this.intIn(`${dir}/${file === 'min_rate' ? 'max_rate' : 'min_rate'}`);
      if (file === 'min_rate' ? Number(value) > other : Number(value) < other) this.fail(path, value, 'EINVAL', 'min_rate > max_rate');
      return super.write(path, value.trim());
    }
    return super.write(path, value);
  }

  private async emcRateFor(requestedHz: number): Promise<number> {
    const table = parseNumberList(await super.read(BPMP_EMC_POSSIBLE_RATES)).map((k) => k * 1000);
    const cap = Number(await super.read(NVPMODEL_EMC_CAP).catch(() => '0'));
    const maxRate = await this.intIn(`${BPMP_EMC_DIR}/max_rate`);
    return snapDown(table, Math.min(requestedHz, cap > 0 ? cap : Infinity, maxRate));
  }

  private async writeLimit(path: string, value: string, dir: string, table: readonly number[], minFile: string, maxFile: string): Promise<void> {
    if (!UINT.test(value)) this.fail(path, value, 'EINVAL');
    const isMin = path.endsWith(`/${minFile}`);
    const v = Number(value);
    const snapped = isMin ? (v === 0 ? table[0]! : snapUp(table, v)) : snapDown(table, v);
    const other = await this.intIn(`${dir}/${isMin ? maxFile : minFile}`);
    if (isMin ? snapped > other : snapped < other) this.fail(path, value, 'EINVAL', isMin ? 'min above max' : 'max below min');
    await super.write(path, String(snapped));
  }
}

/**
 * The I/O for a root: the kernel emulation when the root is a fake tree (it has the marker and
 * is not `/`), plain file access otherwise.
 */
export function openSysfs(root = '/'): SysfsIo {
  const abs = resolve(root);
  if (abs !== '/' && existsSync(join(abs, FAKE_SYSFS_MARKER))) return new FakeKernelIo(abs);
  return new RealSysfsIo(abs);
}
