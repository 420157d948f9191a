import { readFile } from 'node:fs/promises';
import { ValidationError, formatPowerMode, powerModeKey, type PowerMode } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';

/** Watts a mode is known to draw (e.g. measured by the profiler), or undefined when unknown. */
export type KnownPowerW = (mode: PowerMode) => number | undefined;

/** A mode whose known power exceeds the configured hard cap (SPEC §8); gRPC FAILED_PRECONDITION. */
export class PowerCapError extends Error {
  override readonly name = 'PowerCapError';
  readonly mode: PowerMode;
  readonly knownPowerW: number;
  readonly hardCapW: number;

  constructor(mode: PowerMode, knownPowerW: number, hardCapW: number) {
    super(`mode ${formatPowerMode(mode)} is known to draw ${knownPowerW.toFixed(2)} W, over the hard power cap of ${hardCapW} W; refused`);
    this.mode = mode;
    this.knownPowerW = knownPowerW;
    this.hardCapW = hardCapW;
  }
}

/**
 * Refuses a mode whose known power is over `hardCapW`. A mode of unknown power passes: the cap
 * guards against what is known, it does not forbid exploring (the profiler measures unknown modes).
 */
export function checkPowerCap(mode: PowerMode, hardCapW: number | undefined, knownPowerW: KnownPowerW | undefined): void {
  if (hardCapW === undefined || hardCapW <= 0 || !knownPowerW) return;
  const watts = knownPowerW(mode);
  if (watts !== undefined && watts > hardCapW) throw new PowerCapError(mode, watts, hardCapW);
}

const PROFILE_COLUMNS = ['device', 'cores', 'cpu_mhz', 'gpu_mhz', 'emc_mhz', 'power_w'] as const;

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out.map((f) => f.trim());
}

export interface ProfilePower {
  readonly lookup: KnownPowerW;
  /** Distinct modes with a known power. */
  readonly modes: number;
  readonly rows: number;
}

/**
 * Known power per mode from a profile table (SPEC §3 CSV: `device,workload,kind,batch_size,cores,
 * cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w`): the highest `power_w` of any workload, kind and batch
 * measured in that mode — the conservative reading for a hard cap. Rows of other devices are
 * skipped when `device` is given.
 */
export function parseProfilePower(csv: string, device?: string, source = 'profile'): ProfilePower {
  const lines = csv.split(/\r?\n/u).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const header = splitCsvLine(lines[0] ?? '');
  const col = Object.fromEntries(PROFILE_COLUMNS.map((c) => [c, header.indexOf(c)])) as Record<(typeof PROFILE_COLUMNS)[number], number>;
  const missing = PROFILE_COLUMNS.filter((c) => col[c] < 0);
  if (missing.length) throw new ValidationError(source, `profile table lacks column(s) ${missing.join(', ')} (header: ${header.join(',')})`);
  const maxW = new Map<string, number>();
  let rows = 0;
  for (const [i, line] of lines.slice(1).entries()) {
    const f = splitCsvLine(line);
    if (device !== undefined && f[col.device] !== device) continue;
    const mode = { cores: Number(f[col.cores]), cpuMhz: Number(f[col.cpu_mhz]), gpuMhz: Number(f[col.gpu_mhz]), emcMhz: Number(f[col.emc_mhz]) };
    const powerW = Number(f[col.power_w]);
    if (![mode.cores, mode.cpuMhz, mode.gpuMhz, mode.emcMhz, powerW].every(Number.isFinite)) {
      throw new ValidationError(`${source}: line ${i + 2}`, `not a number in ${describeValue(line)}`);
    }
    rows++;
    const key = powerModeKey(mode);
    maxW.set(key, Math.max(maxW.get(key) ?? -Infinity, powerW));
  }
  return { lookup: (mode) => maxW.get(powerModeKey(mode)), modes: maxW.size, rows };
}

export async function loadProfilePower(path: string, device?: string): Promise<ProfilePower> {
  return parseProfilePower(await readFile(path, 'utf8'), device, path);
}
