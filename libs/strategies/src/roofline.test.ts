import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModeSpace } from './space.js';
import { MeasurementTable } from './table.js';
import { RooflineModel, nnlsNormal, tableColumns } from './roofline.js';
import { MEDIUM_GRID } from './test-fixtures.js';

/** Normal equations of a least-squares problem X·c ≈ y. */
function normal(X: number[][], y: number[]): { G: Float64Array; h: Float64Array } {
  const p = X[0]!.length;
  const G = new Float64Array(p * p);
  const h = new Float64Array(p);
  X.forEach((row, i) => {
    for (let a = 0; a < p; a++) {
      h[a]! += row[a]! * y[i]!;
      for (let b = 0; b < p; b++) G[a * p + b]! += row[a]! * row[b]!;
    }
  });
  return { G, h };
}

test('nnlsNormal recovers a non-negative solution exactly and clamps a negative one to the best feasible fit', () => {
  const X = [
    [1, 0, 1],
    [1, 1, 0],
    [1, 2, 1],
    [1, 3, 5],
    [1, 4, 2],
  ];
  const truth = [0.5, 2, 1];
  const y = X.map((r) => r.reduce((s, v, j) => s + v * truth[j]!, 0));
  const { G, h } = normal(X, y);
  const c = nnlsNormal(G, h, 3, [false, false, false]);
  truth.forEach((v, j) => assert.ok(Math.abs(c[j]! - v) < 1e-6, `c[${j}] = ${c[j]} ≠ ${v}`));

  // y falls with column 2: unconstrained LS gives it a negative weight; NNLS must set it to 0 and
  // refit the others (then the answer is the LS fit on columns 0 and 1 alone).
  const y2 = X.map((r) => 1 + r[1]! - 0.5 * r[2]!);
  const n2 = normal(X, y2);
  const c2 = nnlsNormal(n2.G, n2.h, 3, [false, false, false]);
  assert.equal(c2[2], 0);
  const two = normal(
    X.map((r) => [r[0]!, r[1]!]),
    y2,
  );
  const ls = nnlsNormal(two.G, two.h, 2, [true, true]);
  assert.ok(Math.abs(c2[0]! - ls[0]!) < 1e-6 && Math.abs(c2[1]! - ls[1]!) < 1e-6);

  // A free variable may go negative.
  const y3 = X.map((r) => -3 + 2 * r[1]!);
  const n3 = normal(X, y3);
  const c3 = nnlsNormal(n3.G, n3.h, 3, [true, false, false]);
  assert.ok(Math.abs(c3[0]! + 3) < 1e-6 && Math.abs(c3[1]! - 2) < 1e-6 && Math.abs(c3[2]!) < 1e-6);
});

test('RooflineModel fitted on a dozen modes of a roofline-shaped device predicts the rest closely, and passes through its anchor', () => {
  const space = ModeSpace.fromGrid(MEDIUM_GRID);
  const table = new MeasurementTable(space.size, [1]);
  const x = (m: number, k: number): number => space.axes[k]![space.level(m, k)]! / space.axes[k]![space.axes[k]!.length - 1]!;
  for (const m of space.indices) {
    const [n, c, g, e] = [0, 1, 2, 3].map((k) => x(m, k)) as [number, number, number, number];
    const compute = 0.02 / g;
    const memory = 0.012 / e;
    const t = Math.sqrt(compute ** 2 + memory ** 2 + (0.004 / c) ** 2 + (0.003 / (c * n)) ** 2);
    const v = (f: number): number => f * (0.6 + 0.4 * f) ** 2;
    const p = 5 + 4 * n * (0.6 + 0.4 * c) ** 2 + 3 * v(c) + 25 * v(g) * (compute / t) + 10 * v(e) * (memory / t);
    table.trainTimeS[m] = t;
    table.trainPowerW[m] = p;
    table.inferTimeS[0]![0]![m] = t / 3;
    table.inferPowerW[0]![0]![m] = p * 0.9;
  }
  // A spread of 12 modes (every 257th).
  const fitted = Array.from(space.indices).filter((_, i) => i % 257 === 0);
  assert.ok(fitted.length >= 12);
  const model = new RooflineModel(space, table, fitted);
  const pred = new MeasurementTable(1, [1]);
  const cols = tableColumns(pred);
  const truthCols = tableColumns(table);
  let worst = 0;
  for (const m of space.indices) {
    model.predictInto(m, cols, 0);
    for (let c = 0; c < cols.length; c++) worst = Math.max(worst, Math.abs(cols[c]![0]! / truthCols[c]![m]! - 1));
  }
  assert.ok(worst < 0.01, `worst relative error ${worst}`);

  // Anchored: exact at the anchor even when its measurement is off the law by 5 %.
  const anchor = fitted[3]!;
  table.trainPowerW[anchor] = table.trainPowerW[anchor]! * 1.05;
  const anchored = new RooflineModel(space, table, fitted, undefined, anchor);
  anchored.predictInto(anchor, cols, 0);
  assert.ok(Math.abs(cols[1]![0]! / table.trainPowerW[anchor]! - 1) < 1e-9);
});
