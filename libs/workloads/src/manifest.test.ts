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
