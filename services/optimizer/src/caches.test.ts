// Issue 14 (1): the optimizer's memory stays flat over any number of distinct problems — its
// per-key profile caches and prepared fronts are LRU-bounded (CACHE_LIMITS) — and an evicted key
// comes back from the profiler's store without measuring anything again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { status } from '@grpc/grpc-js';
import { GrpcStatusError } from '@fulcrum/runtime';
import { type ProfileResult, type ProfileRequest, type ProfilesQuery } from '@fulcrum/core';
import { createVirtualDevice } from '@fulcrum/devices';
import { MeasurementTable } from '@fulcrum/strategies';
import { CACHE_LIMITS, Optimizer } from './optimizer.js';
import { measurementOf } from './strategies.js';
import type { ProfilerPort } from './ports.js';

/** A profiler over the noise-free virtual Orin AGX that keeps what it measured (like the real store). */
function storeProfiler(): ProfilerPort & { measured: number } {
  const device = createVirtualDevice('orin-agx', { noise: 0 });
  const stored = new Map<string, ProfileResult>();
  const port = {
    measured: 0,
    async profile(input: ProfileRequest) {
      let fresh = 0;
      const results = input.workloads.flatMap((w) =>
        w.batchSizes.map((b) => {
          const id = `${w.workload}|${w.kind}|${b}|${JSON.stringify(input.mode)}`;
          let r = stored.get(id);
          if (!r) {
            const s = device.groundTruth({ mode: input.mode, workload: w.workload, kind: w.kind, batchSize: b });
            r = { device: 'orin-agx', softwareStack: 'test', workload: w.workload, kind: w.kind, batchSize: b, mode: input.mode, timeMs: s.timeMs, powerW: s.powerW, measuredAt: new Date().toISOString(), samples: 5 };
            stored.set(id, r);
            fresh++;
          }
          return r;
        }),
      );
      port.measured += fresh;
      return { results, cost: { modesProfiled: fresh ? 1 : 0, modesReused: fresh ? 0 : 1, profilingSeconds: fresh } };
    },
    async getProfiles(query: ProfilesQuery) {
      return { results: [...stored.values()].filter((r) => !query.workload || r.workload === query.workload), nextPageToken: '' };
    },
  };
  return port;
}

async function solve(opt: Optimizer, batches: number[]): Promise<void> {
  const gen = opt.solve({
    problem: {
      device: 'orin-agx',
      trainWorkload: 'resnet18',
      trainBatchSize: 32,
      powerBudgetW: 40,
      powerSemantics: 'peak',
      streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.5, candidateBatchSizes: batches }],
    },
    strategy: 'gmd',
  });
  for (;;) if ((await gen.next()).done) return;
}

describe('Solve cancellation', () => {
  it('an aborted signal stops the Solve before its next profiling call, with CANCELLED, even while the caller keeps pulling', async () => {
    const profiler = storeProfiler();
    const opt = new Optimizer({ profiler, apply: false, defaults: { strategy: 'gmd', device: 'orin-agx', seed: 1 }, noiseFraction: 0, logger: pino({ level: 'silent' }) });
    const abort = new AbortController();
    const gen = opt.solve({
      problem: { device: 'orin-agx', trainWorkload: 'resnet18', trainBatchSize: 32, powerBudgetW: 40, powerSemantics: 'peak', streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.5, candidateBatchSizes: [1, 4] }] },
      strategy: 'als-50',
      signal: abort.signal,
    });
    assert.equal((await gen.next()).done, false, 'a first mode was profiled');
    abort.abort();
    const measured = profiler.measured;
    await assert.rejects(
      (async () => {
        for (;;) if ((await gen.next()).done) return;
      })(),
      (err: unknown) => err instanceof GrpcStatusError && err.code === status.CANCELLED,
    );
    assert.equal(profiler.measured, measured, 'nothing measured after the abort');
    await opt.close();
  });
});

describe('optimizer caches', () => {
  it('stay within CACHE_LIMITS over many distinct problems, and an evicted key is answered from the store without measuring', async () => {
    const profiler = storeProfiler();
    const opt = new Optimizer({ profiler, apply: false, defaults: { strategy: 'gmd', device: 'orin-agx', seed: 1 }, noiseFraction: 0, logger: pino({ level: 'silent' }) });
    const keys = CACHE_LIMITS.profileKeys + 8;
    // Each problem a distinct key: its own candidate batch sizes.
    for (let k = 0; k < keys; k++) await solve(opt, [1, 2 + k]);
    const stats = opt.cacheStats();
    assert.ok(stats.profileKeys <= CACHE_LIMITS.profileKeys, JSON.stringify(stats));
    assert.ok(stats.preparedFronts <= CACHE_LIMITS.preparedFronts, JSON.stringify(stats));
    assert.equal(stats.profileKeys, CACHE_LIMITS.profileKeys, 'full, not emptied');
    // The first key was evicted long ago: solving it again measures nothing new.
    const before = profiler.measured;
    await solve(opt, [1, 2]);
    assert.equal(profiler.measured, before, 'answered from the stored profiles');
    await opt.close();
  });
  it('keep the Profile answers (the results of ModeProfiled events) of a bounded number of keys, not of every key ever solved', async () => {
    // The soak (test/soak) found them in a map with an entry per (key, mode) for the process's life.
    const profiler = storeProfiler();
    const opt = new Optimizer({ profiler, apply: false, defaults: { strategy: 'gmd', device: 'orin-agx', seed: 1 }, noiseFraction: 0, logger: pino({ level: 'silent' }) });
    const bound = 2 * CACHE_LIMITS.profileKeys;
    for (let k = 0; k < bound + 16; k++) await solve(opt, [1, 2 + k]);
    const stats = opt.cacheStats();
    assert.equal(stats.recordedKeys, bound, JSON.stringify(stats));
    // A cached key still reports what the profiler answered for each of its modes.
    const events = [];
    const gen = opt.solve({
      problem: { device: 'orin-agx', trainWorkload: 'resnet18', trainBatchSize: 32, powerBudgetW: 40, powerSemantics: 'peak', streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.5, candidateBatchSizes: [1, 2 + bound + 15] }] },
      strategy: 'gmd',
    });
    for await (const ev of gen) events.push(ev);
    const modes = events.filter((e) => e.type === 'mode');
    assert.ok(modes.length > 0 && modes.every((e) => e.reused && e.results.length === 3), JSON.stringify(modes.map((e) => e.type === 'mode' && [e.reused, e.results.length])));
    await opt.close();
  });
});

describe('stored profiles as measurements', () => {
  it('keep their standard errors, samples and windows, so re-plans from the store hold z·SE margins', () => {
    const mode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
    const base = { device: 'orin-agx', softwareStack: 'test', mode, measuredAt: new Date().toISOString() };
    const results: ProfileResult[] = [
      { ...base, workload: 'resnet18', kind: 'train', batchSize: 32, timeMs: 200, powerW: 40, samples: 40, timeSeMs: 2, powerSeW: 0.2, windows: 2 },
      { ...base, workload: 'mobilenet', kind: 'infer', batchSize: 4, timeMs: 20, powerW: 30, samples: 40, timeSeMs: 0.4, powerSeW: 0.3, windows: 2 },
    ];
    const key = { device: 'orin-agx', trainWorkload: 'resnet18', trainBatchSize: 32, streams: [{ workload: 'mobilenet', candidateBatchSizes: [1, 4] }] };
    const m = measurementOf(key, results, 0);
    assert.deepEqual(m.training, { timeS: 0.2, powerW: 40, timeSeS: 0.002, powerSeW: 0.2, samples: 40 });
    assert.equal(m.inference[0]![0], undefined);
    assert.equal(m.inference[0]![1]!.timeSeS, 0.0004);
    assert.equal(m.windows, 2);
    const table = MeasurementTable.forKey(1, key);
    table.set(0, m);
    assert.equal(table.windows(0), 2);
    assert.equal(table.se!.timeRel[0], 0.02); // the larger of 1 % (training) and 2 % (inference)
    assert.equal(table.se!.powerRel[0], 0.01);
    // Equal windows where the store kept no Σwᵢ²; the store's where it did (the most cautious of the mode's results).
    assert.equal(table.se!.systematicShare[0], 0.5);
    const weighted = measurementOf(key, results.map((r, i) => ({ ...r, windowWeightsSquared: [0.68, 0.6][i] })), 0);
    assert.equal(weighted.windowWeightsSquared, 0.68);
    table.set(0, weighted);
    assert.equal(table.se!.systematicShare[0], 0.68);
    assert.equal(table.get(0)!.windowWeightsSquared, 0.68, 'and gives it back');
  });
});
