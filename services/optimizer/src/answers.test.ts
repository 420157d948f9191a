// A problem solved before is answered with no profiling (issue 15, 2; issue 16, 3): GMD's
// re-measures move the stored figures of the modes they measure again, and GMD run again on those
// figures can take another path and profile a mode (or re-measure again). A second board of the
// model sending the same problem must get its plan with zero profiling.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { type ProfileRequest, type ProfileResult, type ProfilesQuery } from '@fulcrum/core';
import { createVirtualDevice } from '@fulcrum/devices';
import { CACHE_LIMITS, Optimizer, type SolveCompletedEvent } from './optimizer.js';
import type { ProfilerPort } from './ports.js';

const SAMPLES = 20;
const MAX_WINDOWS = 8;

/**
 * A profiler over the virtual Orin AGX with 2.5 % noise that keeps what it measured and, asked to
 * re-measure, takes a fresh window and stores the samples-weighted combination (as the profiler
 * service does). Counts every window it measures.
 */
function noisyStoreProfiler(): ProfilerPort & { windows: number } {
  const device = createVirtualDevice('orin-agx', { noise: 0.025, seed: 7 });
  const stored = new Map<string, ProfileResult>();
  const port = {
    windows: 0,
    async profile(input: ProfileRequest) {
      const items = input.workloads.flatMap((w) => w.batchSizes.map((b) => ({ w, b, id: `${w.workload}|${w.kind}|${b}|${JSON.stringify(input.mode)}` })));
      const all = items.every((i) => stored.has(i.id));
      const again = input.remeasure === true && all && items.every((i) => (stored.get(i.id)!.windows ?? 1) < MAX_WINDOWS);
      if (all && !again) return { results: items.map((i) => stored.get(i.id)!), cost: { modesProfiled: 0, modesReused: 1, profilingSeconds: 0 } };
      port.windows++;
      const fresh = items.map(({ w, b, id }) => {
        const before = stored.get(id);
        const windows = before?.windows ?? (before ? 1 : 0);
        const s = device.measure({ mode: input.mode, workload: w.workload, kind: w.kind, batchSize: b }, { repeat: windows, samples: SAMPLES });
        const window: ProfileResult = { device: 'orin-agx', softwareStack: 'test', workload: w.workload, kind: w.kind, batchSize: b, mode: input.mode, timeMs: s.timeMs, powerW: s.powerW, timeSeMs: s.timeSeMs, powerSeW: s.powerSeW, samples: SAMPLES, measuredAt: new Date().toISOString() };
        if (!before) stored.set(id, window);
        else {
          const n = windows + 1;
          const mean = (a: number, x: number) => (a * windows + x) / n;
          const se = (a: number | undefined, x: number | undefined) => Math.sqrt(((a ?? 0) ** 2 * windows ** 2 + (x ?? 0) ** 2) / n ** 2);
          stored.set(id, { ...before, timeMs: mean(before.timeMs, window.timeMs), powerW: mean(before.powerW, window.powerW), timeSeMs: se(before.timeSeMs, window.timeSeMs), powerSeW: se(before.powerSeW, window.powerSeW), samples: SAMPLES * n, windows: n });
        }
        return window;
      });
      return { results: fresh, cost: again ? { modesProfiled: 0, modesReused: 0, remeasures: 1, profilingSeconds: 1 } : { modesProfiled: 1, modesReused: 0, profilingSeconds: 1 } };
    },
    async getProfiles(query: ProfilesQuery) {
      return { results: [...stored.values()].filter((r) => !query.workload || r.workload === query.workload), nextPageToken: '' };
    },
  };
  return port;
}

async function solve(opt: Optimizer, powerBudgetW: number, name: string): Promise<SolveCompletedEvent> {
  return opt.solveToEnd({
    problem: { device: 'orin-agx', trainWorkload: 'resnet18', trainBatchSize: 32, powerBudgetW, powerSemantics: 'peak', streams: [{ name, workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.5, candidateBatchSizes: [1, 4, 16] }] },
    strategy: 'gmd',
  });
}

describe('a problem solved before', () => {
  it('is answered with no profiling and no re-measure, among the modes its first Solve looked at, on their current figures', async () => {
    const profiler = noisyStoreProfiler();
    const opt = new Optimizer({ profiler, apply: false, defaults: { strategy: 'gmd', device: 'orin-agx', seed: 1 }, noiseFraction: 0.025, logger: pino({ level: 'silent' }) });
    let remeasured = 0;
    // Budgets across the key's range, where some plans are close calls that GMD re-measures.
    for (let powerBudgetW = 14; powerBudgetW <= 46; powerBudgetW += 2) {
      const first = await solve(opt, powerBudgetW, 'cam');
      remeasured += first.cost.remeasures;
      const windows = profiler.windows;
      // The same problem from another board, its stream under another name.
      const again = await solve(opt, powerBudgetW, 'door');
      const at = `budget ${powerBudgetW} W`;
      assert.deepEqual([again.cost.modesProfiled, again.cost.remeasures, profiler.windows - windows], [0, 0, 0], `${at}: nothing profiled or re-measured`);
      assert.equal(again.cost.modesReused, first.cost.modesProfiled + first.cost.modesReused, `${at}: the modes the first Solve looked at, reported as reused`);
      assert.deepEqual([again.plan.mode, again.plan.feasible], [first.plan.mode, first.plan.feasible], `${at}: the plan holds`);
    }
    assert.ok(remeasured > 0, 'some first Solves re-measured (else this shows nothing)');
    await opt.close();
  });

  it('are kept for the last CACHE_LIMITS.answers problems, not for every problem ever solved', async () => {
    const opt = new Optimizer({ profiler: noisyStoreProfiler(), apply: false, defaults: { strategy: 'gmd', device: 'orin-agx', seed: 1 }, noiseFraction: 0.025, logger: pino({ level: 'silent' }) });
    for (let i = 0; i < CACHE_LIMITS.answers + 20; i++) await solve(opt, 30 + i / 100, 'cam');
    assert.equal(opt.cacheStats().answers, CACHE_LIMITS.answers);
    await opt.close();
  });
});

describe('a re-measure the board cannot take', () => {
  it('leaves the plan on the windows it has: the Solve completes, with no re-measure counted', async () => {
    const inner = noisyStoreProfiler();
    let refused = 0;
    // A profiler whose every re-measure fails as a window past the executor's limit would.
    const profiler: ProfilerPort = {
      async profile(input, options) {
        if (input.remeasure) {
          refused++;
          throw Object.assign(new Error('measurement ran past executor.maxMeasurementS'), { code: 4 });
        }
        return inner.profile(input, options);
      },
      getProfiles: (q) => inner.getProfiles(q),
    };
    const opt = new Optimizer({ profiler, apply: false, defaults: { strategy: 'gmd', device: 'orin-agx', seed: 1 }, noiseFraction: 0.025, logger: pino({ level: 'silent' }) });
    let plans = 0;
    for (let powerBudgetW = 14; powerBudgetW <= 46; powerBudgetW += 4) {
      const done = await solve(opt, powerBudgetW, 'cam');
      assert.equal(done.cost.remeasures, 0);
      assert.ok(done.plan.mode, `a plan at ${powerBudgetW} W`);
      plans++;
    }
    assert.ok(refused > 0, 'some Solve asked for a re-measure (else this shows nothing)');
    assert.equal(plans, 9);
    await opt.close();
  });
});
