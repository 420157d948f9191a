// @fulcrum/plot — Vega-Lite specs rendered to SVG (vega) and PNG (resvg), no browser.
export { renderVegaLite, svgToPng } from './render.js';
export type { VegaLiteSpec, RenderedSvg, PngOptions } from './render.js';
export { lineChartSpec, paretoScatterSpec } from './specs.js';
export type { ClockSweepPoint, LineChartOptions, ScatterPoint, ScatterOptions } from './specs.js';
