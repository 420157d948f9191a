import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { renderVegaLite, svgToPng, type VegaLiteSpec } from '@fulcrum/plot';
import type { TimelinePoint } from '@fulcrum/executor/internal';

/** Four panels over time: arrival rate (per bucket and as the executor measured it), batch size, latency p99/max against the budget, training throughput. */
export function timelineSpec(points: readonly TimelinePoint[], title: string): VegaLiteSpec {
  const values = points.map((p) => ({
    t: p.tS,
    stream: p.stream,
    arrivals: p.arrivalRatePerS,
    measured: p.measuredRatePerS,
    batch: p.batchSize,
    p99: Number.isNaN(p.latencyP99S) ? null : p.latencyP99S,
    max: Number.isNaN(p.latencyMaxS) ? null : p.latencyMaxS,
    budget: p.latencyBudgetS,
    train: p.trainThroughputSamplesPerS,
  }));
  const x = { field: 't', type: 'quantitative', title: 'time (s)' } as const;
  const color = { field: 'stream', type: 'nominal' } as const;
  const width = 640;
  const height = 110;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    vconcat: [
      {
        width, height,
        layer: [
          { mark: { type: 'line', opacity: 0.35 }, encoding: { x, y: { field: 'arrivals', type: 'quantitative', title: 'arrivals / s' }, color } },
          { mark: 'line', encoding: { x, y: { field: 'measured', type: 'quantitative' }, color } },
        ],
      },
      { width, height, mark: { type: 'line', interpolate: 'step-after' }, encoding: { x, y: { field: 'batch', type: 'quantitative', title: 'batch size b' }, color } },
      {
        width, height,
        layer: [
          { mark: { type: 'line', opacity: 0.4 }, encoding: { x, y: { field: 'max', type: 'quantitative', title: 'latency (s): p99, max, budget' }, color } },
          { mark: 'line', encoding: { x, y: { field: 'p99', type: 'quantitative' }, color } },
          { mark: { type: 'line', strokeDash: [4, 4], color: 'black' }, encoding: { x, y: { field: 'budget', type: 'quantitative' }, detail: color } },
        ],
      },
      {
        width, height,
        transform: [{ aggregate: [{ op: 'max', field: 'train', as: 'train' }], groupby: ['t'] }],
        mark: 'line',
        encoding: { x, y: { field: 'train', type: 'quantitative', title: 'training samples / s' } },
      },
    ],
  } as unknown as VegaLiteSpec;
}

/** Writes the timeline plot as SVG or PNG (by the file's extension). */
export async function writeTimelinePlot(path: string, points: readonly TimelinePoint[], title: string): Promise<void> {
  const { svg } = await renderVegaLite(timelineSpec(points, title));
  if (extname(path).toLowerCase() === '.png') writeFileSync(path, svgToPng(svg));
  else writeFileSync(path, svg);
}
