// The profiler's request limits (issue 14): a Profile request's items are bounded before anything
// is measured; the unpublished-event outbox is bounded while NATS is away.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { isValidationError } from '@fulcrum/core';
import { connectNatsBus } from '@fulcrum/bus';
import { startNatsServer } from '@fulcrum/bus/testing';
import { profilerConfigSchema } from './config.js';
import { startProfilerService } from './service.js';
import { startBoardServices } from './testing/index.js';
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

describe('unpublished profile events while NATS is away', () => {
  it('keeps at most maxUnpublishedEvents, dropping the oldest; every result stays in the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-outbox-'));
    const nats = await startNatsServer();
    const bus = await connectNatsBus({ url: nats.url, reconnectTimeWaitMs: 200 });
    const board = await startBoardServices({ timeScale: 50 });
    const svc = await startProfilerService(
      {
        grpc: { port: 0 },
        metrics: { port: -1 },
        store: { path: join(dir, 'profiles.db') },
        controller: { address: board.controllerAddress },
        executor: { address: board.executorAddress },
        protocol: { settleS: 0, warmupMinibatches: 0, measuredMinibatches: 2, telemetryIntervalMs: 2, minPowerSamples: 1, measureAttempts: 2 },
        maxUnpublishedEvents: 2,
      },
      { logger: pino({ level: 'silent' }), bus },
    );
    try {
      await nats.stop(); // NATS goes away: every publish fails
      const out = await svc.profiler.profile({ mode: MAXN, workloads: [{ workload: 'mobilenet', kind: 'infer', batchSizes: [1, 2, 4, 8, 16] }] });
      assert.equal(out.results.length, 5);
      assert.equal(svc.profiler.unpublished, 2, 'the two newest events wait for the bus');
      assert.equal(svc.profiler.droppedEvents, 3);
      const stored = await svc.profiler.getProfiles({ workload: 'mobilenet' });
      assert.equal(stored.results.length, 5, 'every result is in the store');
    } finally {
      await svc.close(100);
      await board.close();
      await bus.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
