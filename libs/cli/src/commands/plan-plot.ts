/**
 * `fulcrum solve --plot FILE.svg|png`: the plan at a glance (SPEC §7's plots, issue 17) — the
 * profiled modes in throughput–power space with their front, the ground truth's front where the
 * backend has one, the power budget, the latency budgets, and the chosen plan.
 */
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { formatPowerMode, type Problem } from '@fulcrum/core';
import { planPlotSpec, renderVegaLite, svgToPng, type PlanPoint } from '@fulcrum/plot';
import { NO_MARGINS, renderPlan, type Plan, type Planner } from '@fulcrum/strategies';
import { ModeScore, Objective, scoreMode, tableKeyOf } from '@fulcrum/strategies/internal';
import { UsageError } from '../usage.js';

/** The plot's format from its file name: `svg` or `png`; UsageError naming `flag` otherwise. */
export function plotFormat(file: string, flag = '--plot'): 'svg' | 'png' {
  const ext = extname(file).toLowerCase();
  if (ext === '.svg') return 'svg';
  if (ext === '.png') return 'png';
  throw new UsageError(`${flag}: the file name must end in .svg or .png, got ${JSON.stringify(file.slice(-64))}`);
}

/** Keeps, of points sorted by power, those with more throughput than every point at less power. */
function markFront(points: { powerW: number; throughput: number; front: boolean }[]): void {
  let best = -Infinity;
  for (const p of [...points].sort((a, b) => a.powerW - b.powerW || b.throughput - a.throughput)) {
    if (p.throughput > best) {
      p.front = true;
      best = p.throughput;
    }
  }
}

/** What the plan plot draws: every profiled mode, the true front (where known), the plan. */
export function planPoints(planner: Planner, problem: Problem, plan: Plan): PlanPoint[] {
  const key = tableKeyOf(problem);
  const table = planner.store.cache(key).table;
  const obj = new Objective(problem);
  // Each mode at its best batch choice for latency alone, so power is read off the x axis.
  const latencyOnly = Object.create(obj, { powerBudgetW: { value: Number.MAX_VALUE } }) as Objective;
  const score = new ModeScore(problem.streams.length);
  const ratioOf = (predicted: Plan['predicted']): number => Math.max(0, ...predicted.streams.map((s, i) => s.latencyBoundS / problem.streams[i]!.latencyBudgetS));
  const points: (PlanPoint & { front: boolean })[] = [];
  for (const m of new Set(plan.profiledModes)) {
    if (m === plan.modeIndex || !table.has(m)) continue;
    scoreMode(table, m, latencyOnly, NO_MARGINS, score);
    if (!score.measurable) continue;
    const rendered = renderPlan(problem, table, score);
    points.push({
      set: 'profiled',
      label: formatPowerMode(planner.backend.space.mode(m)),
      powerW: score.powerW,
      throughput: score.throughput,
      latencyRatio: ratioOf(rendered.predicted),
      meetsLatency: score.feasible,
      front: false,
      chosen: false,
      windows: Math.max(1, table.windows(m)),
    });
  }
  points.push({
    set: 'profiled',
    label: formatPowerMode(plan.mode),
    powerW: plan.predicted.powerW,
    throughput: plan.predicted.trainThroughputSamplesPerS,
    latencyRatio: ratioOf(plan.predicted),
    meetsLatency: plan.predicted.stable && plan.predicted.streams.every((s, i) => s.latencyBoundS <= problem.streams[i]!.latencyBudgetS * (1 + 1e-9)),
    front: false,
    chosen: true,
    windows: Math.max(1, table.windows(plan.modeIndex)),
  });
  markFront(points.filter((p) => p.meetsLatency));
  const truth = planner.store.truth(key);
  if (truth) {
    const all: (PlanPoint & { front: boolean })[] = [];
    for (const m of planner.backend.space.indices) {
      if (!truth.has(m)) continue;
      scoreMode(truth, m, latencyOnly, NO_MARGINS, score);
      if (!score.measurable || !score.feasible) continue;
      all.push({ set: 'true front', label: formatPowerMode(planner.backend.space.mode(m)), powerW: score.powerW, throughput: score.throughput, latencyRatio: 0, meetsLatency: true, front: false, chosen: false });
    }
    markFront(all);
    points.push(...all.filter((p) => p.front));
  }
  return points;
}

/** Renders the plan plot and writes it (SVG or PNG by the file's extension). */
export async function writePlanPlot(file: string, planner: Planner, problem: Problem, plan: Plan, strategy: string, backend: string): Promise<void> {
  const format = plotFormat(file);
  const points = planPoints(planner, problem, plan);
  const remeasures = plan.cost.remeasures > 0 ? ` + ${plan.cost.remeasures} re-measures` : '';
  const m = plan.mode;
  const spec = planPlotSpec(points, {
    title: `${strategy}: ${m.cores} cores, CPU ${m.cpuMhz} MHz, GPU ${m.gpuMhz} MHz, EMC ${m.emcMhz} MHz; batch ${plan.batchSizes.join(' / ')}; X = ${plan.predicted.trainThroughputSamplesPerS.toFixed(1)} samples/s at ${plan.predicted.powerW.toFixed(1)} W`,
    subtitle: [
      `${problem.trainWorkload} training (batch ${problem.trainBatchSize}) + ${problem.streams.map((s) => `${s.workload} at ${s.arrivalRatePerS}/s within ${s.latencyBudgetS} s`).join(', ')}`,
      `${backend}; ${plan.cost.modesProfiled} modes profiled${remeasures}, ${plan.cost.profilingSeconds.toFixed(0)} s of profiling${planner.store.truth(tableKeyOf(problem)) ? '; the true front: every mode, noise-free' : ''}`,
      'each profiled mode at its best batch sizes for latency alone (grey: it misses a latency budget at every batch size); the diamond is the plan',
    ],
    powerBudgetW: problem.powerBudgetW,
    powerLabel: problem.powerSemantics === 'average' ? 'average' : 'peak',
  });
  const { svg } = await renderVegaLite(spec);
  await writeFile(file, format === 'svg' ? svg : svgToPng(svg));
}
