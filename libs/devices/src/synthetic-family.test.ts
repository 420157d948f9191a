// The synthetic device family (issue 16, 4): seeded variants whose time and power laws leave the
// roofline shape on purpose — a power sweet spot in the GPU clock, throttling above a power cap,
// an EMC sensitivity per workload and batch size, a CPU-bound floor — deterministic per variant.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ORIN_AGX } from '@fulcrum/core';
import { SyntheticFamilyDevice, familyShape, parseFamilyDevice } from './synthetic-family.js';
import { VirtualDevice } from './virtual.js';

const g = ORIN_AGX.grid;
const MAX = { cores: Math.max(...g.cores), cpuMhz: Math.max(...g.cpuMhz), gpuMhz: Math.max(...g.gpuMhz), emcMhz: Math.max(...g.emcMhz) };

describe('synthetic device family', () => {
  it('each variant is its own deterministic shape, labelled synthetic', () => {
    const shapes = Array.from({ length: 8 }, (_, v) => familyShape(v));
    assert.deepEqual(familyShape(3), shapes[3]);
    assert.equal(new Set(shapes.map((s) => s.capFraction.toFixed(6))).size, 8, 'eight different power caps');
    for (const s of shapes) {
      assert.ok(s.capFraction >= 0.55 && s.capFraction <= 0.85 && s.gpuSweetSpot >= 0.35 && s.gpuSweetSpot <= 0.75 && s.floorFraction >= 0.2 && s.floorFraction <= 0.7);
    }
    const d = new SyntheticFamilyDevice('orin-agx', { variant: 3, noise: 0 });
    assert.match(d.description, /synthetic family variant 3 .*not the roofline shape, not a measured board/);
    const q = { workload: 'resnet18', kind: 'infer' as const, batchSize: 8, mode: MAX };
    assert.deepEqual(new SyntheticFamilyDevice('orin-agx', { variant: 3, noise: 0 }).groundTruth(q), d.groundTruth(q));
    assert.notDeepEqual(new SyntheticFamilyDevice('orin-agx', { variant: 4, noise: 0 }).groundTruth(q), d.groundTruth(q));
    assert.throws(() => familyShape(-1), /variant/);
    assert.deepEqual(parseFamilyDevice('family:12'), [12]);
    assert.deepEqual(parseFamilyDevice('family:0-3'), [0, 1, 2, 3]);
    assert.throws(() => parseFamilyDevice('family:5-2'), /ends before it starts/);
    assert.throws(() => parseFamilyDevice('family:0-99'), /at most 64 variants/);
    assert.equal(parseFamilyDevice('orin-agx'), undefined);
  });

  it('leaves the roofline shape: a higher GPU clock can be slower (throttling), and the most efficient GPU clock moves', () => {
    const base = new VirtualDevice('orin-agx', { noise: 0 });
    const sweep = (dev: { groundTruth: VirtualDevice['groundTruth'] }) =>
      g.gpuMhz.map((gpu) => dev.groundTruth({ workload: 'resnet50', kind: 'train', batchSize: 32, mode: { ...MAX, gpuMhz: gpu } }));
    const argmin = (xs: number[]) => xs.indexOf(Math.min(...xs));
    const b = sweep(base);
    assert.ok(b.every((x, i) => i === 0 || x.timeMs <= b[i - 1]!.timeMs), 'the base model: a higher GPU clock is never slower');
    const baseBest = argmin(b.map((x) => x.timeMs * x.powerW));
    let slower = 0;
    let movedBest = 0;
    let throttledTop = 0;
    for (let v = 0; v < 8; v++) {
      const f = sweep(new SyntheticFamilyDevice('orin-agx', { variant: v, noise: 0 }));
      if (f.some((x, i) => i > 0 && x.timeMs > f[i - 1]!.timeMs * 1.001)) slower++;
      if (argmin(f.map((x) => x.timeMs * x.powerW)) !== baseBest) movedBest++;
      if (f.at(-1)!.timeMs > b.at(-1)!.timeMs * 1.01) throttledTop++;
    }
    assert.ok(slower >= 4, `${slower} of 8 variants have a GPU clock step that makes the minibatch slower`);
    assert.ok(movedBest >= 4, `${movedBest} of 8 variants move the energy-optimal GPU clock`);
    assert.equal(throttledTop, 8, 'every variant slows its fastest mode');
  });

  it('tables agree with single queries, noise is seeded per repeat, and a CPU-bound floor holds at low CPU clocks', () => {
    const d = new SyntheticFamilyDevice('orin-agx', { variant: 5, noise: 0.025, seed: 7 });
    const t = d.groundTruthTable('mobilenet', 'infer', 1, '441');
    const m = d.measureTable('mobilenet', 'infer', 1, '441', { repeat: 0 });
    for (const i of [0, 100, 440]) {
      const mode = t.index.modeAt(i);
      const one = d.groundTruth({ workload: 'mobilenet', kind: 'infer', batchSize: 1, mode });
      assert.ok(Math.abs(one.timeMs - t.timeMs[i]!) < 1e-9 && Math.abs(one.powerW - t.powerW[i]!) < 1e-9);
      const noisy = d.measure({ workload: 'mobilenet', kind: 'infer', batchSize: 1, mode });
      assert.ok(Math.abs(noisy.timeMs - m.timeMs[i]!) < 1e-9, 'measureTable repeat 0 = measure');
      assert.notEqual(noisy.timeMs, one.timeMs);
    }
    // Batch 1: the data-loading floor; at the lowest CPU clock it dominates and scales with 1/clock.
    const slowCpu = { ...MAX, cpuMhz: Math.min(...g.cpuMhz) };
    const floorish = d.groundTruth({ workload: 'mobilenet', kind: 'infer', batchSize: 1, mode: slowCpu }).timeMs;
    const top = d.groundTruth({ workload: 'mobilenet', kind: 'infer', batchSize: 1, mode: MAX }).timeMs;
    assert.ok(floorish > 2 * top, `time at the lowest CPU clock ${floorish.toFixed(2)} ms vs ${top.toFixed(2)} ms at the top`);
  });
});
