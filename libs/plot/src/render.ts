/**
 * Vega-Lite → SVG (vega's headless view, no browser) → PNG (resvg). Text is measured by vega's
 * built-in estimator and drawn by resvg with the system's fonts (sans-serif falls back to
 * DejaVu Sans, Liberation Sans or Arial, whichever is installed).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

export type VegaLiteSpec = TopLevelSpec;

export interface RenderedSvg {
  readonly svg: string;
  /** Pixel size vega laid the chart out at. */
  readonly width: number;
  readonly height: number;
}

/** Compiles a Vega-Lite spec and renders it to an SVG string. */
export async function renderVegaLite(spec: VegaLiteSpec): Promise<RenderedSvg> {
  const { spec: vgSpec } = compile(spec);
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    await view.runAsync();
    const svg = await view.toSVG();
    const size = /<svg[^>]*width="([\d.]+)"[^>]*height="([\d.]+)"/.exec(svg);
    return { svg, width: Number(size?.[1] ?? 0), height: Number(size?.[2] ?? 0) };
  } finally {
    view.finalize();
  }
}

export interface PngOptions {
  /** Output width in pixels (height keeps the aspect ratio); default: 2× the SVG's width. */
  readonly width?: number;
  /** Background colour; default white. */
  readonly background?: string;
}

/** Rasterises an SVG with resvg. */
export function svgToPng(svg: string, options: PngOptions = {}): Uint8Array {
  const resvg = new Resvg(svg, {
    background: options.background ?? 'white',
    fitTo: options.width ? { mode: 'width', value: options.width } : { mode: 'zoom', value: 2 },
    font: {
      loadSystemFonts: true,
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
  });
  return resvg.render().asPng();
}
