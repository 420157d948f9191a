import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { workloadIds } from '@fulcrum/core';
import { countBert, countResNet, countVgg16 } from './analytical.js';
import { dataFile } from './calibration.js';
import { PAGODA_MODEL_NAMES, WORKLOAD_COSTS, getWorkloadCost, minibatchCost } from './workload-costs.js';
import { BORROWED, workloadConstants } from './workload-constants.js';

const pagoda = readFileSync(dataFile('pagoda_analytical_flops_bytes.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(','))
  .map(([model, b, flops, bytes, params]) => ({ model: model!, batch: Number(b), flops: Number(flops), bytes: Number(bytes), params: Number(params) }));

describe('per-sample FLOPs and bytes', () => {
  it('every workload of the registry has costs and constants (8 models × train/infer = 16 workloads)', () => {
    for (const w of workloadIds()) {
      const c = getWorkloadCost(w);
      assert.ok(c.flopsPerSample > 0 && c.activationBytesPerSample > 0 && c.paramBytes > 0, w);
      assert.ok(c.source.length > 20, `${w} documents its source`);
      assert.ok(workloadConstants(w).efficiency > 0, w);
    }
    assert.equal(WORKLOAD_COSTS.length * 2, 16);
  });

  it('reproduce Pagoda\'s published analytical numbers exactly at all 55 (model, batch) points', () => {
    for (const [workload, model] of Object.entries(PAGODA_MODEL_NAMES)) {
      const rows = pagoda.filter((r) => r.model === model);
      assert.equal(rows.length, 11, model);
      for (const r of rows) {
        const c = minibatchCost(getWorkloadCost(workload), 'infer', r.batch);
        assert.equal(c.flops, r.flops, `${model} b=${r.batch} flops`);
        assert.equal(c.bytes, r.bytes, `${model} b=${r.batch} bytes`);
      }
    }
  });

  it('the analytical counter reproduces Pagoda exactly for ResNet-50 and to 0.1% for BERT-large FLOPs', () => {
    const r50 = countResNet(50);
    const p1 = pagoda.find((r) => r.model === 'resnet50' && r.batch === 1)!;
    assert.equal(r50.flops, p1.flops);
    assert.equal(r50.paramBytes + r50.activationBytes, p1.bytes);
    assert.equal(r50.paramBytes, p1.params);
    const bl = countBert(24, 1024, 16);
    const b1 = pagoda.find((r) => r.model === 'bert-large' && r.batch === 1)!;
    assert.ok(Math.abs(bl.flops / b1.flops - 1) < 1e-3);
    assert.equal(bl.paramBytes, b1.params);
  });

  it('counts the unpublished models in line with their papers/model cards', () => {
    // torchvision model cards: resnet18 1.81 GMACs, 11.69 M params; vgg16 15.47 GMACs, 138.36 M params.
    const r18 = countResNet(18);
    assert.ok(Math.abs(r18.flops / 2 / 1.814e9 - 1) < 0.01, `resnet18 ${r18.flops}`);
    assert.ok(Math.abs(r18.paramBytes / 4 / 11.69e6 - 1) < 0.01);
    const vgg = countVgg16();
    assert.ok(Math.abs(vgg.flops / 2 / 15.47e9 - 1) < 0.01, `vgg16 ${vgg.flops}`);
    assert.ok(Math.abs(vgg.paramBytes / 4 / 138.36e6 - 1) < 0.01);
    // BERT-base: 110 M parameters of which ≈ 23.8 M are embeddings (not counted, as in Pagoda) → ≈ 85.6 M.
    const bb = getWorkloadCost('bert-base');
    assert.ok(Math.abs(bb.paramBytes / 4 / 85.6e6 - 1) < 0.01, `bert-base ${bb.paramBytes}`);
    assert.ok(bb.flopsPerSample > 21e9 && bb.flopsPerSample < 23e9);
  });

  it('training costs 3× inference at the same batch size', () => {
    const c = getWorkloadCost('resnet50');
    assert.deepEqual(minibatchCost(c, 'train', 16), { flops: 3 * minibatchCost(c, 'infer', 16).flops, bytes: 3 * minibatchCost(c, 'infer', 16).bytes });
  });

  it('unmeasured workloads borrow from a measured one and say so', () => {
    for (const [w, b] of Object.entries(BORROWED)) {
      const k = workloadConstants(w);
      assert.match(k.provenance, new RegExp(`borrowed from ${b.from}`));
      assert.ok(b.operatorRatio > 0.2 && b.operatorRatio < 1, `${w} ratio ${b.operatorRatio}`);
    }
  });
});
