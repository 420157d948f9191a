// The profiler's request limits (issue 14): a Profile request's items are bounded before anything
// is measured; the unpublished-event outbox is bounded while NATS is away.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isValidationError } from '@fulcrum/core';
import { profilerConfigSchema } from './config.js';
import { MAX_PROFILE_ITEMS, validateProfileInput } from './profiler.js';

const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const protocol = profilerConfigSchema.parse({}).protocol;

describe('Profile request limits', () => {
  it(`refuses more than ${MAX_PROFILE_ITEMS} (workload, batch size) items, naming the list that went over`, () => {
    const sizes = Array.from({ length: 64 }, (_, i) => i + 1);
    const workloads = Array.from({ length: 20 }, () => ({ workload: 'mobilenet', kind: 'infer' as const, batchSizes: sizes }));
    assert.throws(
      () => validateProfileInput({ mode: MAXN, workloads }, protocol),
      (err: unknown) => isValidationError(err) && err.field === 'workloads[17].batchSizes' && /more than 1100/.test(err.message),
    );
    // A problem's largest request (1 + 32 × 32 items) passes.
    const ok = validateProfileInput({ mode: MAXN, workloads: [{ workload: 'resnet18', kind: 'train', batchSizes: [32] }, ...Array.from({ length: 32 }, () => ({ workload: 'mobilenet', kind: 'infer' as const, batchSizes: sizes.slice(0, 32) }))] }, protocol);
    assert.equal(ok.entries.length, 1 + 32 * 32);
  });
});
