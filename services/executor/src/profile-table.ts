/**
 * Profile tables (SPEC §3 CSV schema) as the executor's device: the modes they hold become a
 * front to plan from (`ProfiledMode`), and their times drive the simulated runner.
 *
 *   device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w
 */
import { ValidationError, powerModeKey, type Measurement, type PowerMode, type Problem } from '@fulcrum/core';
import type { ProfiledMode } from './replan.js';
import type { MinibatchTimeSource } from './runners/simulated.js';

export interface ProfileRow {
  readonly device: string;
  readonly workload: string;
  readonly kind: 'train' | 'infer';
  readonly batchSize: number;
  readonly mode: PowerMode;
  readonly timeMs: number;
  readonly powerW: number;
}

export const PROFILE_TABLE_HEADER = 'device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w';

export function parseProfileTable(text: string, field = 'profile'): ProfileRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const header = lines.shift()?.split(',').map((h) => h.trim()).join(',');
  if (header !== PROFILE_TABLE_HEADER) throw new ValidationError(field, `expected the header ${PROFILE_TABLE_HEADER}, got ${JSON.stringify(header ?? '')}`);
  return lines.map((line, i) => {
    const c = line.split(',').map((x) => x.trim());
    const where = `line ${i + 2}`;
    if (c.length !== 10) throw new ValidationError(field, `${where}: expected 10 cells, got ${c.length}`);
    const num = (k: number, name: string): number => {
      const v = Number(c[k]);
      if (!Number.isFinite(v) || v < 0 || (name !== 'power_w' && v === 0)) throw new ValidationError(field, `${where}: ${name} must be a positive number, got ${JSON.stringify(c[k])}`);
      return v;
    };
    if (c[2] !== 'train' && c[2] !== 'infer') throw new ValidationError(field, `${where}: kind must be train or infer, got ${JSON.stringify(c[2])}`);
    return {
      device: c[0]!,
      workload: c[1]!,
      kind: c[2],
      batchSize: num(3, 'batch_size'),
      mode: { cores: num(4, 'cores'), cpuMhz: num(5, 'cpu_mhz'), gpuMhz: num(6, 'gpu_mhz'), emcMhz: num(7, 'emc_mhz') },
      timeMs: num(8, 'time_ms'),
      powerW: num(9, 'power_w'),
    };
  });
}

export function formatProfileTable(rows: readonly ProfileRow[]): string {
  return [
    PROFILE_TABLE_HEADER,
    ...rows.map((r) => [r.device, r.workload, r.kind, r.batchSize, r.mode.cores, r.mode.cpuMhz, r.mode.gpuMhz, r.mode.emcMhz, r.timeMs, r.powerW].join(',')),
  ].join('\n') + '\n';
}

type Index = Map<string, Map<string, Measurement>>; // modeKey → "kind/workload/batch" → measurement

function index(rows: readonly ProfileRow[]): { byMode: Index; modes: Map<string, PowerMode> } {
  const byMode: Index = new Map();
  const modes = new Map<string, PowerMode>();
  for (const r of rows) {
    const k = powerModeKey(r.mode);
    modes.set(k, r.mode);
    let m = byMode.get(k);
    if (!m) byMode.set(k, (m = new Map()));
    m.set(`${r.kind}/${r.workload}/${r.batchSize}`, { timeS: r.timeMs / 1000, powerW: r.powerW });
  }
  return { byMode, modes };
}

/** Every mode of the table that has the problem's training workload at bT, as a front to plan from. */
export function profiledModes(rows: readonly ProfileRow[], problem: Problem): ProfiledMode[] {
  const { byMode, modes } = index(rows.filter((r) => r.device === problem.device));
  const out: ProfiledMode[] = [];
  for (const [key, m] of byMode) {
    const training = m.get(`train/${problem.trainWorkload}/${problem.trainBatchSize}`);
    if (!training) continue;
    out.push({
      mode: modes.get(key)!,
      training,
      inference: (i, b) => m.get(`infer/${problem.streams[i]!.workload}/${b}`),
    });
  }
  return out;
}

/**
 * Minibatch times from the table for the simulated runner. A batch size the table lacks gets the
 * next larger one's time (an upper bound); a mode it lacks is an error.
 */
export function tableTimeSource(rows: readonly ProfileRow[], problem: Problem): MinibatchTimeSource {
  const { byMode } = index(rows.filter((r) => r.device === problem.device));
  const workloadOf = new Map(problem.streams.map((s) => [s.name, s.workload]));
  const lookup = (mode: PowerMode | undefined, kind: string, workload: string, b: number): number => {
    if (!mode) throw new Error('profile table: the plan has no power mode');
    const m = byMode.get(powerModeKey(mode));
    if (!m) throw new Error(`profile table: no rows for mode ${powerModeKey(mode)}`);
    const exact = m.get(`${kind}/${workload}/${b}`);
    if (exact) return exact.timeS;
    let best: { b: number; t: number } | undefined;
    for (const [k, v] of m) {
      const [kk, w, bs] = k.split('/');
      const size = Number(bs);
      if (kk === kind && w === workload && size >= b && (!best || size < best.b)) best = { b: size, t: v.timeS };
    }
    if (!best) throw new Error(`profile table: no ${kind} time for ${workload} at batch ≥ ${b} in mode ${powerModeKey(mode)}`);
    return best.t;
  };
  return {
    trainTimeS: (mode, b) => lookup(mode, 'train', problem.trainWorkload, b),
    inferTimeS: (stream, mode, b) => lookup(mode, 'infer', workloadOf.get(stream) ?? stream, b),
  };
}
