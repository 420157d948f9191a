import { ValidationError, describeValue } from './errors.js';

/** One setting of the four Jetson knobs. Clocks are the values sysfs lists, in MHz. */
export interface PowerMode {
  /** Online CPU cores. */
  readonly cores: number;
  readonly cpuMhz: number;
  readonly gpuMhz: number;
  /** Memory (EMC) clock. */
  readonly emcMhz: number;
}

export const POWER_MODE_KNOBS = ['cores', 'cpuMhz', 'gpuMhz', 'emcMhz'] as const;
export type PowerModeKnob = (typeof POWER_MODE_KNOBS)[number];

/** `cores,cpuMhz,gpuMhz,emcMhz` — the form the CLI takes and prints. */
export function formatPowerMode(mode: PowerMode): string {
  return `${mode.cores},${mode.cpuMhz},${mode.gpuMhz},${mode.emcMhz}`;
}

/** A stable key for maps and stores (same text as `formatPowerMode`). */
export const powerModeKey = formatPowerMode;

/** Parses `CORES,CPU_MHZ,GPU_MHZ,EMC_MHZ`; `field` names the input in errors. */
export function parsePowerMode(text: string, field = 'mode'): PowerMode {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 4 || parts.some((p) => p === '')) {
    throw new ValidationError(
      field,
      `expected CORES,CPU_MHZ,GPU_MHZ,EMC_MHZ (e.g. 12,2201.6,1300.5,3199), got ${describeValue(text)}`,
    );
  }
  const [cores, cpuMhz, gpuMhz, emcMhz] = parts.map(Number) as [number, number, number, number];
  const mode = { cores, cpuMhz, gpuMhz, emcMhz };
  for (const knob of POWER_MODE_KNOBS) {
    const v = mode[knob];
    if (!Number.isFinite(v) || v <= 0) {
      throw new ValidationError(`${field}.${knob}`, `must be a positive number, got ${describeValue(parts[POWER_MODE_KNOBS.indexOf(knob)])}`);
    }
  }
  if (!Number.isInteger(cores)) {
    throw new ValidationError(`${field}.cores`, `must be a whole number of cores, got ${cores}`);
  }
  return mode;
}

export function samePowerMode(a: PowerMode, b: PowerMode): boolean {
  return a.cores === b.cores && a.cpuMhz === b.cpuMhz && a.gpuMhz === b.gpuMhz && a.emcMhz === b.emcMhz;
}

/** True when every knob of `a` is ≥ the same knob of `b` (the order GMD prunes with). */
export function dominatesOrEquals(a: PowerMode, b: PowerMode): boolean {
  return a.cores >= b.cores && a.cpuMhz >= b.cpuMhz && a.gpuMhz >= b.gpuMhz && a.emcMhz >= b.emcMhz;
}
