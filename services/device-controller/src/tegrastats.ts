/**
 * tegrastats as a fallback power source, for boards or containers where the INA3221 hwmon files
 * are not visible. tegrastats prints one line per interval, e.g. on an AGX Orin (JetPack 5/6):
 *
 *   RAM 2642/62817MB (lfb 1x2MB) CPU [23%@2201,off,...] EMC_FREQ 3%@3199 GR3D_FREQ 12%@[1300,1300]
 *   cpu@52.968C gpu@47.625C VDD_GPU_SOC 5139mW/5139mW VDD_CPU_CV 3268mW/3268mW VIN_SYS_5V0 5500mW/5500mW
 *
 * and on an AGX Xavier with JetPack 4 the rails without units (`GPU 120/100 CPU 468/450 …`, mW).
 * Rails are `NAME instant/average[/max]`; temperatures `name@degreesC`.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { boardTotal } from './power.js';

export interface TegrastatsRail {
  readonly rail: string;
  readonly powerW: number;
  readonly averageW: number;
}

export interface TegrastatsReading {
  readonly rails: readonly TegrastatsRail[];
  readonly temperaturesC: Readonly<Record<string, number>>;
  /** Per CPU: load and clock, or null when the core is off. */
  readonly cpus: ReadonlyArray<{ readonly loadPct: number; readonly mhz?: number } | null>;
  readonly emc?: { readonly loadPct: number; readonly mhz?: number };
  readonly gpu?: { readonly loadPct: number; readonly mhz?: number };
}

const RAIL = /(?:^|\s)([A-Za-z][A-Za-z0-9_]*) (\d+)(?:mW)?\/(\d+)(?:mW)?(?:\/\d+(?:mW)?)?(?=\s|$)/gu;
const TEMP = /(?:^|\s)([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C(?=[\s/]|$)/gu;

/** Parses one tegrastats line; unknown fields are ignored. */
export function parseTegrastatsLine(line: string): TegrastatsReading {
  const rails: TegrastatsRail[] = [];
  for (const m of line.matchAll(RAIL)) rails.push({ rail: m[1]!, powerW: Number(m[2]) / 1000, averageW: Number(m[3]) / 1000 });
  const temperaturesC: Record<string, number> = {};
  for (const m of line.matchAll(TEMP)) temperaturesC[m[1]!] = Number(m[2]);
  const cpuList = /CPU \[([^\]]*)\]/u.exec(line)?.[1];
  const cpus = (cpuList ? cpuList.split(',') : []).map((c) => {
    const m = /^(\d+)%(?:@(\d+))?$/u.exec(c.trim());
    return m ? { loadPct: Number(m[1]), ...(m[2] ? { mhz: Number(m[2]) } : {}) } : null;
  });
  const emcMatch = /EMC_FREQ (\d+)%(?:@(\d+))?/u.exec(line);
  const gpuMatch = /GR3D_FREQ (\d+)%(?:@\[?(\d+)[\d,]*\]?)?/u.exec(line);
  return {
    rails,
    temperaturesC,
    cpus,
    ...(emcMatch ? { emc: { loadPct: Number(emcMatch[1]), ...(emcMatch[2] ? { mhz: Number(emcMatch[2]) } : {}) } } : {}),
    ...(gpuMatch ? { gpu: { loadPct: Number(gpuMatch[1]), ...(gpuMatch[2] ? { mhz: Number(gpuMatch[2]) } : {}) } } : {}),
  };
}

/** Board power of a tegrastats reading, by the same rule as the INA3221 path (power.ts boardTotal). */
export function tegrastatsTotal(reading: TegrastatsReading, totalRails: readonly string[]): { powerW: number; totalRails: string[]; note?: string } {
  return boardTotal(reading.rails, totalRails);
}

export interface TegrastatsProcess {
  stop(): Promise<void>;
}

/** Runs `tegrastats --interval <ms>` and hands every parsed line to `onReading`. */
export function startTegrastats(options: {
  readonly intervalMs: number;
  readonly command?: string;
  readonly onReading: (reading: TegrastatsReading, line: string) => void;
  readonly onError?: (err: Error) => void;
}): TegrastatsProcess {
  const child = spawn(options.command ?? 'tegrastats', ['--interval', String(Math.max(1, Math.round(options.intervalMs)))], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.once('error', (err) => options.onError?.(err));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.trim()) options.onReading(parseTegrastatsLine(line), line);
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
