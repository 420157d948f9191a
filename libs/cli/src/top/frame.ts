/**
 * One `fulcrum top` frame as plain text lines, fitted to a terminal width: what `--once` prints
 * and what the live view draws (through ink).
 */
import { ago } from '../format.js';
import type { TopBoard, TopFleetSnapshot, TopSnapshot, TopStream } from './source.js';

const BARS = '▁▂▃▄▅▆▇█';

/** A sparkline of the last `width` values, scaled from `low` to `high`. */
export function sparkline(values: readonly number[], width: number, low: number, high: number): string {
  const shown = values.slice(-Math.max(0, width));
  const span = high - low || 1;
  return shown.map((v) => BARS[Math.max(0, Math.min(BARS.length - 1, Math.round(((v - low) / span) * (BARS.length - 1))))]).join('');
}

const fix = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
const padL = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : ' '.repeat(n - s.length) + s);
const clip = (s: string, width: number): string => (s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`);

/** `ago` of an ISO time as of the snapshot's. */
const agoIso = (iso: string | undefined, now: string): string => ago(iso === undefined ? undefined : new Date(iso), Date.parse(now));

/**
 * A header and one line per row: the first `leftAligned` columns padded right, the others left;
 * columns dropped from the right (keeping at least 3) until the lines fit `width`.
 */
function table<T>(cols: readonly (readonly [string, number, (row: T) => string])[], rows: readonly T[], width: number, leftAligned: number): string[] {
  let shown = cols;
  while (shown.length > 3 && shown.reduce((n, [, w]) => n + w + 1, 0) > width) shown = shown.slice(0, -1);
  const line = (cells: string[]): string => cells.map((c, i) => (i < leftAligned ? pad(c, shown[i]![1]) : padL(c, shown[i]![1]))).join(' ');
  return [line(shown.map(([h]) => h)), ...rows.map((r) => line(shown.map(([, , f]) => f(r))))];
}

/** The per-stream table: budget-relative p99 marked `!` when over the budget. */
function streamRows(streams: readonly TopStream[], width: number): string[] {
  const cols: [string, number, (s: TopStream) => string][] = [
    ['stream', 10, (s) => s.stream],
    ['batch', 5, (s) => String(s.batchSize)],
    ['rate/s', 7, (s) => fix(s.arrivalRatePerS, 1)],
    ['plan/s', 7, (s) => fix(s.plannedRatePerS, 1)],
    ['queue', 5, (s) => String(s.queueDepth)],
    ['p50 s', 7, (s) => (s.completed > 0 ? fix(s.latencyP50S, 3) : '-')],
    ['p99 s', 8, (s) => (s.completed > 0 ? `${fix(s.latencyP99S, 3)}${s.latencyP99S > s.latencyBudgetS && s.latencyBudgetS > 0 ? '!' : ''}` : '-')],
    ['budget s', 8, (s) => fix(s.latencyBudgetS, 3)],
    ['p99/budget', 10, (s) => (s.completed > 0 && s.latencyBudgetS > 0 && Number.isFinite(s.latencyP99S) ? `${fix((100 * s.latencyP99S) / s.latencyBudgetS, 0)} %` : '-')],
    ['done', 8, (s) => String(s.completed)],
    ['late', 6, (s) => String(s.late)],
    ['failed', 6, (s) => String(s.failed)],
  ];
  // Drop columns from the right until the table fits.
  return table(cols, streams, width, 1);
}

export interface FrameOptions {
  readonly width: number;
  /** At most this many lines (the event log gives way). */
  readonly height?: number;
  /** The keys line of the live view. */
  readonly keys?: boolean;
}

/** The frame's lines, each at most `width` characters. */
export function formatFrame(s: TopSnapshot, o: FrameOptions): string[] {
  const width = Math.max(40, o.width);
  const lines: string[] = [];
  const time = s.atIso.slice(11, 19);
  lines.push(`fulcrum top · board ${s.board || '?'} (${s.device || '?'}) · executor ${s.executor} · ${s.state} · ${time}`);
  const p = s.plan;
  if (p) {
    const m = p.mode;
    const id = p.planId.length > 16 ? `${p.planId.slice(0, 13)}…` : p.planId;
    lines.push(`plan ${id}${p.strategy ? ` (${p.strategy})` : ''}${p.feasible ? '' : ' INFEASIBLE'} · applied ${agoIso(p.appliedAtIso, s.atIso)} · re-plans by ${s.replanOwner || 'optimizer'}${s.localReplans ? ` (${s.localReplans} local)` : ''}`);
    lines.push(`mode ${m ? `${m.cores} cores, CPU ${m.cpuMhz} MHz, GPU ${m.gpuMhz} MHz, EMC ${m.emcMhz} MHz` : '?'}`);
  } else lines.push('no plan running (the executor is idle until a plan is applied)');
  const pw = s.power;
  if (pw) {
    const budget = p?.powerBudgetW ?? 0;
    // From a little under the lowest sample to the budget (or the highest sample): the swings show.
    const high = Math.max(budget, ...pw.history, 1);
    const low = Math.max(0, Math.min(...pw.history) * 0.9);
    const spark = sparkline(pw.history, Math.max(10, Math.min(60, width - 58)), low, high);
    const share = budget > 0 && Number.isFinite(pw.nowW) ? ` (${fix((100 * pw.nowW) / budget, 0)} %)` : '';
    lines.push(`power ${fix(pw.nowW, 1)} W${budget > 0 ? ` / ${fix(budget, 1)} W ${p?.powerSemantics || ''} budget${share}` : ''} · mean ${fix(pw.meanW, 1)} W  ${spark}${pw.error ? `  [${pw.error}]` : ''}`);
    if (pw.mode && p?.mode && (pw.mode.cores !== p.mode.cores || pw.mode.gpuMhz !== p.mode.gpuMhz || pw.mode.cpuMhz !== p.mode.cpuMhz || pw.mode.emcMhz !== p.mode.emcMhz)) {
      lines.push(`  the knobs read ${pw.mode.cores} cores, CPU ${pw.mode.cpuMhz}, GPU ${pw.mode.gpuMhz}, EMC ${pw.mode.emcMhz} MHz (not the plan's: profiling, or the controller has not switched)`);
    }
  } else lines.push('power: no device-controller telemetry (give --controller HOST:PORT)');
  const t = s.training;
  const predicted = p?.predictedTrainThroughputSamplesPerS ?? 0;
  lines.push(
    `training X ${fix(t.throughputSamplesPerS, 1)} samples/s${predicted > 0 ? ` vs ${fix(predicted, 1)} predicted (${fix((100 * t.throughputSamplesPerS) / predicted, 0)} %)` : ''} · ρ ${fix(t.utilization, 3)} · tT ${fix(t.trainTimeS, 3)} s · ${t.minibatches} minibatches${t.loss !== undefined ? ` · loss ${fix(t.loss, 4)}` : ''}${t.step !== undefined ? ` · step ${t.step}` : ''}${s.workerCrashes ? ` · ${s.workerCrashes} worker restarts` : ''}`,
  );
  lines.push(s.verdict.feasible ? 'verdict: every budget held (p99 latency, power)' : `verdict: MISSED ${s.verdict.violations.join('; ')}`);
  lines.push('');
  lines.push(...streamRows(s.streams, width));
  lines.push('');
  lines.push('events');
  const room = o.height !== undefined ? Math.max(1, o.height - lines.length - (o.keys ? 2 : 0)) : 8;
  const events = s.events.slice(-room);
  if (events.length === 0) lines.push('  (none yet)');
  for (const e of events) lines.push(`  ${e.atIso.slice(11, 19)} ${e.text}`);
  if (o.keys) lines.push('', 'q quit');
  return lines.map((l) => clip(l, width));
}

/** The fleet view: one line per board the optimizer knows. */
export function formatFleetFrame(s: TopFleetSnapshot, o: FrameOptions): string[] {
  const width = Math.max(40, o.width);
  const lines: string[] = [`fulcrum top · ${s.boards.length} board${s.boards.length === 1 ? '' : 's'} the optimizer at ${s.optimizer} knows · ${s.atIso.slice(11, 19)}`, ''];
  const cols: [string, number, (b: TopBoard) => string][] = [
    ['board', 14, (b) => b.board],
    ['device', 10, (b) => b.device],
    ['state', 11, (b) => b.state],
    ['plan', 12, (b) => (b.planId ? `${b.planId.slice(0, 8)}${b.strategy ? ` ${b.strategy}` : ''}` : '-')],
    ['budget W', 8, (b) => (b.powerBudgetW !== undefined ? fix(b.powerBudgetW, 1) : '-')],
    ['X/pred', 7, (b) => (b.trainThroughputSamplesPerS !== undefined && b.predictedTrainThroughputSamplesPerS ? `${fix((100 * b.trainThroughputSamplesPerS) / b.predictedTrainThroughputSamplesPerS, 0)} %` : '-')],
    ['worst p99/L', 11, (b) => (b.worstP99OverBudget !== undefined ? `${fix(100 * b.worstP99OverBudget, 0)} %${b.worstP99OverBudget > 1 ? '!' : ''}` : '-')],
    ['done', 8, (b) => (b.completed !== undefined ? String(b.completed) : '-')],
    ['late', 6, (b) => (b.late !== undefined ? String(b.late) : '-')],
    ['failed', 6, (b) => (b.failed !== undefined ? String(b.failed) : '-')],
    ['seen', 10, (b) => agoIso(b.lastSeenIso, s.atIso)],
  ];
  lines.push(...table(cols, s.boards, width, 4));
  if (s.boards.length === 0) lines.push('  (no board has announced itself yet)');
  const unreachable = s.boards.filter((b) => b.error);
  if (unreachable.length) lines.push('', ...unreachable.map((b) => `  ${b.board}: ${b.error}`));
  if (o.keys) lines.push('', 'q quit · fulcrum top --optimizer … --board ID for one board');
  return lines.map((l) => clip(l, width));
}
