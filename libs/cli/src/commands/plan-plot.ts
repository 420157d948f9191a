/**
 * `fulcrum solve --plot FILE.svg|png`: the plan at a glance (SPEC §7's plots, issue 17) — the
 * profiled modes in throughput–power space with their front, the ground truth's front where the
 * backend has one, the power budget, the latency budgets, and the chosen plan.
 */
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { formatPowerMode, type Evaluation, type PowerMode, type ProfileResult, type Problem } from '@fulcrum/core';
import { planPlotSpec, renderVegaLite, svgToPng, type PlanPoint } from '@fulcrum/plot';
import { common, optimizer, powerModeFromProto, profileResultFromProto } from '@fulcrum/proto';
import { MeasurementTable, ModeSpace, NO_MARGINS, measuredValueOf, renderPlan, type Plan, type PlanCost, type Planner } from '@fulcrum/strategies';
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

/** What a plan plot needs of a plan: where it is, what it predicts, what it cost, the modes it profiled. */
export interface PlottedPlan {
  readonly modeIndex: number;
  readonly mode: PowerMode;
  readonly batchSizes: readonly number[];
  readonly predicted: Pick<Evaluation, 'powerW' | 'trainThroughputSamplesPerS' | 'stable' | 'streams'>;
  readonly profiledModes: readonly number[];
  readonly cost: Pick<PlanCost, 'modesProfiled' | 'remeasures' | 'profilingSeconds'>;
}

/** The measurements a plan was chosen on, over a mode space, with the noise-free truth where known. */
export interface PlotInput {
  readonly problem: Problem;
  readonly space: ModeSpace;
  readonly measured: MeasurementTable;
  readonly truth?: MeasurementTable | undefined;
  readonly plan: PlottedPlan;
}

/** A local solve's input: the planner's measurements and truth. */
export function localPlotInput(planner: Planner, problem: Problem, plan: Plan): PlotInput {
  const key = tableKeyOf(problem);
  return { problem, space: planner.backend.space, measured: planner.store.cache(key).table, truth: planner.store.truth(key), plan };
}

/**
 * A remote Solve's input (the optimizer's answer, plotted where the CLI runs): the modes its
 * events carried, with the results each carried, as the mode space; the plan's own predictions.
 */
export function remotePlotInput(problem: Problem, plan: common.Plan, cost: common.PlanCost, modes: readonly optimizer.ModeProfiled[]): PlotInput {
  const seen = new Map<string, { mode: PowerMode; results: ProfileResult[] }>();
  for (const [i, ev] of modes.entries()) {
    const mode = powerModeFromProto(ev.mode, `modes[${i}].mode`);
    const id = formatPowerMode(mode);
    const entry = seen.get(id) ?? { mode, results: [] };
    entry.results.push(...ev.results.map((r, j) => profileResultFromProto(r, `modes[${i}].results[${j}]`)));
    seen.set(id, entry);
  }
  const chosenMode = powerModeFromProto(plan.mode, 'plan.mode');
  if (!seen.has(formatPowerMode(chosenMode))) seen.set(formatPowerMode(chosenMode), { mode: chosenMode, results: [] });
  const entries = [...seen.values()];
  const space = ModeSpace.fromModes(entries.map((e) => e.mode));
  const key = tableKeyOf(problem);
  const measured = MeasurementTable.forKey(space.size, key);
  const value = (rs: readonly ProfileResult[], workload: string, kind: 'train' | 'infer', batchSize: number) => {
    const r = rs.find((x) => x.workload === workload && x.kind === kind && x.batchSize === batchSize);
    return r ? measuredValueOf(r) : undefined;
  };
  const indexOf = (m: PowerMode): number => space.indexOf(m) ?? -1;
  for (const e of entries) {
    const training = value(e.results, problem.trainWorkload, 'train', problem.trainBatchSize);
    if (!training) continue;
    measured.set(indexOf(e.mode), { training, inference: problem.streams.map((s) => s.candidateBatchSizes.map((b) => value(e.results, s.workload, 'infer', b))), costS: 0 });
  }
  const streamPlan = (name: string) => plan.streams.find((x) => x.stream === name);
  const batchSizes = problem.streams.map((s) => streamPlan(s.name)?.batchSize ?? s.candidateBatchSizes[0]!);
  return {
    problem,
    space,
    measured,
    plan: {
      modeIndex: indexOf(chosenMode),
      mode: chosenMode,
      batchSizes,
      predicted: {
        powerW: plan.predictedPowerW,
        trainThroughputSamplesPerS: plan.predictedTrainThroughputSamplesPerS,
        stable: plan.utilization < 1,
        streams: problem.streams.map((s) => ({ name: s.name, latencyBoundS: streamPlan(s.name)?.predictedLatencyS ?? Number.NaN })) as unknown as Evaluation['streams'],
      },
      profiledModes: entries.map((e) => indexOf(e.mode)),
      cost: { modesProfiled: cost.modesProfiled, remeasures: cost.remeasures, profilingSeconds: cost.profilingSeconds },
    },
  };
}

/** What the plan plot draws: every profiled mode, the true front (where known), the plan. */
export function planPoints(input: PlotInput): PlanPoint[] {
  const { problem, plan, space } = input;
  const table = input.measured;
  const obj = new Objective(problem);
  // Each mode at its best batch choice for latency alone, so power is read off the x axis.
  const latencyOnly = Object.create(obj, { powerBudgetW: { value: Number.MAX_VALUE } }) as Objective;
  const score = new ModeScore(problem.streams.length);
  const ratioOf = (predicted: Pick<Evaluation, 'streams'>): number => Math.max(0, ...predicted.streams.map((s, i) => s.latencyBoundS / problem.streams[i]!.latencyBudgetS));
  const points: (PlanPoint & { front: boolean })[] = [];
  for (const m of new Set(plan.profiledModes)) {
    if (m === plan.modeIndex || !table.has(m)) continue;
    scoreMode(table, m, latencyOnly, NO_MARGINS, score);
    if (!score.measurable) continue;
    const rendered = renderPlan(problem, table, score);
    points.push({
      set: 'profiled',
      label: formatPowerMode(space.mode(m)),
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
    windows: plan.modeIndex >= 0 ? Math.max(1, table.windows(plan.modeIndex)) : 1,
  });
  markFront(points.filter((p) => p.meetsLatency));
  const truth = input.truth;
  if (truth) {
    const all: (PlanPoint & { front: boolean })[] = [];
    for (const m of space.indices) {
      if (!truth.has(m)) continue;
      scoreMode(truth, m, latencyOnly, NO_MARGINS, score);
      if (!score.measurable || !score.feasible) continue;
      all.push({ set: 'true front', label: formatPowerMode(space.mode(m)), powerW: score.powerW, throughput: score.throughput, latencyRatio: 0, meetsLatency: true, front: false, chosen: false });
    }
    markFront(all);
    points.push(...all.filter((p) => p.front));
  }
  return points;
}

/** Renders the plan plot and writes it (SVG or PNG by the file's extension). */
export async function writePlanPlot(file: string, input: PlotInput, strategy: string, backend: string): Promise<void> {
  const format = plotFormat(file);
  const { problem, plan } = input;
  const points = planPoints(input);
  const remeasures = plan.cost.remeasures > 0 ? ` + ${plan.cost.remeasures} re-measure${plan.cost.remeasures === 1 ? '' : 's'}` : '';
  const m = plan.mode;
  const spec = planPlotSpec(points, {
    title: `${strategy}: ${m.cores} cores, CPU ${m.cpuMhz} MHz, GPU ${m.gpuMhz} MHz, EMC ${m.emcMhz} MHz; batch ${plan.batchSizes.join(' / ')}; X = ${plan.predicted.trainThroughputSamplesPerS.toFixed(1)} samples/s at ${plan.predicted.powerW.toFixed(1)} W`,
    subtitle: [
      `${problem.trainWorkload} training (batch ${problem.trainBatchSize}) + ${problem.streams.map((s) => `${s.workload} at ${s.arrivalRatePerS}/s within ${s.latencyBudgetS} s`).join(', ')}`,
      `${backend}; ${plan.cost.modesProfiled} modes profiled${remeasures}, ${plan.cost.profilingSeconds.toFixed(0)} s of profiling${input.truth ? '; the true front: every mode, noise-free' : ''}`,
      'each profiled mode at its best batch sizes for latency alone (grey: it misses a latency budget at every batch size); the diamond is the plan',
    ],
    powerBudgetW: problem.powerBudgetW,
    powerLabel: problem.powerSemantics === 'average' ? 'average' : 'peak',
  });
  const { svg } = await renderVegaLite(spec);
  await writeFile(file, format === 'svg' ? svg : svgToPng(svg));
}
