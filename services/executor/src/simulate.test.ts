import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError, trainThroughputSamplesPerS, validateProblem, worstCaseLatencyS, type OperatingPoint } from '@fulcrum/core/internal';
import { constantRates, parseArrivalTimes, parseRateTrace, traceArrivals } from './arrivals.js';
import { FrontReplanner, planFromFront, type ProfiledMode } from './replan.js';
import { fixedTimes } from './runners/simulated.js';
import { SimulationLimitError, simulate } from './simulate.js';
import type { ExecutorEvent } from './types.js';

const tI = (b: number): number => 0.01 + 0.004 * b;

/** A plan at the edge: each stream's budget is exactly its SPEC §2 worst-case bound. */
function tightScenario(tT: number, rates: number[], b: number) {
  const streams = rates.map((r, k) => ({ name: `s${k}`, arrivalRatePerS: r, latencyBudgetS: 1, batchSize: b, inference: { timeS: tI(b), powerW: 1 } }));
  const point: OperatingPoint = { trainBatchSize: 16, training: { timeS: tT, powerW: 1 }, streams };
  const bounds = streams.map((_, i) => worstCaseLatencyS(point, i));
  return {
    point,
    bounds,
    problem: { trainBatchSize: 16, streams: streams.map((s, i) => ({ name: s.name, arrivalRatePerS: s.arrivalRatePerS, latencyBudgetS: bounds[i]! })) },
    plan: { planId: 'tight', batchSizes: Object.fromEntries(streams.map((s) => [s.name, b])) },
    times: fixedTimes({ trainTimeS: tT, inferTimeS: Object.fromEntries(streams.map((s) => [s.name, tI])) }),
    rates: Object.fromEntries(streams.map((s) => [s.name, s.arrivalRatePerS])),
  };
}

describe('simulate: agrees with SPEC §2 for evenly spaced arrivals', () => {
  const grid: Array<[number, number[], number]> = [];
  for (const tT of [0.1, 0.25]) for (const rate of [5, 20, 60]) for (const b of [1, 4, 16]) for (const K of [1, 2]) {
    const rates = Array.from({ length: K }, (_, k) => rate / (k + 1));
    if (rates.reduce((a, r) => a + (r * tI(b)) / b, 0) < 0.95) grid.push([tT, rates, b]);
  }
  for (const [tT, rates, b] of grid) {
    it(`tT=${tT}s rates=${rates.join('+')}/s b=${b}: max latency ≤ bound, X within 2%`, async () => {
      const s = tightScenario(tT, rates, b);
      const r = await simulate({ ...s, arrivals: traceArrivals(constantRates(s.rates), { process: 'even', durationS: 600 }), durationS: 600, warmupS: 5 });
      assert.ok(r.allAnswered);
      r.streams.forEach((st, i) => {
        assert.equal(st.completed, st.arrivals);
        assert.ok(st.latency.maxS <= s.bounds[i]! * (1 + 1e-9), `${st.stream}: max ${st.latency.maxS} > bound ${s.bounds[i]}`);
        assert.equal(st.late, 0);
      });
      const X = trainThroughputSamplesPerS(s.point);
      assert.ok(Math.abs(r.trainThroughputSamplesPerS - X) <= 0.02 * X, `X ${r.trainThroughputSamplesPerS} vs formula ${X}`);
    });
  }
});

describe('simulate: Poisson arrivals', () => {
  it('the deadline rule keeps p99 within the budget where the plan admits the load; without it the tail grows', async () => {
    const s = tightScenario(0.2, [20], 8);
    const arrivals = () => traceArrivals(constantRates(s.rates), { process: 'poisson', durationS: 3600, seed: 7 });
    const withRule = await simulate({ ...s, arrivals: arrivals(), durationS: 3600 });
    const without = await simulate({ ...s, arrivals: arrivals(), durationS: 3600, deadlineRule: false });
    const L = s.bounds[0]!;
    const a = withRule.streams[0]!;
    assert.ok(withRule.allAnswered);
    assert.ok(a.arrivals > 60_000);
    assert.ok(a.latency.p99S <= L, `p99 ${a.latency.p99S} > L ${L}`);
    assert.ok(a.partialMinibatches > 0);
    assert.ok(without.streams[0]!.latency.p99S > L, 'without the rule Poisson arrivals should break the bound');
  });
});

/** Two profiled modes; tI per batch size; a budget that admits both. */
function front(): ProfiledMode[] {
  const mode = (gpuMhz: number, tT: number, a: number, c: number, powerW: number): ProfiledMode => ({
    mode: { cores: 12, cpuMhz: 2201.6, gpuMhz, emcMhz: 3199 },
    training: { timeS: tT, powerW },
    inference: (_i, b) => ({ timeS: a + c * b, powerW: powerW - 2 }),
  });
  return [mode(1300.5, 0.15, 0.01, 0.003, 40), mode(624.75, 0.3, 0.02, 0.006, 22)];
}

describe('simulate: a dynamic-rate trace re-plans from a profiled front and keeps the budget', () => {
  it('20 → 60 → 8 requests/s (Poisson): new batch sizes with no profiling, p99 ≤ L in every phase', async () => {
    const problem = validateProblem({
      trainWorkload: 'resnet18',
      trainBatchSize: 16,
      powerBudgetW: 45,
      streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.6, candidateBatchSizes: [1, 2, 4, 8, 16, 32] }],
    });
    const profiled = front();
    const first = planFromFront(problem, profiled, 'als');
    assert.equal(first.plan.batchSizes['cam'], 8);
    const replanner = new FrontReplanner(problem, profiled, 'als');
    const events: ExecutorEvent[] = [];
    const times = {
      trainTimeS: (mode: { gpuMhz: number } | undefined) => profiled.find((m) => m.mode.gpuMhz === mode?.gpuMhz)!.training.timeS,
      inferTimeS: (_s: string, mode: { gpuMhz: number } | undefined, b: number) => profiled.find((m) => m.mode.gpuMhz === mode?.gpuMhz)!.inference(0, b)!.timeS,
    };
    const trace = parseRateTrace('time_s,stream,rate_per_s\n0,cam,20\n600,cam,60\n1200,cam,8\n');
    const r = await simulate({
      problem,
      plan: first.plan,
      times,
      arrivals: traceArrivals(trace, { process: 'poisson', durationS: 1800, seed: 3 }),
      durationS: 1800,
      replanner,
      rateWatch: { windowS: 10, replanThreshold: 0.25 },
      events: { publish: (e) => events.push(e) },
      timelineBucketS: 10,
    });
    assert.ok(r.allAnswered);
    const batchSizes = r.plans.map((p) => p.plan.batchSizes['cam']);
    assert.ok(batchSizes.includes(16), `plans ${batchSizes}`);
    // After the drop to 8/s a smaller batch (4, or 2 when planned on a window that still blends in the change).
    assert.ok(batchSizes[batchSizes.length - 1]! <= 4, `plans ${batchSizes}`);
    assert.ok(events.some((e) => e.type === 'replan.requested'));
    assert.ok(events.some((e) => e.type === 'arrivals.rate'));
    const cam = r.streams[0]!;
    assert.ok(cam.latency.p99S <= 0.6, `p99 ${cam.latency.p99S}`);
    // Per phase, from the timeline (10 s buckets): the worst bucket p99 stays within L.
    for (const [from, to] of [[0, 600], [600, 1200], [1200, 1800]] as const) {
      const phase = r.timeline.filter((p) => p.tS >= from && p.tS < to && !Number.isNaN(p.latencyP99S));
      assert.ok(phase.length > 0);
      const worstP99 = Math.max(...phase.map((p) => p.latencyP99S));
      assert.ok(worstP99 <= 0.6, `phase ${from}-${to}: worst bucket p99 ${worstP99}`);
    }
  });
});

describe('traces', () => {
  it('parses CSV and JSON rate traces and arrival-time traces', () => {
    assert.deepEqual(parseRateTrace('{"a": [[0, 5], [10, 0]]}'), { a: [{ startS: 0, ratePerS: 5 }, { startS: 10, ratePerS: 0 }] });
    assert.throws(() => parseRateTrace('t,s,r\n1,a,2'), /time_s,stream,rate_per_s/);
    assert.throws(() => parseRateTrace('time_s,stream,rate_per_s\n1,a,-2'), /rate_per_s/);
    // At most PROBLEM_LIMITS.maxArrivalRatePerS: at 1e308/s the arrival clock never advances.
    assert.throws(() => parseRateTrace('time_s,stream,rate_per_s\n0,a,1e308', '--trace'), (e: unknown) => e instanceof ValidationError && e.field === '--trace' && /line 2: rate_per_s must be at most 1000000 requests\/s .*, got 1e\+308/.test(e.message));
    assert.throws(() => parseRateTrace('{"a": [[0, 5], [10, 2e6]]}'), /stream a row 1: rate_per_s must be at most 1000000 requests\/s/);
    assert.deepEqual(parseRateTrace('{"a": [[0, 1e6]]}'), { a: [{ startS: 0, ratePerS: 1e6 }] });
    assert.deepEqual(parseArrivalTimes('time_s,stream\n0.5,a\n0.1,b\n'), [{ tS: 0.1, stream: 'b' }, { tS: 0.5, stream: 'a' }]);
  });

  it('replays a recorded arrival trace: every request answered', async () => {
    const s = tightScenario(0.1, [10], 2);
    const arrivals = parseArrivalTimes('time_s,stream\n' + Array.from({ length: 100 }, (_, i) => `${(i * 0.05).toFixed(2)},s0`).join('\n'));
    const r = await simulate({ ...s, arrivals, durationS: 10 });
    assert.equal(r.streams[0]!.completed, 100);
  });

  it('even arrivals at a rate trace follow the rate', () => {
    const got = [...traceArrivals({ a: [{ startS: 0, ratePerS: 2 }, { startS: 2, ratePerS: 0 }, { startS: 3, ratePerS: 4 }] }, { process: 'even', durationS: 4 })];
    assert.deepEqual(got.map((a) => a.tS), [0, 0.5, 1, 1.5, 3, 3.25, 3.5, 3.75]);
  });
});

describe('simulate: a bounded run', () => {
  it('refuses before running a duration that holds more training minibatches than its limit, and stops at the limit while running', async () => {
    const s = tightScenario(0.1, [5], 1);
    const arrivals = () => traceArrivals(constantRates(s.rates), { process: 'even', durationS: 600 });
    // 600 s of 0.1 s training minibatches: 6,000 of them, over a limit of 1,000, foreseen.
    await assert.rejects(simulate({ ...s, arrivals: arrivals(), durationS: 600, maxMinibatches: 1000 }), (e: unknown) => e instanceof SimulationLimitError && e.estimated === 6000 && /would run up to 6,000 training minibatches in 600 s, over the limit of 1,000/.test(e.message));
    // Without training nothing is foreseen; the 3,000 inference minibatches stop at the limit.
    await assert.rejects(
      simulate({ ...s, arrivals: arrivals(), durationS: 600, training: false, maxMinibatches: 1000 }),
      (e: unknown) => e instanceof SimulationLimitError && e.estimated === undefined && /^stopped after 1,000 minibatches at 2\d\d s of the 600 s simulated/.test(e.message),
    );
    // Under the limit it runs to the end.
    const r = await simulate({ ...s, arrivals: arrivals(), durationS: 60, maxMinibatches: 1000 });
    assert.ok(r.allAnswered);
  });

  it("an overloaded stream's queue stops at the Executor's default depth (1024) and the rest is shed, not queued without bound", async () => {
    // 2,000 requests/s against about 79 answered a second at b = 1.
    const s = tightScenario(0.1, [2000], 1);
    const r = await simulate({ ...s, arrivals: traceArrivals(constantRates(s.rates), { process: 'even', durationS: 5 }), durationS: 5 });
    const st = r.streams[0]!;
    assert.equal(st.maxQueueDepth, 1024);
    assert.ok((st.failed['shed'] ?? 0) > 8000, `shed ${st.failed['shed']}`);
    const deeper = await simulate({ ...s, arrivals: traceArrivals(constantRates(s.rates), { process: 'even', durationS: 5 }), durationS: 5, maxQueueDepth: 5000 });
    assert.equal(deeper.streams[0]!.maxQueueDepth, 5000);
    await assert.rejects(simulate({ ...s, arrivals: traceArrivals(constantRates(s.rates), { process: 'even', durationS: 5 }), durationS: 5, maxQueueDepth: 1e6 }), (e: unknown) => e instanceof ValidationError && /maxQueueDepth: must be at most 100000/.test(e.message));
  });
});
