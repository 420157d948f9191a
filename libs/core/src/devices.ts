import { ValidationError, describeValue } from './errors.js';
import { POWER_MODE_KNOBS, formatPowerMode, type PowerMode, type PowerModeKnob } from './power-mode.js';

/** The values each knob may take. A grid is their cross product. */
export interface PowerModeGrid {
  readonly cores: readonly number[];
  readonly cpuMhz: readonly number[];
  readonly gpuMhz: readonly number[];
  readonly emcMhz: readonly number[];
}

export interface PowerPreset {
  readonly name: string;
  readonly mode: PowerMode;
  /** Where the values come from and how they were mapped onto the grid. */
  readonly note?: string;
}

export interface DeviceSpec {
  readonly id: string;
  readonly displayName: string;
  /** The full grid: every mode the board's sysfs offers. */
  readonly grid: PowerModeGrid;
  /** Named sub-grids used in published studies (e.g. `4368`, `441`). */
  readonly subGrids: Readonly<Record<string, PowerModeGrid>>;
  readonly presets: readonly PowerPreset[];
  /** Caveats a user should know (e.g. values taken from documentation, not read off a board). */
  readonly notes?: string;
}

const range = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** The Jetson cpufreq table: 115.2 MHz + k·76.8 MHz for k < count. */
const cpuSteps = (count: number): number[] => range(count, (i) => round1(115.2 + 76.8 * i));

/** Jetson Orin AGX (T234) cpufreq table: 115.2 … 2188.8 in 76.8 MHz steps, then 2201.6. */
const ORIN_AGX_CPU = [...cpuSteps(28), 2201.6];
const ORIN_AGX_GPU = [114.75, 216.75, 318.75, 420.75, 522.75, 624.75, 726.75, 828.75, 930.75, 1032.75, 1134.75, 1236.75, 1300.5];
const ORIN_AGX_EMC = [204, 665.6, 2133, 3199];

/** Picks the entries of `values` at the given indices (sub-grids are index patterns). */
const pick = (values: readonly number[], indices: readonly number[]): number[] => indices.map((i) => values[i]!);

export const ORIN_AGX: DeviceSpec = {
  id: 'orin-agx',
  displayName: 'Jetson Orin AGX (T234, 64 GB devkit)',
  grid: { cores: range(12, (i) => i + 1), cpuMhz: ORIN_AGX_CPU, gpuMhz: ORIN_AGX_GPU, emcMhz: ORIN_AGX_EMC },
  subGrids: {
    // Even core counts, every other CPU value from the top down (so MAXN's 2201.6 is in), all GPU and EMC.
    '4368': {
      cores: [2, 4, 6, 8, 10, 12],
      cpuMhz: pick(ORIN_AGX_CPU, range(14, (i) => 2 + 2 * i)),
      gpuMhz: ORIN_AGX_GPU,
      emcMhz: ORIN_AGX_EMC,
    },
    // The Pagoda / PowerTrain study grid: 3 core counts × 7 CPU × 7 GPU × 3 EMC, MAXN included.
    '441': {
      cores: [4, 8, 12],
      cpuMhz: pick(ORIN_AGX_CPU, [4, 8, 12, 16, 20, 24, 28]),
      gpuMhz: pick(ORIN_AGX_GPU, [0, 2, 4, 6, 8, 10, 12]),
      emcMhz: [665.6, 2133, 3199],
    },
  },
  presets: [
    { name: 'MAXN', mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 } },
    {
      name: '15W',
      mode: { cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 },
      note: 'nvpmodel 15W caps the GPU at 408 MHz; mapped to the nearest grid value 420.75',
    },
    {
      name: '30W',
      mode: { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 },
      note: 'nvpmodel 30W: GPU 612 MHz mapped to 624.75; EMC unlimited = 3199',
    },
    {
      name: '50W',
      mode: { cores: 12, cpuMhz: 1497.6, gpuMhz: 828.75, emcMhz: 3199 },
      note: 'nvpmodel 50W: GPU 816 MHz mapped to 828.75; EMC unlimited = 3199',
    },
  ],
};

const XAVIER_GPU = [114.75, 216.75, 318.75, 420.75, 522.75, 624.75, 675.75, 828.75, 905.25, 1032.75, 1198.5, 1236.75, 1338.75, 1377];

export const AGX_XAVIER: DeviceSpec = {
  id: 'agx-xavier',
  displayName: 'Jetson AGX Xavier (T194)',
  grid: {
    cores: range(8, (i) => i + 1),
    cpuMhz: cpuSteps(29), // 115.2 … 2265.6
    gpuMhz: XAVIER_GPU,
    emcMhz: [204, 408, 665.6, 800, 1065.6, 1331.2, 1600, 1866, 2133],
  },
  subGrids: {},
  presets: [
    { name: 'MAXN', mode: { cores: 8, cpuMhz: 2265.6, gpuMhz: 1377, emcMhz: 2133 } },
    {
      name: '10W',
      mode: { cores: 2, cpuMhz: 1190.4, gpuMhz: 522.75, emcMhz: 1065.6 },
      note: 'nvpmodel 10W (2 cores, CPU 1200, GPU 520, EMC 1066) mapped to the nearest grid values',
    },
    {
      name: '15W',
      mode: { cores: 4, cpuMhz: 1190.4, gpuMhz: 675.75, emcMhz: 1331.2 },
      note: 'nvpmodel 15W (4 cores, CPU 1200, GPU 670, EMC 1333) mapped to the nearest grid values',
    },
    {
      name: '30W',
      mode: { cores: 8, cpuMhz: 1190.4, gpuMhz: 905.25, emcMhz: 1600 },
      note: 'nvpmodel 30W ALL (8 cores, CPU 1200, GPU 900, EMC 1600) mapped to the nearest grid values',
    },
  ],
};

export const ORIN_NANO: DeviceSpec = {
  id: 'orin-nano',
  displayName: 'Jetson Orin Nano 8 GB',
  grid: {
    cores: range(6, (i) => i + 1),
    cpuMhz: [...cpuSteps(19), 1510.4], // 115.2 … 1497.6, then 1510.4
    gpuMhz: [306, 408, 510, 624.75],
    emcMhz: [665.6, 2133],
  },
  subGrids: {},
  presets: [
    { name: '15W', mode: { cores: 6, cpuMhz: 1510.4, gpuMhz: 624.75, emcMhz: 2133 } },
    { name: '7W', mode: { cores: 4, cpuMhz: 960, gpuMhz: 408, emcMhz: 2133 } },
  ],
  notes:
    'Grid and presets from NVIDIA documentation (JetPack 6 power modes, without the 25W "Super" mode), ' +
    'not read off a board: a real board reports its own available_frequencies.',
};

export const DEVICES: readonly DeviceSpec[] = [ORIN_AGX, AGX_XAVIER, ORIN_NANO];

export function deviceIds(): string[] {
  return DEVICES.map((d) => d.id);
}

export function getDevice(id: string, field = 'device'): DeviceSpec {
  const device = DEVICES.find((d) => d.id === id);
  if (!device) {
    throw new ValidationError(field, `unknown device ${describeValue(id)}; known devices: ${deviceIds().join(', ')}`);
  }
  return device;
}

/** Grid names a device answers to: `full` plus its named sub-grids. */
export function gridNames(device: DeviceSpec): string[] {
  return ['full', ...Object.keys(device.subGrids)];
}

export function getGrid(device: DeviceSpec, name = 'full', field = 'grid'): PowerModeGrid {
  if (name === 'full') return device.grid;
  const grid = device.subGrids[name];
  if (!grid) {
    throw new ValidationError(field, `unknown grid ${describeValue(name)} for ${device.id}; known grids: ${gridNames(device).join(', ')}`);
  }
  return grid;
}

export function gridSize(grid: PowerModeGrid): number {
  return grid.cores.length * grid.cpuMhz.length * grid.gpuMhz.length * grid.emcMhz.length;
}

/** Every mode of the grid, cores slowest and EMC fastest varying. */
export function* enumerateModes(grid: PowerModeGrid): Generator<PowerMode> {
  for (const cores of grid.cores)
    for (const cpuMhz of grid.cpuMhz)
      for (const gpuMhz of grid.gpuMhz) for (const emcMhz of grid.emcMhz) yield { cores, cpuMhz, gpuMhz, emcMhz };
}

/** How far a knob value may be from a grid value and still match it (kHz → MHz float noise). */
const KNOB_TOLERANCE = 1e-6;

function nearestValues(values: readonly number[], v: number): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  const below = sorted.filter((x) => x < v).at(-1);
  const above = sorted.find((x) => x > v);
  return [below, above].filter((x): x is number => x !== undefined);
}

/** Throws a ValidationError naming the first knob that is off the grid and the nearest valid values. */
export function assertOnGrid(mode: PowerMode, grid: PowerModeGrid, deviceId: string, field = 'mode'): void {
  for (const knob of POWER_MODE_KNOBS) {
    const values = grid[knob];
    const v = mode[knob];
    if (!values.some((x) => Math.abs(x - v) <= KNOB_TOLERANCE)) {
      const near = nearestValues(values, v);
      throw new ValidationError(
        `${field}.${knob}`,
        `${v} is not on the ${deviceId} grid (mode ${formatPowerMode(mode)}); nearest ${knobLabel(knob)} values: ${near.join(', ')}`,
      );
    }
  }
}

export function isOnGrid(mode: PowerMode, grid: PowerModeGrid): boolean {
  return POWER_MODE_KNOBS.every((knob) => grid[knob].some((x) => Math.abs(x - mode[knob]) <= KNOB_TOLERANCE));
}

function knobLabel(knob: PowerModeKnob): string {
  return { cores: 'core count', cpuMhz: 'CPU MHz', gpuMhz: 'GPU MHz', emcMhz: 'EMC MHz' }[knob];
}

export function getPreset(device: DeviceSpec, name: string, field = 'preset'): PowerPreset {
  const preset = device.presets.find((p) => p.name.toLowerCase() === name.toLowerCase());
  if (!preset) {
    throw new ValidationError(field, `unknown preset ${describeValue(name)} for ${device.id}; known presets: ${device.presets.map((p) => p.name).join(', ')}`);
  }
  return preset;
}

/** The mode with every knob at its top value. */
export function maxMode(grid: PowerModeGrid): PowerMode {
  const top = (xs: readonly number[]): number => Math.max(...xs);
  return { cores: top(grid.cores), cpuMhz: top(grid.cpuMhz), gpuMhz: top(grid.gpuMhz), emcMhz: top(grid.emcMhz) };
}
