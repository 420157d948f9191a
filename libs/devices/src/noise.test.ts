import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ORIN_AGX, enumerateModes, getGrid } from '@fulcrum/core';
import { VirtualDevice } from './virtual.js';
import { SyntheticFamilyDevice } from './synthetic-family.js';
import { createBackend } from './create.js';
import { DEFAULT_NOISE, REFERENCE_SAMPLES, SYSTEMATIC_VARIANCE_SHARE, noiseFactors, querySeed, windowNoise } from './noise.js';
import { gridIndex } from './grid-index.js';

const q = { mode: { cores: 8, cpuMhz: 1497.6, gpuMhz: 828.75, emcMhz: 2133 }, workload: 'resnet50', kind: 'infer' as const, batchSize: 8 };

describe('seeded measurement noise', () => {
  it('same seed, same numbers; another seed or repeat, other numbers', () => {
    const a = new VirtualDevice('orin-agx', { seed: 7 });
    const b = new VirtualDevice('orin-agx', { seed: 7 });
    const c = new VirtualDevice('orin-agx', { seed: 8 });
    assert.deepEqual(a.measure(q), b.measure(q));
    assert.deepEqual(a.measure(q), a.measure(q), 'order-independent: a query always gets its own draw');
    assert.notDeepEqual(a.measure(q), c.measure(q));
    assert.notDeepEqual(a.measure(q), a.measure(q, { repeat: 1 }));
    assert.deepEqual(a.measure(q, { repeat: 1 }), b.measure(q, { repeat: 1 }));
  });

  it('noise 0 gives the ground truth; ground truth ignores the seed', () => {
    const exact = new VirtualDevice('orin-agx', { noise: 0, seed: 3 });
    assert.deepEqual(exact.measure(q), exact.groundTruth(q));
    assert.deepEqual(new VirtualDevice('orin-agx', { seed: 99 }).groundTruth(q), exact.groundTruth(q));
  });

  it('the default spread is about 2–3% on time and power, centred on the truth', () => {
    assert.equal(DEFAULT_NOISE, 0.025);
    const d = new VirtualDevice('orin-agx', { seed: 11 });
    const noisy = d.measureTable('mobilenet', 'infer', 4);
    const truth = d.groundTruthTable('mobilenet', 'infer', 4);
    for (const [name, n, t] of [['time', noisy.timeMs, truth.timeMs], ['power', noisy.powerW, truth.powerW]] as const) {
      const rel = Array.from(n, (x, i) => x / t[i]! - 1);
      const mean = rel.reduce((s, x) => s + x, 0) / rel.length;
      const sd = Math.sqrt(rel.reduce((s, x) => s + (x - mean) ** 2, 0) / rel.length);
      assert.ok(Math.abs(mean) < 0.002, `${name} mean ${mean}`);
      assert.ok(sd > 0.02 && sd < 0.03, `${name} spread ${sd}`);
      assert.ok(Math.max(...rel.map(Math.abs)) < 0.2);
    }
  });

  it('measureTable (repeat 0) gives exactly what measure gives, mode by mode', () => {
    const d = createBackend({ type: 'virtual', seed: 5 });
    const grid = getGrid(ORIN_AGX, '441');
    const t = d.measureTable('bert-base', 'train', 16, '441');
    let i = 0;
    for (const mode of enumerateModes(grid)) {
      const m = d.measure({ mode, workload: 'bert-base', kind: 'train', batchSize: 16 });
      assert.equal(t.timeMs[i], m.timeMs);
      assert.equal(t.powerW[i], m.powerW);
      i++;
    }
  });

  it('rejects a bad noise or seed and bad queries with the field named', () => {
    assert.throws(() => new VirtualDevice('orin-agx', { noise: -0.1 }), /noise/);
    assert.throws(() => new VirtualDevice('orin-agx', { seed: 1.5 }), /seed/);
    const d = new VirtualDevice();
    assert.throws(() => d.measure({ ...q, workload: 'gpt5' }), /workload: unknown workload/);
    assert.throws(() => d.measure({ ...q, batchSize: 0 }), /batchSize/);
    assert.throws(() => d.measure({ ...q, mode: { ...q.mode, gpuMhz: 1000 } }), /mode.gpuMhz/);
    assert.throws(() => new VirtualDevice('orin-nano'), /no virtual model/);
  });
});

describe('measurement windows (issue 16): per-sample noise that averages away, a systematic part that does not', () => {
  const sd = (xs: number[]): number => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
  };
  // Stream seeds as the devices make them (hashed), one per repeat.
  const draws = (n: number, count = 4000) => Array.from({ length: count }, (_, i) => windowNoise(querySeed(1, 'resnet18', 'infer', 4, i), DEFAULT_NOISE, n));

  it('a reference window gives exactly the draws of noiseFactors (the benchmark does not move)', () => {
    for (let i = 0; i < 200; i++) {
      const w = windowNoise(i * 104729 + 3, DEFAULT_NOISE, REFERENCE_SAMPLES);
      assert.deepEqual([w.time, w.power], noiseFactors(i * 104729 + 3, DEFAULT_NOISE));
    }
  });

  it('a longer window is surer down to the systematic floor; the standard error it reports is its per-sample part', () => {
    const sys = DEFAULT_NOISE * Math.sqrt(SYSTEMATIC_VARIANCE_SHARE);
    const spread = (n: number) => sd(draws(n).map((w) => Math.log(w.time)));
    const expected = (n: number) => Math.sqrt(sys ** 2 + DEFAULT_NOISE ** 2 * (1 - SYSTEMATIC_VARIANCE_SHARE) * (REFERENCE_SAMPLES / n));
    for (const n of [5, 20, 80, 2000]) {
      const got = spread(n);
      assert.ok(Math.abs(got / expected(n) - 1) < 0.06, `n=${n}: spread ${got.toFixed(4)} vs ${expected(n).toFixed(4)}`);
    }
    assert.ok(spread(2000) > 0.9 * sys, 'the systematic part does not average away');
    for (const n of [5, 20, 80]) {
      const se = draws(n).map((w) => w.timeRelSe!);
      const perSample = DEFAULT_NOISE * Math.sqrt(1 - SYSTEMATIC_VARIANCE_SHARE) * Math.sqrt(REFERENCE_SAMPLES / n);
      const mean = se.reduce((a, b) => a + b, 0) / se.length;
      assert.ok(Math.abs(mean / perSample - 1) < 0.08, `n=${n}: mean SE ${mean.toFixed(4)} vs ${perSample.toFixed(4)}`);
      assert.ok(sd(se) > 0, 'the standard error itself varies from window to window');
    }
    assert.equal(windowNoise(1, DEFAULT_NOISE, 1).timeRelSe, undefined);
    assert.throws(() => windowNoise(1, DEFAULT_NOISE, 0), /samples/);
  });

  it('measure with samples returns the standard errors in ms and W; without, the same numbers as before', () => {
    const d = new VirtualDevice('orin-agx', { seed: 9 });
    const q = { workload: 'resnet18', kind: 'infer' as const, batchSize: 4, mode: ORIN_AGX.presets[0]!.mode };
    const plain = d.measure(q);
    assert.deepEqual(Object.keys(plain).sort(), ['powerW', 'timeMs']);
    const window = d.measure(q, { samples: REFERENCE_SAMPLES });
    assert.equal(window.timeMs, plain.timeMs);
    assert.equal(window.samples, REFERENCE_SAMPLES);
    assert.ok(window.timeSeMs! > 0 && window.timeSeMs! < 0.1 * window.timeMs && window.powerSeW! > 0);
    const long = d.measure(q, { samples: 500 });
    assert.ok(long.timeSeMs! < window.timeSeMs!, 'a 500-sample window reports a smaller standard error');
  });
});

describe('grid index', () => {
  it('maps index ↔ mode in enumerateModes order for every Orin grid', () => {
    for (const name of ['full', '4368', '441']) {
      const grid = getGrid(ORIN_AGX, name);
      const idx = gridIndex(grid);
      assert.equal(gridIndex(grid), idx, 'cached');
      let i = 0;
      for (const mode of enumerateModes(grid)) {
        assert.deepEqual(idx.modeAt(i), mode);
        assert.equal(idx.indexOf(mode), i);
        assert.equal(idx.fromKnobIndices(...idx.knobIndices(i)), i);
        i++;
      }
      assert.equal(i, idx.size);
    }
    assert.equal(gridIndex(ORIN_AGX.grid).indexOf({ cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 100 }), -1);
    assert.throws(() => gridIndex(ORIN_AGX.grid).modeAt(18096), RangeError);
  });

  it('ground-truth tables are cached per (workload, kind, batch, grid) and agree with groundTruth', () => {
    const d = new VirtualDevice('orin-agx', { noise: 0 });
    const t = d.groundTruthTable('yolov8n', 'infer', 2, '4368');
    assert.equal(d.groundTruthTable('yolov8n', 'infer', 2, '4368'), t);
    assert.equal(t.index.size, 4368);
    for (const i of [0, 1234, 4367]) {
      assert.deepEqual(d.groundTruth({ mode: t.index.modeAt(i), workload: 'yolov8n', kind: 'infer', batchSize: 2 }), { timeMs: t.timeMs[i], powerW: t.powerW[i] });
    }
  });
});

describe('measurement tables of windows', () => {
  it('measureTable with samples: the same values as without at the reference window, with the standard errors measure() gives', () => {
    for (const device of [new VirtualDevice('orin-agx', { seed: 3 }), new SyntheticFamilyDevice('orin-agx', { variant: 2, seed: 3 })]) {
      const grid = getGrid(ORIN_AGX, '441');
      const plain = device.measureTable('resnet50', 'infer', 8, grid);
      const windows = device.measureTable('resnet50', 'infer', 8, grid, { samples: REFERENCE_SAMPLES });
      assert.deepEqual(windows.timeMs, plain.timeMs);
      assert.deepEqual(windows.powerW, plain.powerW);
      assert.equal(windows.samples, REFERENCE_SAMPLES);
      for (const i of [0, 17, 220, windows.index.size - 1]) {
        const one = device.measure({ workload: 'resnet50', kind: 'infer', batchSize: 8, mode: windows.index.modeAt(i) }, { samples: REFERENCE_SAMPLES });
        assert.ok(Math.abs(one.timeSeMs! - windows.timeSeMs![i]!) < 1e-9 * one.timeMs);
        assert.ok(Math.abs(one.powerSeW! - windows.powerSeW![i]!) < 1e-9 * one.powerW);
        assert.ok(windows.timeSeMs![i]! > 0);
      }
      // Another repeat: other draws.
      const again = device.measureTable('resnet50', 'infer', 8, grid, { samples: REFERENCE_SAMPLES, repeat: 1 });
      assert.notDeepEqual(again.timeMs, windows.timeMs);
      // No noise: no standard errors to report.
      const exact = new VirtualDevice('orin-agx', { noise: 0 }).measureTable('resnet50', 'infer', 8, grid, { samples: 20 });
      assert.equal(exact.timeSeMs, undefined);
    }
  });
});
