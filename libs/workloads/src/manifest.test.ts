// The manifest's max_batch_size (issue 14: batch sizes against the workload's own maximum).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isValidationError } from '@fulcrum/core';
import { descriptorOf } from './registry.js';
import { parseManifest } from './manifest.js';

const refused = (field: string, reason: RegExp) => (err: unknown) => isValidationError(err) && err.field === field && reason.test(err.message);

describe('manifest max_batch_size', () => {
  it('reaches the descriptor problems are checked against', () => {
    const m = parseManifest('name: vit\ntrain:\n  batch_size: 8\n  max_batch_size: 16\ninfer:\n  batch_sizes: [1, 2]\n  max_batch_size: 4\n');
    assert.equal(m.train?.maxBatchSize, 16);
    assert.equal(m.infer?.maxBatchSize, 4);
    const d = descriptorOf({ manifest: m } as never);
    assert.equal(d.maxTrainBatchSize, 16);
    assert.equal(d.maxInferBatchSize, 4);
  });

  it('refuses a manifest whose own batch sizes are over its maximum, naming the key', () => {
    assert.throws(() => parseManifest('name: vit\ntrain:\n  batch_size: 32\n  max_batch_size: 16\n'), refused('fulcrum.yaml: train.batch_size', /32 is over train\.max_batch_size 16/));
    assert.throws(() => parseManifest('name: vit\ninfer:\n  batch_sizes: [1, 8, 2]\n  max_batch_size: 4\n'), refused('fulcrum.yaml: infer.batch_sizes[1]', /8 is over infer\.max_batch_size 4/));
    assert.throws(() => parseManifest('name: vit\ninfer:\n  max_batch_size: 0\n'), refused('fulcrum.yaml: infer.max_batch_size', /./));
  });
});

describe('manifest cost:', () => {
  const withCost = (cost: string) => `name: m\ntrain: {}\ncost: ${cost}\n`;

  it('names the key whose value is wrong, in either form (not "Invalid input", not "unknown key")', () => {
    for (const [cost, field, reason] of [
      ['{flops_per_sample: 100, bytes_per_sample: .nan}', 'cost.bytes_per_sample', /received NaN/],
      ['{flops_per_sample: 1e400, bytes_per_sample: 5}', 'cost.flops_per_sample', /received Infinity/],
      ['{flops_per_sample: -100, bytes_per_sample: 5}', 'cost.flops_per_sample', />0/],
      ['{flops_per_sample: 10, bytes_per_sample: 5, compute_class: transformer}', 'cost.compute_class', /conv/],
      ['{flops_per_sample: 10, bytes_per_sample: 5, operators: 0}', 'cost.operators', />0/],
      ['{flops_per_sample: 10}', 'cost.bytes_per_sample', /is required/],
      ['{infer: {flops_per_sample: -1, bytes_per_sample: 5}}', 'cost.infer.flops_per_sample', />0/],
      ['{flops_per_sample: 1, bytes_per_sample: 2, train: {flops_per_sample: 3, bytes_per_sample: 6}}', 'cost.train', /not both/],
      ['{operators: 3}', 'cost', /needs flops_per_sample and bytes_per_sample/],
      ['{flops: 3}', 'cost.flops', /unknown key/],
    ] as const) {
      assert.throws(() => parseManifest(withCost(cost)), refused(`fulcrum.yaml: ${field}`, reason), cost);
    }
  });

  it('reads both forms: shared (training 3× inference) and per kind', () => {
    const shared = parseManifest(withCost('{flops_per_sample: 10, bytes_per_sample: 5, operators: 3}')).cost!;
    assert.equal(shared.infer?.flopsPerSample, 10);
    assert.equal(shared.train?.flopsPerSample, 30);
    assert.equal(shared.operators, 3);
    const per = parseManifest(withCost('{infer: {flops_per_sample: 10, bytes_per_sample: 5}, compute_class: conv}')).cost!;
    assert.equal(per.infer?.bytesPerSample, 5);
    assert.equal(per.train, undefined);
    assert.equal(per.computeClass, 'conv');
  });
});
