/**
 * The Vega-Lite specs Fulcrum draws: one line per series against a clock, and a time–power
 * scatter with its Pareto front highlighted.
 */
import type { VegaLiteSpec } from './render.js';

const CONFIG = { font: 'sans-serif', view: { stroke: 'transparent' }, axis: { grid: true, gridOpacity: 0.4 } } as const;

export interface ClockSweepPoint {
  /** The x value (e.g. GPU MHz). */
  readonly x: number;
  /** The series (e.g. `EMC 3199 MHz`). */
  readonly series: string;
  readonly y: number;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xTitle: string;
  readonly yTitle: string;
  readonly seriesTitle: string;
  /** Log scale on y (times spanning orders of magnitude). */
  readonly logY?: boolean;
  readonly width?: number;
  readonly height?: number;
}

/** One line per series against x, with points. */
export function lineChartSpec(points: readonly ClockSweepPoint[], o: LineChartOptions): VegaLiteSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.title,
    width: o.width ?? 480,
    height: o.height ?? 300,
    data: { values: points.map((p) => ({ ...p })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle },
      y: { field: 'y', type: 'quantitative', title: o.yTitle, scale: o.logY ? { type: 'log' } : { zero: false } },
      color: { field: 'series', type: 'nominal', title: o.seriesTitle, sort: null },
    },
    config: CONFIG,
  };
}

export interface ScatterPoint {
  readonly timeMs: number;
  readonly powerW: number;
  /** Shown in the tooltip / kept in the data (e.g. the mode). */
  readonly label: string;
  readonly pareto: boolean;
}

export interface ScatterOptions {
  readonly title: string;
  readonly width?: number;
  readonly height?: number;
  readonly logX?: boolean;
}

/** All points in grey, the Pareto front on top as a red step line with points. */
export function paretoScatterSpec(points: readonly ScatterPoint[], o: ScatterOptions): VegaLiteSpec {
  const x = { field: 'timeMs', type: 'quantitative' as const, title: 'time per minibatch (ms)', scale: o.logX ? { type: 'log' as const } : { zero: false } };
  const y = { field: 'powerW', type: 'quantitative' as const, title: 'power (W)', scale: { zero: false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.title,
    width: o.width ?? 480,
    height: o.height ?? 320,
    data: { values: points.map((p) => ({ ...p, set: p.pareto ? 'Pareto front' : 'mode' })) },
    layer: [
      {
        mark: { type: 'circle', size: 8, opacity: 0.35 },
        encoding: { x, y, color: { value: '#8a8a8a' } },
      },
      {
        transform: [{ filter: 'datum.pareto' }],
        mark: { type: 'line', interpolate: 'step-after', point: { filled: true, size: 30 } },
        encoding: {
          x,
          y,
          color: { field: 'set', type: 'nominal', title: null, scale: { range: ['#d62728'] } },
          tooltip: [{ field: 'label', type: 'nominal' }, { field: 'timeMs', type: 'quantitative' }, { field: 'powerW', type: 'quantitative' }],
        },
      },
    ],
    config: CONFIG,
  };
}
