import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_CATALOG, ValidationError, getDevice, getPreset, workloadIds } from '@fulcrum/core';
import { countResNet } from './analytical.js';
import { createBackend } from './create.js';
import { CALIBRATED } from './calibrated.js';
import { CALIBRATED_OPERATORS, chooseBorrowing, checkUserWorkload, type VirtualWorkloadSpec } from './user-workloads.js';
import { VirtualDevice } from './virtual.js';
import { getWorkloadCost } from './workload-costs.js';

const MAXN = getPreset(getDevice('orin-agx'), 'MAXN').mode;

/** A user's workload with exactly the built-in ResNet-18's costs. */
function resnet18Like(extra: Partial<VirtualWorkloadSpec> = {}): VirtualWorkloadSpec {
  const c = getWorkloadCost('resnet18');
  return {
    id: 'my-resnet18',
    displayName: 'My ResNet-18',
    defaultTrainBatchSize: 32,
    cost: { infer: { flopsPerSample: c.flopsPerSample, activationBytesPerSample: c.activationBytesPerSample, paramBytes: c.paramBytes } },
    ...extra,
  };
}

describe('VirtualDevice with user workloads', () => {
  it('without any, is the built-in board exactly', () => {
    const plain = new VirtualDevice('orin-agx', { noise: 0 });
    assert.equal(plain.catalog, BUILTIN_CATALOG);
    assert.deepEqual(plain.workloads(), workloadIds());
    assert.equal(plain.isUserWorkload('resnet18'), false);
  });

  it('simulates a user workload from its costs, with constants borrowed like the built-in ResNet-18', () => {
    const ops = countResNet(18).operators;
    const board = new VirtualDevice('orin-agx', { noise: 0, workloads: [resnet18Like({ computeClass: 'conv', operators: ops })] });
    assert.deepEqual(board.workloads(), [...workloadIds(), 'my-resnet18']);
    assert.equal(board.catalog.workload('my-resnet18').defaultTrainBatchSize, 32);
    assert.equal(board.catalog.workload('my-resnet18').displayName, 'My ResNet-18');
    assert.equal(board.isUserWorkload('my-resnet18'), true);
    const k = board.workloadConstants('my-resnet18');
    assert.match(k.provenance, /^borrowed from resnet50, the closest calibrated workload of the same compute class \(conv\) by arithmetic intensity \(/);
    assert.match(k.provenance, /launch and fixed GPU times × 0\.402 \(49 operators over resnet50's 122\)/);
    // The same costs and the same borrowing as the built-in resnet18: the same times and powers.
    for (const [kind, b] of [['infer', 1], ['infer', 8], ['train', 32]] as const) {
      const mine = board.groundTruth({ workload: 'my-resnet18', kind, batchSize: b, mode: MAXN });
      const builtin = board.groundTruth({ workload: 'resnet18', kind, batchSize: b, mode: MAXN });
      assert.ok(Math.abs(mine.timeMs / builtin.timeMs - 1) < 1e-12, `${kind} ${b}: ${mine.timeMs} vs ${builtin.timeMs}`);
      assert.ok(Math.abs(mine.powerW / builtin.powerW - 1) < 1e-12);
    }
    // A whole grid works the same way (tables, noise).
    const t = board.groundTruthTable('my-resnet18', 'infer', 4, '441');
    assert.equal(t.timeMs.length, 441);
    assert.ok(t.timeMs.every((x) => x > 0));
    const noisy = new VirtualDevice('orin-agx', { workloads: [resnet18Like()] });
    assert.ok(noisy.measure({ workload: 'my-resnet18', kind: 'infer', batchSize: 4, mode: MAXN }).timeMs > 0);
  });

  it('without a compute class, picks the closest by arithmetic intensity among all calibrated workloads', () => {
    const u = checkUserWorkload(resnet18Like());
    const choice = chooseBorrowing(u);
    // ResNet-18 (37 / 68 FLOP/byte at batch 1 / 16) is nearest BERT-large (30 / 54) by intensity alone.
    assert.equal(choice.from, 'bert-large');
    assert.equal(choice.operatorRatio, 1);
    const board = new VirtualDevice('orin-agx', { noise: 0, workloads: [resnet18Like()] });
    const k = board.workloadConstants('my-resnet18');
    assert.match(k.provenance, /of any class \(compute class unknown\)/);
    assert.match(k.provenance, /launch and fixed GPU times as fitted \(no operator count\)/);
    assert.equal(k.efficiency, CALIBRATED.workloads['bert-large']!.efficiency);
    assert.equal(k.loadMsPerSample, 0.15, "data loading is the borrowed workload's unless given");
  });

  it('derives a missing kind with the training factor', () => {
    const board = new VirtualDevice('orin-agx', {
      noise: 0,
      workloads: [{ id: 'trainer', defaultTrainBatchSize: 8, cost: { train: { flopsPerSample: 3e9, activationBytesPerSample: 3e7, paramBytes: 3e6, flopsPerBatch: 3e3 } } }],
    });
    assert.deepEqual(board.minibatchCost('trainer', 'infer', 2), { flops: 1e3 + 2e9, bytes: 1e6 + 2e7 });
    assert.deepEqual(board.minibatchCost('trainer', 'train', 2), { flops: 3e3 + 6e9, bytes: 3e6 + 6e7 });
    assert.deepEqual(board.minibatchCost('resnet50', 'infer', 1), { flops: 8206316544, bytes: 102011648 + 234659744 });
  });

  it('keeps the built-in workloads as they are: an id the catalog has is skipped', () => {
    const plain = new VirtualDevice('orin-agx', { noise: 0 });
    const board = new VirtualDevice('orin-agx', { noise: 0, workloads: [resnet18Like({ id: 'resnet18', cost: { infer: { flopsPerSample: 1, activationBytesPerSample: 1 } } })] });
    assert.deepEqual(board.workloads(), workloadIds());
    assert.deepEqual(board.groundTruth({ workload: 'resnet18', kind: 'infer', batchSize: 4, mode: MAXN }), plain.groundTruth({ workload: 'resnet18', kind: 'infer', batchSize: 4, mode: MAXN }));
    assert.equal(board.workloadConstants('resnet18').provenance, plain.workloadConstants('resnet18').provenance);
  });

  it('refuses bad specs naming the field, and unknown workloads as before', () => {
    const bad = (w: unknown, re: RegExp): void => assert.throws(() => new VirtualDevice('orin-agx', { workloads: [w as VirtualWorkloadSpec] }), (e: unknown) => e instanceof ValidationError && re.test(e.message));
    bad(resnet18Like({ cost: { infer: { flopsPerSample: -1, activationBytesPerSample: 1 } } }), /^workloads\[0\]\.cost\.infer\.flopsPerSample: must be a positive number, got -1/);
    bad(resnet18Like({ cost: {} }), /^workloads\[0\]\.cost: needs train or infer/);
    bad(resnet18Like({ id: 'my detector' }), /^workloads\[0\]\.id: a workload name must be/);
    bad(resnet18Like({ defaultTrainBatchSize: 0 }), /^workloads\[0\]\.defaultTrainBatchSize: must be a positive integer/);
    bad(resnet18Like({ computeClass: 'lstm' as never }), /^workloads\[0\]\.computeClass: must be one of conv, matmul, recurrent/);
    assert.throws(() => new VirtualDevice('orin-agx', { workloads: [resnet18Like(), resnet18Like()] }), /workloads\[1\]\.id: names workload "my-resnet18" twice/);
    const board = new VirtualDevice('orin-agx', { workloads: [resnet18Like()] });
    assert.throws(() => board.groundTruth({ workload: 'nope', kind: 'infer', batchSize: 1, mode: MAXN }), /workload: unknown workload "nope"; known workloads: .*my-resnet18/);
  });

  it('createBackend passes the workloads to the virtual board', () => {
    const b = createBackend({ type: 'virtual', noise: 0, workloads: [resnet18Like()] });
    assert.ok(b.workloads().includes('my-resnet18'));
    assert.equal(b.catalog.workload('my-resnet18').defaultTrainBatchSize, 32);
  });

  it('knows the operator count and compute class of every calibrated workload', () => {
    for (const w of Object.keys(CALIBRATED.workloads)) assert.ok(CALIBRATED_OPERATORS[w]!.operators > 0, w);
    assert.equal(CALIBRATED_OPERATORS['resnet50']!.operators, countResNet(50).operators);
  });
});
