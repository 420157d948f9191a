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

/** One mode on a plan plot: its best batch choice for the problem, judged on latency alone. */
export interface PlanPoint {
  /** `profiled` (a mode the strategy measured), `true front` (the ground truth's front, where known). */
  readonly set: 'profiled' | 'true front';
  readonly label: string;
  readonly powerW: number;
  /** Training throughput X, samples/s. */
  readonly throughput: number;
  /** The worst stream's latency bound over its budget (≤ 1 meets every latency budget). */
  readonly latencyRatio: number;
  /** Meets every latency budget (and is stable). */
  readonly meetsLatency: boolean;
  /** On the measured front: no profiled mode meeting latency has more X for less power. */
  readonly front: boolean;
  /** The chosen plan. */
  readonly chosen: boolean;
  /** Measurement windows (a re-measured mode has more than 1). */
  readonly windows?: number;
}

export interface PlanPlotOptions {
  readonly title: string;
  /** Lines under the title. */
  readonly subtitle?: string | readonly string[];
  readonly powerBudgetW: number;
  /** `peak` or `average` power, for the axis title. */
  readonly powerLabel: string;
  readonly width?: number;
  readonly height?: number;
}

/**
 * A plan at a glance, two panels sharing the power axis: training throughput against power (the
 * profiled modes, those that meet every latency budget filled, their measured front as a step
 * line, the ground truth's front where known, the power budget as a rule, the chosen plan as a
 * star), and the worst stream's latency bound over its budget against power (the budget at 1).
 */
export function planPlotSpec(points: readonly PlanPoint[], o: PlanPlotOptions): VegaLiteSpec {
  const values = points.map((p) => ({
    ...p,
    kind: p.chosen ? 'chosen plan' : p.set === 'true front' ? 'true front' : p.meetsLatency ? 'profiled: meets latency' : 'profiled: misses latency',
    windows: p.windows ?? 1,
  }));
  const maxPower = Math.max(o.powerBudgetW, ...points.map((p) => p.powerW));
  const kinds = ['profiled: meets latency', 'profiled: misses latency', 'true front', 'chosen plan'] as const;
  const colours = ['#1f77b4', '#b0b0b0', '#2ca02c', '#d62728'];
  const present = kinds.map((k, i) => [k, colours[i]!] as const).filter(([k]) => values.some((v) => v.kind === k));
  const x = { field: 'powerW', type: 'quantitative' as const, title: `${o.powerLabel} power (W)`, scale: { domain: [0, Math.ceil(maxPower * 1.05)] } };
  const color = {
    field: 'kind',
    type: 'nominal' as const,
    title: null,
    scale: { domain: present.map(([k]) => k), range: present.map(([, c]) => c) },
  };
  const tooltip = [
    { field: 'label', type: 'nominal' as const, title: 'mode' },
    { field: 'throughput', type: 'quantitative' as const, title: 'X (samples/s)', format: '.2f' },
    { field: 'powerW', type: 'quantitative' as const, title: 'power (W)', format: '.2f' },
    { field: 'latencyRatio', type: 'quantitative' as const, title: 'latency / budget', format: '.3f' },
    { field: 'windows', type: 'quantitative' as const, title: 'windows' },
  ];
  const budget = { mark: { type: 'rule' as const, strokeDash: [6, 4], color: '#444' }, encoding: { x: { datum: o.powerBudgetW, type: 'quantitative' as const } } };
  const budgetLabel = {
    mark: { type: 'text' as const, align: 'left' as const, dx: 4, dy: 8, color: '#444', fontSize: 11 },
    encoding: { x: { datum: o.powerBudgetW, type: 'quantitative' as const }, y: { value: 0 }, text: { value: `budget ${o.powerBudgetW} W` } },
  };
  const throughputPanel = {
    width: o.width ?? 440,
    height: o.height ?? 320,
    layer: [
      {
        transform: [{ filter: "datum.set === 'true front'" }],
        mark: { type: 'line' as const, interpolate: 'step-after' as const, strokeWidth: 1.5, opacity: 0.8 },
        encoding: { x, y: { field: 'throughput', type: 'quantitative' as const, title: 'training throughput X (samples/s)' }, color },
      },
      {
        transform: [{ filter: "datum.set === 'profiled' && datum.front" }],
        mark: { type: 'line' as const, interpolate: 'step-after' as const, strokeWidth: 1, color: '#1f77b4', opacity: 0.6 },
        encoding: { x, y: { field: 'throughput', type: 'quantitative' as const } },
      },
      {
        transform: [{ filter: "datum.set === 'profiled'" }],
        mark: { type: 'point' as const, size: 60, strokeWidth: 1.5, filled: true },
        encoding: {
          x,
          y: { field: 'throughput', type: 'quantitative' as const },
          color,
          shape: { condition: { test: 'datum.chosen', value: 'diamond' }, value: 'circle' },
          size: { condition: { test: 'datum.chosen', value: 260 }, value: 60 },
          opacity: { condition: { test: 'datum.meetsLatency || datum.chosen', value: 0.9 }, value: 0.5 },
          tooltip,
        },
      },
      budget,
      budgetLabel,
    ],
  };
  const latencyPanel = {
    width: o.width ? Math.round(o.width * 0.6) : 260,
    height: o.height ?? 320,
    layer: [
      {
        transform: [{ filter: "datum.set === 'profiled'" }],
        mark: { type: 'point' as const, size: 60, strokeWidth: 1.5, filled: true },
        encoding: {
          x,
          y: { field: 'latencyRatio', type: 'quantitative' as const, title: 'worst stream latency bound / budget', scale: { type: 'log' as const } },
          color,
          shape: { condition: { test: 'datum.chosen', value: 'diamond' }, value: 'circle' },
          size: { condition: { test: 'datum.chosen', value: 260 }, value: 60 },
          tooltip,
        },
      },
      { mark: { type: 'rule' as const, strokeDash: [6, 4], color: '#444' }, encoding: { y: { datum: 1, type: 'quantitative' as const } } },
      budget,
    ],
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title, anchor: 'start' as const, ...(o.subtitle ? { subtitle: typeof o.subtitle === 'string' ? o.subtitle : [...o.subtitle] } : {}) },
    data: { values },
    hconcat: [throughputPanel, latencyPanel],
    config: { ...CONFIG, legend: { orient: 'bottom' as const, direction: 'horizontal' as const, labelLimit: 0 } },
  } as VegaLiteSpec;
}

/** What a run looked like over time (device seconds since the plan started). */
export interface RunTimeline {
  /** One per answered request: when it arrived, its stream, its latency. */
  readonly latencies: readonly { readonly tS: number; readonly stream: string; readonly latencyS: number }[];
  readonly latencyBudgetsS: Readonly<Record<string, number>>;
  /** Board power samples. */
  readonly power: readonly { readonly tS: number; readonly powerW: number }[];
  readonly powerBudgetW: number;
  /** Training throughput over successive intervals (at each interval's end). */
  readonly throughput: readonly { readonly tS: number; readonly samplesPerS: number }[];
  readonly predictedThroughputSamplesPerS: number;
}

export interface TimelineOptions {
  readonly title: string;
  readonly subtitle?: string | readonly string[];
  readonly width?: number;
}

/**
 * A run's timeline, three panels over the same device-time axis: every request's latency with
 * each stream's budget, board power with the budget, and training throughput with the plan's
 * prediction.
 */
export function timelineSpec(t: RunTimeline, o: TimelineOptions): VegaLiteSpec {
  const width = o.width ?? 720;
  const x = { field: 'tS', type: 'quantitative' as const, title: 'device time since the plan started (s)' };
  const budgets = Object.entries(t.latencyBudgetsS).map(([stream, budgetS]) => ({ stream, budgetS }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title, anchor: 'start' as const, ...(o.subtitle ? { subtitle: typeof o.subtitle === 'string' ? o.subtitle : [...o.subtitle] } : {}) },
    vconcat: [
      {
        width,
        height: 180,
        layer: [
          {
            data: { values: t.latencies.map((p) => ({ ...p })) },
            mark: { type: 'circle' as const, size: 10, opacity: 0.5 },
            encoding: { x, y: { field: 'latencyS', type: 'quantitative' as const, title: 'request latency (s)' }, color: { field: 'stream', type: 'nominal' as const, title: 'stream' } },
          },
          {
            data: { values: budgets },
            mark: { type: 'rule' as const, strokeDash: [6, 4], strokeWidth: 1.5 },
            encoding: { y: { field: 'budgetS', type: 'quantitative' as const }, color: { field: 'stream', type: 'nominal' as const } },
          },
        ],
      },
      {
        width,
        height: 120,
        layer: [
          {
            data: { values: t.power.map((p) => ({ ...p })) },
            mark: { type: 'line' as const, strokeWidth: 1, color: '#ff7f0e' },
            encoding: { x, y: { field: 'powerW', type: 'quantitative' as const, title: 'board power (W)', scale: { zero: false } } },
          },
          { data: { values: [{ w: t.powerBudgetW }] }, mark: { type: 'rule' as const, strokeDash: [6, 4], color: '#444' }, encoding: { y: { field: 'w', type: 'quantitative' as const } } },
        ],
      },
      {
        width,
        height: 120,
        layer: [
          {
            data: { values: t.throughput.map((p) => ({ ...p })) },
            mark: { type: 'line' as const, point: { size: 12 }, color: '#2ca02c' },
            encoding: { x, y: { field: 'samplesPerS', type: 'quantitative' as const, title: 'training X (samples/s)' } },
          },
          { data: { values: [{ x: t.predictedThroughputSamplesPerS }] }, mark: { type: 'rule' as const, strokeDash: [6, 4], color: '#444' }, encoding: { y: { field: 'x', type: 'quantitative' as const } } },
        ],
      },
    ],
    config: { ...CONFIG, legend: { orient: 'top' as const, direction: 'horizontal' as const, labelLimit: 0 } },
  } as VegaLiteSpec;
}
