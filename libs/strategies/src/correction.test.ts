// The additive correction of a fitted shape (correction.ts): on a board whose laws are not the
// roofline's it brings the predictions of unprofiled modes closer to the truth; measurements that
// carry a large variance pull it less.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyntheticFamilyDevice } from '@fulcrum/devices';
import { DEFAULT_CANDIDATE_BATCH_SIZES } from '@fulcrum/core';
import { fromDeviceBackend } from './devices.js';
import { DEFAULT_CORRECTION, correctAdditive } from './correction.js';
import { RooflineModel, tableColumns } from './roofline.js';
import { Planner } from './strategy.js';
import { createRng, sample } from './rng.js';
import { MeasurementTable, type TableKey } from './table.js';
import { ModeSpace } from './space.js';

const key: TableKey = {
  device: 'orin-agx',
  trainWorkload: 'resnet18',
  trainBatchSize: 16,
  streams: [{ workload: 'mobilenet', candidateBatchSizes: [...DEFAULT_CANDIDATE_BATCH_SIZES] }],
};

function setup(variant: number) {
  const backend = fromDeviceBackend(new SyntheticFamilyDevice('orin-agx', { variant, noise: 0 }));
  const planner = new Planner(backend);
  const cache = planner.store.cache(key);
  const all = sample(createRng(11 + variant), Array.from(backend.space.indices), 600);
  const profiled = all.slice(0, 100);
  const held = all.slice(100);
  cache.ensureSync(profiled);
  const predicted = new MeasurementTable(backend.space.size, key.streams.map((s) => s.candidateBatchSizes.length));
  const model = new RooflineModel(backend.space, cache.table, profiled);
  const dst = tableColumns(predicted);
  for (const m of backend.space.indices) model.predictInto(m, dst, m);
  return { backend, table: cache.table, truth: planner.store.truth(key)!, profiled, held, predicted };
}

/** RMS log error over every column at `modes`. */
function rmsLogError(predicted: MeasurementTable, truth: MeasurementTable, modes: readonly number[]): number {
  const p = tableColumns(predicted);
  const t = tableColumns(truth);
  let s = 0;
  let n = 0;
  for (let c = 0; c < p.length; c++) {
    for (const m of modes) {
      if (!(p[c]![m]! > 0) || !(t[c]![m]! > 0)) continue;
      s += Math.log(p[c]![m]! / t[c]![m]!) ** 2;
      n++;
    }
  }
  return Math.sqrt(s / n);
}

for (const variant of [1, 4]) {
  test(`synthetic family variant ${variant}: the correction brings the held-out modes' predictions closer to the truth`, () => {
    const { backend, table, truth, profiled, held, predicted } = setup(variant);
    const before = rmsLogError(predicted, truth, held);
    correctAdditive(backend.space, table, profiled, predicted, () => 0);
    const after = rmsLogError(predicted, truth, held);
    assert.ok(after < 0.8 * before, `RMS log error ${before.toFixed(4)} → ${after.toFixed(4)}`);
    // The profiled modes themselves are fitted closer too (the correction is fitted to them).
    assert.ok(rmsLogError(predicted, table, profiled) < before);
  });
}

test('measurements with a large variance pull the correction less', () => {
  const exact = setup(4);
  const noisy = setup(4);
  const base = Float64Array.from(exact.predicted.trainPowerW);
  correctAdditive(exact.backend.space, exact.table, exact.profiled, exact.predicted, () => 0);
  // A relative variance 100× the shape's own (σ = 10 × misfit): every measurement weighs ~1 %.
  correctAdditive(noisy.backend.space, noisy.table, noisy.profiled, noisy.predicted, () => (10 * DEFAULT_CORRECTION.misfit) ** 2);
  const shift = (t: MeasurementTable): number => {
    let s = 0;
    for (const m of exact.held) s += Math.abs(Math.log(t.trainPowerW[m]! / base[m]!));
    return s / exact.held.length;
  };
  assert.ok(shift(exact.predicted) > 0.01, `exact: mean |log| shift ${shift(exact.predicted)}`);
  assert.ok(shift(noisy.predicted) < 0.5 * shift(exact.predicted), `noisy ${shift(noisy.predicted)} vs exact ${shift(exact.predicted)}`);
});

test('the correction stays within ×/÷ e^limit, and leaves unknown predictions unknown', () => {
  const { backend, table, profiled, predicted } = setup(1);
  const base = tableColumns(predicted).map((c) => Float64Array.from(c));
  const m0 = backend.space.indices[0]!;
  predicted.trainTimeS[m0] = Number.NaN;
  const limit = 0.05;
  correctAdditive(backend.space, table, profiled, predicted, () => 0, { ...DEFAULT_CORRECTION, limit });
  assert.ok(Number.isNaN(predicted.trainTimeS[m0]!));
  tableColumns(predicted).forEach((col, c) => {
    for (const m of backend.space.indices) {
      if (!(base[c]![m]! > 0) || Number.isNaN(col[m]!)) continue;
      assert.ok(Math.abs(Math.log(col[m]! / base[c]![m]!)) <= limit + 1e-12);
    }
  });
});

test('a knob with hundreds of levels is corrected per bin of adjacent levels', () => {
  // 300 GPU clocks: one value per level would be a 300+-unknown solve per column (MAX_BINS).
  const gpuMhz = Array.from({ length: 300 }, (_, i) => 100 + 3 * i);
  const space = ModeSpace.fromGrid({ cores: [4, 8], cpuMhz: [1000, 2000], gpuMhz, emcMhz: [2000, 3000] });
  const table = (f: (m: number) => number): MeasurementTable => {
    const t = new MeasurementTable(space.size, [1]);
    for (const m of space.indices) {
      t.trainTimeS[m] = f(m);
      t.trainPowerW[m] = 10;
      t.inferTimeS[0]![0]![m] = f(m);
      t.inferPowerW[0]![0]![m] = 10;
    }
    return t;
  };
  // The truth has a bump over the GPU clock the prediction lacks.
  const x = (m: number): number => space.level(m, 2) / 299;
  const truth = table((m) => 0.1 * Math.exp(0.3 * Math.sin(Math.PI * x(m))));
  const predicted = table(() => 0.1);
  const modes = sample(createRng(3), Array.from(space.indices), 400);
  correctAdditive(space, truth, modes, predicted, () => 0);
  let before = 0;
  let after = 0;
  for (const m of space.indices) {
    before += Math.log(0.1 / truth.trainTimeS[m]!) ** 2;
    after += Math.log(predicted.trainTimeS[m]! / truth.trainTimeS[m]!) ** 2;
  }
  assert.ok(after < 0.1 * before, `squared log error ${before.toFixed(2)} → ${after.toFixed(2)}`);
  // Adjacent levels share a bin (300 levels in 64 bins) and so a factor; the next bin has its own.
  const at = (level: number): number => predicted.trainTimeS[space.indexOfLevels([0, 0, level, 0])]!;
  assert.equal(at(0), at(1));
  assert.notEqual(at(0), at(5));
});
