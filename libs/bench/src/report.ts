/** Summaries, the table, the JSON with every configuration, and the plots of a bench run. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Table from 'cli-table3';
import { mean, quantileSorted } from 'simple-statistics';
import { lineChartSpec, renderVegaLite, svgToPng, type VegaLiteSpec } from '@fulcrum/plot';
import type { BenchRun } from './bench.js';

export interface StrategySummary {
  readonly strategy: string;
  /** Configurations where the oracle finds a feasible plan (the denominator of the next three). */
  readonly scoredConfigurations: number;
  /** Share of those whose plan is feasible on the ground truth, %. */
  readonly feasiblePct: number;
  /** Mean and 10th percentile of X/X* (infeasible counts as 0). */
  readonly meanRatio: number;
  readonly p10Ratio: number;
  /** Where the oracle finds nothing: share the strategy also reports infeasible, %. */
  readonly honestInfeasiblePct: number;
  readonly meanModes: number;
  readonly maxModes: number;
  /** Re-measures of already profiled modes per configuration (each a profile, apart from new modes). */
  readonly meanRemeasures: number;
  readonly maxRemeasures: number;
  readonly meanProfilingSeconds: number;
  /** Mean optimizer wall time per configuration, the key-level preparation spread over its configurations. */
  readonly meanOptimizerMs: number;
}

export interface BenchSummary {
  readonly device: string;
  readonly backend: string;
  readonly sweep: string;
  readonly configurations: number;
  readonly keys: number;
  readonly workloads: number;
  readonly oracleFeasible: number;
  readonly wallS: number;
  readonly workers: number;
  readonly strategies: readonly StrategySummary[];
}

export function summarize(run: BenchRun): BenchSummary {
  const oracleFeasible = run.keys.reduce((n, k) => n + k.oracleFeasible.reduce((a, b) => a + b, 0), 0);
  const workloads = new Set<string>();
  for (const k of run.keys) {
    workloads.add(`train:${k.spec.train}`);
    for (const i of k.spec.infer) workloads.add(`infer:${i}`);
  }
  const strategies = run.strategies.map((name, si): StrategySummary => {
    const ratios: number[] = [];
    let feasible = 0;
    let honest = 0;
    let infeasibleConfigs = 0;
    let modes = 0;
    let maxModes = 0;
    let remeasures = 0;
    let maxRemeasures = 0;
    let seconds = 0;
    let ms = 0;
    for (const k of run.keys) {
      const col = k.strategies[si]!;
      ms += k.prepareMs[si]!;
      for (let c = 0; c < k.count; c++) {
        modes += col.modes[c]!;
        if (col.modes[c]! > maxModes) maxModes = col.modes[c]!;
        remeasures += col.remeasures[c]!;
        if (col.remeasures[c]! > maxRemeasures) maxRemeasures = col.remeasures[c]!;
        seconds += col.seconds[c]!;
        ms += col.optimizerMs[c]!;
        if (k.oracleFeasible[c]) {
          ratios.push(col.ratio[c]!);
          feasible += col.feasible[c]!;
        } else {
          infeasibleConfigs++;
          if (!col.claimedFeasible[c]) honest++;
        }
      }
    }
    ratios.sort((a, b) => a - b);
    const n = run.configurations;
    return {
      strategy: name,
      scoredConfigurations: ratios.length,
      feasiblePct: ratios.length ? (100 * feasible) / ratios.length : 0,
      meanRatio: ratios.length ? mean(ratios) : 0,
      p10Ratio: ratios.length ? quantileSorted(ratios, 0.1) : 0,
      honestInfeasiblePct: infeasibleConfigs ? (100 * honest) / infeasibleConfigs : 100,
      meanModes: modes / n,
      maxModes,
      meanRemeasures: remeasures / n,
      maxRemeasures,
      meanProfilingSeconds: seconds / n,
      meanOptimizerMs: ms / n,
    };
  });
  return {
    device: run.device,
    backend: run.backend,
    sweep: run.sweep,
    configurations: run.configurations,
    keys: run.keys.length,
    workloads: workloads.size,
    oracleFeasible,
    wallS: run.wallS,
    workers: run.workers,
    strategies,
  };
}

export function formatSummary(s: BenchSummary): string {
  const lines: string[] = [];
  lines.push(
    `bench ${s.sweep} on ${s.backend}: ${s.configurations.toLocaleString('en-US')} configurations, ${s.keys} keys, ${s.workloads} workload variants; ` +
      `oracle feasible in ${s.oracleFeasible.toLocaleString('en-US')}; ${s.wallS.toFixed(1)} s wall on ${s.workers} worker(s)`,
  );
  const table = new Table({
    head: ['strategy', 'feasible %', 'mean X/X*', 'p10 X/X*', 'infeasible said %', 'modes (mean)', 'modes (max)', 're-measures (mean)', 'profiling s', 'optimizer ms'],
    style: { head: [], border: [] },
  });
  for (const r of s.strategies) {
    table.push([
      r.strategy,
      r.feasiblePct.toFixed(1),
      r.meanRatio.toFixed(3),
      r.p10Ratio.toFixed(3),
      r.honestInfeasiblePct.toFixed(1),
      r.meanModes.toFixed(1),
      String(r.maxModes),
      r.meanRemeasures.toFixed(2),
      r.meanProfilingSeconds.toFixed(0),
      r.meanOptimizerMs.toFixed(3),
    ]);
  }
  lines.push(table.toString());
  lines.push(
    'feasible %, X/X*: over configurations where the oracle finds a feasible plan (infeasible plans count as X/X* = 0); ' +
      '"infeasible said %": where the oracle finds none, the share the strategy also reported infeasible.',
  );
  return lines.join('\n') + '\n';
}

const round = (x: number, digits = 4): number => Number(x.toPrecision(digits));

/** The whole run as JSON: the summary, each key's ranges, and per configuration every strategy's numbers. */
export function benchJson(run: BenchRun, summary: BenchSummary): unknown {
  return {
    summary,
    strategies: run.strategies,
    keys: run.keys.map((k) => ({
      train: k.spec.train,
      infer: k.spec.infer,
      ranges: k.ranges,
      configurations: {
        powerBudgetW: Array.from(k.powerBudgetW, (x) => round(x)),
        ratesPerS: Array.from(k.ratesPerS, (x) => round(x)),
        latencyBudgetsS: Array.from(k.latencyBudgetsS, (x) => round(x)),
        oracleFeasible: Array.from(k.oracleFeasible),
        oracleThroughput: Array.from(k.oracleThroughput, (x) => round(x)),
      },
      results: Object.fromEntries(
        run.strategies.map((name, si) => {
          const col = k.strategies[si]!;
          return [
            name,
            {
              feasible: Array.from(col.feasible),
              claimedFeasible: Array.from(col.claimedFeasible),
              ratio: Array.from(col.ratio, (x) => round(x)),
              modes: Array.from(col.modes),
              remeasures: Array.from(col.remeasures),
              profilingSeconds: Array.from(col.seconds, (x) => round(x)),
              optimizerMs: Array.from(col.optimizerMs, (x) => round(x, 3)),
              prepareMs: round(k.prepareMs[si]!),
            },
          ];
        }),
      ),
    })),
  };
}

/** The cost-vs-quality scatter's plot area (the label placement estimates positions on it). */
const SCATTER_WIDTH_PX = 480;
const SCATTER_HEIGHT_PX = 300;

/** CDF of X/X* per strategy and cost (modes profiled) against quality (mean X/X*), as SVG and PNG. */
export async function writePlots(run: BenchRun, summary: BenchSummary, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const points: { x: number; series: string; y: number }[] = [];
  run.strategies.forEach((name, si) => {
    const ratios: number[] = [];
    for (const k of run.keys) for (let c = 0; c < k.count; c++) if (k.oracleFeasible[c]) ratios.push(k.strategies[si]!.ratio[c]!);
    ratios.sort((a, b) => a - b);
    for (let i = 0; i <= 50; i++) {
      const x = i / 50;
      // Share of configurations with X/X* ≤ x (upper bound found by binary search).
      let lo = 0;
      let hi = ratios.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ratios[mid]! <= x + 1e-12) lo = mid + 1;
        else hi = mid;
      }
      points.push({ x, series: name, y: ratios.length ? lo / ratios.length : 0 });
    }
  });
  const cdf = lineChartSpec(points, { title: `CDF of X/X* (${summary.sweep} sweep, ${summary.device})`, xTitle: 'X / X*', yTitle: 'share of configurations ≤ x', seriesTitle: 'strategy' });
  const scatter: VegaLiteSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Profiling cost vs plan quality (${summary.sweep} sweep, ${summary.device})`,
    width: SCATTER_WIDTH_PX,
    height: SCATTER_HEIGHT_PX,
    data: { values: withLabelOffsets(summary.strategies.map((s) => ({ strategy: s.strategy, modes: Math.max(0.5, s.meanModes), ratio: s.meanRatio, feasible: s.feasiblePct })), SCATTER_WIDTH_PX, SCATTER_HEIGHT_PX) },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { field: 'modes', type: 'quantitative', title: 'modes profiled per configuration (mean, log)', scale: { type: 'log' } },
          y: { field: 'ratio', type: 'quantitative', title: 'mean X / X*', scale: { zero: false } },
          color: { field: 'strategy', type: 'nominal', legend: null, scale: { scheme: 'tableau20' } },
        },
      },
      {
        mark: { type: 'text', dx: 6, align: 'left', fontSize: 10 },
        encoding: {
          x: { field: 'modes', type: 'quantitative' },
          y: { field: 'labelRatio', type: 'quantitative' },
          text: { field: 'strategy' },
        },
      },
    ],
  };
  const written: string[] = [];
  for (const [name, spec] of [
    ['ratio-cdf', cdf],
    ['cost-vs-quality', scatter],
  ] as const) {
    const { svg } = await renderVegaLite(spec);
    const svgPath = join(dir, `${name}.svg`);
    const pngPath = join(dir, `${name}.png`);
    await writeFile(svgPath, svg);
    await writeFile(pngPath, svgToPng(svg));
    written.push(svgPath, pngPath);
  }
  return written;
}

/**
 * Where the scatter's labels go (`labelRatio`, on the y axis) so that labels of nearby points
 * (ALS-100 and ALS-150, say) do not print over each other: each label, highest point first, moves
 * down (then up) in steps of a line until it clears the labels already placed. Pixel positions are
 * estimated from the plot size, a log x axis and a linear y axis over the data's ranges.
 */
export function withLabelOffsets<T extends { strategy: string; modes: number; ratio: number }>(points: readonly T[], widthPx: number, heightPx: number): (T & { labelRatio: number })[] {
  const lx = points.map((p) => Math.log10(p.modes));
  const minLx = Math.min(...lx);
  const xSpan = Math.max(1e-9, Math.max(...lx) - minLx);
  const ys = points.map((p) => p.ratio);
  const maxY = Math.max(...ys);
  const ySpan = Math.max(1e-9, maxY - Math.min(...ys));
  const line = 11;
  const placed: { x0: number; x1: number; y: number }[] = [];
  const dy = new Array<number>(points.length).fill(0);
  const order = points.map((_, i) => i).sort((a, b) => points[b]!.ratio - points[a]!.ratio);
  for (const i of order) {
    const x0 = ((lx[i]! - minLx) / xSpan) * widthPx * 0.85 + 6;
    const x1 = x0 + 6 * points[i]!.strategy.length;
    const y = ((maxY - ys[i]!) / ySpan) * heightPx * 0.85;
    const clear = (d: number): boolean => placed.every((q) => q.x1 < x0 || q.x0 > x1 || Math.abs(q.y - (y + d)) >= line);
    let d = 0;
    for (let k = 1; !clear(d) && k <= 6; k++) d = (k % 2 === 1 ? 1 : -1) * Math.ceil(k / 2) * line;
    dy[i] = clear(d) ? d : 0;
    placed.push({ x0, x1, y: y + dy[i]! });
  }
  // Pixels down → less X/X*.
  return points.map((p, i) => ({ ...p, labelRatio: p.ratio - (dy[i]! * ySpan) / (heightPx * 0.85) }));
}

/** One strategy over several benches (e.g. the variants of the synthetic family): its worst and its mean. */
export interface AcrossSummary {
  readonly strategy: string;
  readonly runs: number;
  readonly worstFeasiblePct: number;
  readonly meanFeasiblePct: number;
  readonly worstMeanRatio: number;
  readonly meanMeanRatio: number;
  /** The run (e.g. `synthetic family variant 3 …`) with the lowest mean X/X*. */
  readonly worstRun: string;
  readonly meanModes: number;
  readonly maxModes: number;
  /** Re-measures of already profiled modes per configuration (each a profile, apart from new modes). */
  readonly meanRemeasures: number;
  readonly maxRemeasures: number;
}

/** Per strategy, the worst and the mean over `summaries` (same strategies in each). */
export function summarizeAcross(summaries: readonly BenchSummary[]): AcrossSummary[] {
  if (summaries.length === 0) return [];
  return summaries[0]!.strategies.map((first) => {
    const rows = summaries.map((s) => ({ run: s.backend, r: s.strategies.find((x) => x.strategy === first.strategy)! }));
    const worst = rows.reduce((a, b) => (b.r.meanRatio < a.r.meanRatio ? b : a));
    return {
      strategy: first.strategy,
      runs: rows.length,
      worstFeasiblePct: Math.min(...rows.map((x) => x.r.feasiblePct)),
      meanFeasiblePct: mean(rows.map((x) => x.r.feasiblePct)),
      worstMeanRatio: worst.r.meanRatio,
      meanMeanRatio: mean(rows.map((x) => x.r.meanRatio)),
      worstRun: worst.run,
      meanModes: mean(rows.map((x) => x.r.meanModes)),
      maxModes: Math.max(...rows.map((x) => x.r.maxModes)),
      meanRemeasures: mean(rows.map((x) => x.r.meanRemeasures)),
      maxRemeasures: Math.max(...rows.map((x) => x.r.maxRemeasures)),
    };
  });
}

export function formatAcross(title: string, rows: readonly AcrossSummary[]): string {
  const table = new Table({
    head: ['strategy', 'feasible % (worst)', 'feasible % (mean)', 'mean X/X* (worst)', 'mean X/X* (mean)', 'modes (mean)', 'modes (max)', 're-measures (mean)', 'worst run'],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([r.strategy, r.worstFeasiblePct.toFixed(1), r.meanFeasiblePct.toFixed(1), r.worstMeanRatio.toFixed(3), r.meanMeanRatio.toFixed(3), r.meanModes.toFixed(1), String(r.maxModes), r.meanRemeasures.toFixed(2), r.worstRun.replace(/ \(.*$/, '')]);
  }
  return `${title}\n${table.toString()}\n`;
}
