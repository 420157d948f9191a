import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lineChartSpec, paretoScatterSpec, renderVegaLite, svgToPng } from './index.js';

describe('plot', () => {
  it('renders a line chart to SVG with its text, and the SVG to a PNG', async () => {
    const points = [100, 200, 400].flatMap((x) => ['EMC 204', 'EMC 3199'].map((series, k) => ({ x, series, y: 1000 / x + 10 * k })));
    const { svg, width, height } = await renderVegaLite(lineChartSpec(points, { title: 'resnet50 time', xTitle: 'GPU clock (MHz)', yTitle: 'time (ms)', seriesTitle: 'EMC' }));
    assert.match(svg, /^<svg/);
    assert.match(svg, /resnet50 time/);
    assert.match(svg, /GPU clock \(MHz\)/);
    assert.match(svg, /EMC 3199/);
    assert.ok(width > 400 && height > 250);
    const png = svgToPng(svg);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // 2× zoom by default
    const w = new DataView(png.buffer, png.byteOffset).getUint32(16);
    assert.ok(Math.abs(w - 2 * width) <= 2, `png width ${w}`);
    assert.ok(png.length > 5000);
  });

  it('renders the Pareto scatter with the front highlighted', async () => {
    const pts = [
      { timeMs: 10, powerW: 50, label: 'a', pareto: true },
      { timeMs: 20, powerW: 30, label: 'b', pareto: true },
      { timeMs: 25, powerW: 40, label: 'c', pareto: false },
    ];
    const { svg } = await renderVegaLite(paretoScatterSpec(pts, { title: 'front' }));
    assert.match(svg, /Pareto front/);
    assert.match(svg, /#d62728/);
  });
});
