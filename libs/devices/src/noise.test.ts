import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ORIN_AGX, enumerateModes, getGrid } from '@fulcrum/core';
import { VirtualDevice } from './virtual.js';
import { createBackend } from './create.js';
import { DEFAULT_NOISE } from './noise.js';
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
