/**
 * @fulcrum/plot — Vega-Lite specs rendered to SVG (vega) and PNG (resvg), no browser.
 *
 * Main entry points: `renderVegaLite(spec)` → SVG, `svgToPng(svg)`, and the specs Fulcrum draws
 * (`lineChartSpec`, `paretoScatterSpec`). Everything the package has is public;
 * `@fulcrum/plot/internal` is the same, for symmetry with the other packages.
 */
export { renderVegaLite, svgToPng } from './render.js';
export type { VegaLiteSpec, RenderedSvg, PngOptions } from './render.js';
export { lineChartSpec, paretoScatterSpec, planPlotSpec, timelineSpec } from './specs.js';
export type { ClockSweepPoint, LineChartOptions, PlanPlotOptions, PlanPoint, RunTimeline, ScatterPoint, ScatterOptions, TimelineOptions } from './specs.js';
