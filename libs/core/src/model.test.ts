import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluate,
  powerDrawW,
  streamUtilization,
  totalUtilization,
  trainThroughputSamplesPerS,
  worstCaseLatencyS,
  compareEvaluations,
  assertOperatingPoint,
  type OperatingPoint,
} from './model.js';
import { ValidationError } from './errors.js';

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);

// One stream, worked by hand:
// bT=16, tT=0.2 s, pT=30 W; λ=20/s, L=0.5 s, b=4, tI=0.05 s, pI=25 W.
// ρ = 20·0.05/4 = 0.25; latency = 3/20 + 0.2 + 0.05 = 0.4 s; X = 0.75·16/0.2 = 60 samples/s;
// peak power = 30 W; average = 0.75·30 + 0.25·25 = 28.75 W.
const oneStream: OperatingPoint = {
  trainBatchSize: 16,
  training: { timeS: 0.2, powerW: 30 },
  streams: [{ name: 'cam', arrivalRatePerS: 20, latencyBudgetS: 0.5, batchSize: 4, inference: { timeS: 0.05, powerW: 25 } }],
};

// Two streams, worked by hand:
// bT=32, tT=0.4 s, pT=40 W.
// a: λ=10, L=1.0, b=2, tI=0.04, pI=35 → ρa = 0.2, latency = 1/10 + 0.4 + 0.04 + 0.08 = 0.62 s.
// b: λ=50, L=0.6, b=8, tI=0.08, pI=45 → ρb = 0.5, latency = 7/50 + 0.4 + 0.08 + 0.04 = 0.66 s (> 0.6).
// ρ = 0.7; X = 0.3·32/0.4 = 24; peak = 45 W; average = 0.3·40 + 0.2·35 + 0.5·45 = 41.5 W.
const twoStreams: OperatingPoint = {
  trainBatchSize: 32,
  training: { timeS: 0.4, powerW: 40 },
  streams: [
    { name: 'a', arrivalRatePerS: 10, latencyBudgetS: 1.0, batchSize: 2, inference: { timeS: 0.04, powerW: 35 } },
    { name: 'b', arrivalRatePerS: 50, latencyBudgetS: 0.6, batchSize: 8, inference: { timeS: 0.08, powerW: 45 } },
  ],
};

describe('SPEC §2 formulas, one stream', () => {
  it('utilisation ρ = λ·tI/b', () => close(streamUtilization(oneStream.streams[0]!), 0.25, 'ρ'));
  it('worst-case latency = (b−1)/λ + tT + tI', () => close(worstCaseLatencyS(oneStream, 0), 0.4, 'latency'));
  it('training throughput X = (1−ρ)·bT/tT', () => close(trainThroughputSamplesPerS(oneStream), 60, 'X'));
  it('peak power = max(pT, pI)', () => close(powerDrawW(oneStream, 'peak'), 30, 'peak'));
  it('average power = (1−ρ)·pT + ρ·pI', () => close(powerDrawW(oneStream, 'average'), 28.75, 'average'));

  it('the power semantics decide feasibility under a 29 W budget', () => {
    const peak = evaluate(oneStream, { powerBudgetW: 29, powerSemantics: 'peak' });
    assert.equal(peak.feasible, false);
    assert.equal(peak.binding.kind, 'power');
    close(peak.binding.relativeSlack, (29 - 30) / 29, 'power slack');
    const average = evaluate(oneStream, { powerBudgetW: 29, powerSemantics: 'average' });
    assert.equal(average.feasible, true);
    close(average.powerW, 28.75, 'average power');
  });

  it('a feasible plan names its tightest constraint', () => {
    // latency slack (0.5−0.4)/0.5 = 0.2, power slack (40−30)/40 = 0.25, stability slack 0.75.
    const e = evaluate(oneStream, { powerBudgetW: 40, powerSemantics: 'peak' });
    assert.equal(e.feasible, true);
    assert.equal(e.binding.kind, 'latency');
    assert.equal(e.binding.stream, 'cam');
    close(e.binding.relativeSlack, 0.2, 'latency slack');
  });

  it('a latency exactly at the budget is met', () => {
    const atBudget = { ...oneStream, streams: [{ ...oneStream.streams[0]!, latencyBudgetS: 0.4 }] };
    assert.equal(evaluate(atBudget, { powerBudgetW: 40, powerSemantics: 'peak' }).feasible, true);
    const under = { ...oneStream, streams: [{ ...oneStream.streams[0]!, latencyBudgetS: 0.399 }] };
    const e = evaluate(under, { powerBudgetW: 40, powerSemantics: 'peak' });
    assert.equal(e.feasible, false);
    assert.equal(e.binding.kind, 'latency');
  });

  it('ρ ≥ 1 is unstable: no training throughput, stability binds', () => {
    // λ=100, b=4, tI=0.05 → ρ = 1.25.
    const overloaded = { ...oneStream, streams: [{ ...oneStream.streams[0]!, arrivalRatePerS: 100 }] };
    const e = evaluate(overloaded, { powerBudgetW: 100, powerSemantics: 'peak' });
    close(e.utilization, 1.25, 'ρ');
    assert.equal(e.stable, false);
    assert.equal(e.trainThroughputSamplesPerS, 0);
    assert.equal(e.feasible, false);
    assert.equal(e.binding.kind, 'stability');
    // ρ = 1 exactly is unstable too (the queue never drains).
    const exactlyFull = { ...oneStream, streams: [{ ...oneStream.streams[0]!, arrivalRatePerS: 80 }] };
    const full = evaluate(exactlyFull, { powerBudgetW: 100, powerSemantics: 'peak' });
    close(full.utilization, 1, 'ρ');
    assert.equal(full.stable, false);
    assert.equal(full.binding.kind, 'stability');
  });

  it('average power of an overloaded GPU counts inference time only', () => {
    const overloaded = { ...oneStream, streams: [{ ...oneStream.streams[0]!, arrivalRatePerS: 100 }] };
    close(powerDrawW(overloaded, 'average'), 25, 'average at ρ > 1');
  });
});

describe('SPEC §2 formulas, K = 2 streams', () => {
  it('ρ is the sum of the streams’ shares', () => {
    close(streamUtilization(twoStreams.streams[0]!), 0.2, 'ρa');
    close(streamUtilization(twoStreams.streams[1]!), 0.5, 'ρb');
    close(totalUtilization(twoStreams), 0.7, 'ρ');
  });
  it('each stream waits for the training minibatch and every stream’s minibatch', () => {
    close(worstCaseLatencyS(twoStreams, 0), 0.62, 'latency a');
    close(worstCaseLatencyS(twoStreams, 1), 0.66, 'latency b');
  });
  it('X = (1−ρ)·bT/tT with the total ρ', () => close(trainThroughputSamplesPerS(twoStreams), 24, 'X'));
  it('peak and average power over all minibatch kinds', () => {
    close(powerDrawW(twoStreams, 'peak'), 45, 'peak');
    close(powerDrawW(twoStreams, 'average'), 41.5, 'average');
  });
  it('the stream that misses its budget is named as binding', () => {
    const e = evaluate(twoStreams, { powerBudgetW: 50, powerSemantics: 'peak' });
    assert.equal(e.feasible, false);
    assert.equal(e.binding.kind, 'latency');
    assert.equal(e.binding.stream, 'b');
    close(e.binding.relativeSlack, (0.6 - 0.66) / 0.6, 'slack');
    assert.deepEqual(
      e.checks.filter((c) => !c.satisfied).map((c) => `${c.kind}:${c.stream ?? ''}`),
      ['latency:b'],
    );
    assert.deepEqual(e.streams.map((s) => s.latencyBoundS.toFixed(2)), ['0.62', '0.66']);
  });
  it('with both latency and power violated, the larger violation binds', () => {
    // power: average 41.5 W against 40 W → −3.75 %; latency b: −10 %.
    const e = evaluate(twoStreams, { powerBudgetW: 40, powerSemantics: 'average' });
    assert.equal(e.binding.kind, 'latency');
    // against 30 W the power violation (−38 %) is the larger one.
    assert.equal(evaluate(twoStreams, { powerBudgetW: 30, powerSemantics: 'average' }).binding.kind, 'power');
  });
});

describe('comparing plans', () => {
  const budget = { powerBudgetW: 40, powerSemantics: 'peak' } as const;
  it('prefers feasible, then throughput, then lower power', () => {
    const feasible = evaluate(oneStream, budget);
    const faster = evaluate({ ...oneStream, training: { timeS: 0.1, powerW: 35 } }, budget);
    const infeasible = evaluate({ ...oneStream, training: { timeS: 0.1, powerW: 45 } }, budget);
    const sorted = [infeasible, feasible, faster].sort(compareEvaluations);
    assert.deepEqual(sorted, [faster, feasible, infeasible]);
    const samePowerLess = evaluate({ ...oneStream, training: { timeS: 0.2, powerW: 28 } }, budget);
    assert.ok(compareEvaluations(samePowerLess, feasible) < 0);
  });
  it('among infeasible plans the smaller violation is closer, and unstable is farthest', () => {
    const slightlyOver = evaluate({ ...oneStream, training: { timeS: 0.2, powerW: 41 } }, budget);
    const farOver = evaluate({ ...oneStream, training: { timeS: 0.2, powerW: 60 } }, budget);
    const unstable = evaluate({ ...oneStream, streams: [{ ...oneStream.streams[0]!, arrivalRatePerS: 100 }] }, budget);
    assert.deepEqual([unstable, farOver, slightlyOver].sort(compareEvaluations), [slightlyOver, farOver, unstable]);
  });
});

describe('operating point validation', () => {
  it('names the bad field', () => {
    const bad = { ...twoStreams, streams: [twoStreams.streams[0]!, { ...twoStreams.streams[1]!, arrivalRatePerS: 0 }] };
    assert.throws(() => assertOperatingPoint(bad), (e: unknown) => e instanceof ValidationError && e.field === 'streams[1].arrivalRatePerS');
    assert.throws(
      () => assertOperatingPoint({ ...oneStream, training: { timeS: -1, powerW: 3 } }),
      (e: unknown) => e instanceof ValidationError && e.field === 'training.timeS',
    );
    assert.throws(() => evaluate(oneStream, { powerBudgetW: -5, powerSemantics: 'peak' }), /powerBudgetW: must be a positive number, got -5/);
    assert.doesNotThrow(() => assertOperatingPoint(twoStreams));
  });
});
