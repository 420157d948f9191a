import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_LIMITS, validateProblem, type ProblemInput } from './problem.js';
import { bestBatchSizes, describeBinding } from './plan.js';
import { ValidationError } from './errors.js';
import { BUILTIN_CATALOG, catalogWith } from './catalog.js';

const base: ProblemInput = {
  device: 'orin-agx',
  trainWorkload: 'resnet18',
  powerBudgetW: 30,
  streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 40, latencyBudgetS: 0.3 }],
};

const fails = (input: ProblemInput, field: string, message: RegExp): void => {
  assert.throws(
    () => validateProblem(input),
    (e: unknown) => e instanceof ValidationError && e.field === field && message.test(e.message),
    `expected a ValidationError on ${field}`,
  );
};

describe('validateProblem', () => {
  it('fills defaults: peak power, the workload’s training batch, batch sizes 1…64', () => {
    const p = validateProblem(base);
    assert.equal(p.powerSemantics, 'peak');
    assert.equal(p.trainBatchSize, 32);
    assert.deepEqual(p.streams[0]!.candidateBatchSizes, [1, 2, 4, 8, 16, 32, 64]);
  });
  it('sorts and de-duplicates candidate batch sizes', () => {
    const p = validateProblem({ ...base, streams: [{ ...base.streams![0]!, candidateBatchSizes: [8, 2, 8, 4] }] });
    assert.deepEqual(p.streams[0]!.candidateBatchSizes, [2, 4, 8]);
  });
  it('rejects an unknown device', () => fails({ ...base, device: 'tx2' }, 'device', /unknown device "tx2"; known devices: orin-agx/));
  it('rejects an unknown training workload', () => fails({ ...base, trainWorkload: 'gpt5' }, 'trainWorkload', /unknown workload "gpt5"; known workloads: bert-base, bert-large, lstm, mobilenet, resnet18/));
  it('rejects an unknown inference workload', () =>
    fails({ ...base, streams: [{ ...base.streams![0]!, workload: 'resnet-50' }] }, 'streams[0].workload', /unknown workload "resnet-50"/));
  it('rejects a non-positive power budget', () => {
    fails({ ...base, powerBudgetW: 0 }, 'powerBudgetW', /must be a positive number, got 0/);
    fails({ ...base, powerBudgetW: -5 }, 'powerBudgetW', /got -5/);
    fails({ ...base, powerBudgetW: undefined }, 'powerBudgetW', /got nothing/);
  });
  it('rejects a power budget over the documented limit (PROBLEM_LIMITS.maxPowerBudgetW, 10 kW), which would plan at MAXN', () => {
    fails({ ...base, powerBudgetW: 1e308 }, 'powerBudgetW', /must be at most 10000 W \(far above what any board draws\), got 1e\+308/);
    fails({ ...base, powerBudgetW: PROBLEM_LIMITS.maxPowerBudgetW + 0.5 }, 'powerBudgetW', /at most 10000 W/);
    assert.equal(validateProblem({ ...base, powerBudgetW: PROBLEM_LIMITS.maxPowerBudgetW }).powerBudgetW, 10_000);
  });
  it('rejects a non-positive arrival rate', () =>
    fails({ ...base, streams: [{ ...base.streams![0]!, arrivalRatePerS: -1 }] }, 'streams[0].arrivalRatePerS', /must be a positive number, got -1/));
  it('rejects a non-positive latency budget', () =>
    fails({ ...base, streams: [{ ...base.streams![0]!, latencyBudgetS: 0 }] }, 'streams[0].latencyBudgetS', /must be a positive number, got 0/));
  it('rejects an arrival rate and a latency budget over the documented limits (PROBLEM_LIMITS: 1e6 requests/s, 3600 s)', () => {
    const s = base.streams![0]!;
    fails({ ...base, streams: [{ ...s, arrivalRatePerS: 1e308 }] }, 'streams[0].arrivalRatePerS', /must be at most 1000000 requests\/s \(far above what any board serves\), got 1e\+308/);
    fails({ ...base, streams: [s, { ...s, name: 'b', arrivalRatePerS: PROBLEM_LIMITS.maxArrivalRatePerS * 1.001 }] }, 'streams[1].arrivalRatePerS', /at most 1000000 requests\/s/);
    fails({ ...base, streams: [{ ...s, latencyBudgetS: 1e308 }] }, 'streams[0].latencyBudgetS', /must be at most 3600 s \(an hour\), got 1e\+308/);
    fails({ ...base, streams: [{ ...s, latencyBudgetS: 3600.5 }] }, 'streams[0].latencyBudgetS', /at most 3600 s/);
    // The limits themselves are allowed.
    const edge = validateProblem({ ...base, streams: [{ ...s, arrivalRatePerS: 1_000_000, latencyBudgetS: 3600 }] }).streams[0]!;
    assert.deepEqual([edge.arrivalRatePerS, edge.latencyBudgetS], [1_000_000, 3600]);
  });
  it('rejects an empty batch list and a fractional batch size', () => {
    fails({ ...base, streams: [{ ...base.streams![0]!, candidateBatchSizes: [] }] }, 'streams[0].candidateBatchSizes', /must list at least one batch size/);
    fails({ ...base, streams: [{ ...base.streams![0]!, candidateBatchSizes: [4, 2.5] }] }, 'streams[0].candidateBatchSizes[1]', /must be a positive integer, got 2.5/);
  });
  it('rejects a bad training batch size and unknown power semantics', () => {
    fails({ ...base, trainBatchSize: 0 }, 'trainBatchSize', /positive integer/);
    fails({ ...base, powerSemantics: 'max' }, 'powerSemantics', /must be one of peak, average, got "max"/);
  });
  it('enforces the documented limits: streams per problem, candidate batch sizes, the largest minibatch (issue 14, 1 and 2)', () => {
    const s = base.streams![0]!;
    const many = Array.from({ length: PROBLEM_LIMITS.maxStreams + 1 }, (_, i) => ({ ...s, name: `s${i}` }));
    fails({ ...base, streams: many }, 'streams', /has 33 streams; at most 32 per problem/);
    assert.equal(validateProblem({ ...base, streams: many.slice(0, PROBLEM_LIMITS.maxStreams) }).streams.length, PROBLEM_LIMITS.maxStreams);
    fails({ ...base, trainBatchSize: 65_536 }, 'trainBatchSize', /must be at most 4096 \(the largest minibatch Fulcrum runs\), got 65536/);
    fails({ ...base, streams: [{ ...s, candidateBatchSizes: [1, 2 ** 31] }] }, 'streams[0].candidateBatchSizes[1]', /at most 4096/);
    fails({ ...base, streams: [{ ...s, candidateBatchSizes: Array.from({ length: 33 }, (_, i) => i + 1) }] }, 'streams[0].candidateBatchSizes', /lists 33 batch sizes; at most 32/);
    assert.equal(validateProblem({ ...base, trainBatchSize: 4096 }).trainBatchSize, 4096);
  });

  it("enforces a workload's own maximum batch size per kind (its manifest's max_batch_size), defaults included", () => {
    const catalog = catalogWith(BUILTIN_CATALOG, {
      workloads: [{ id: 'big-vit', displayName: 'big-vit', defaultTrainBatchSize: 8, maxTrainBatchSize: 16, maxInferBatchSize: 6 }],
    });
    const problem = { ...base, trainWorkload: 'big-vit', streams: [{ name: 'cam', workload: 'big-vit', arrivalRatePerS: 5, latencyBudgetS: 1 }] };
    const check = (input: ProblemInput, field: string, message: RegExp) =>
      assert.throws(() => validateProblem(input, catalog), (e: unknown) => e instanceof ValidationError && e.field === field && message.test(e.message), field);
    check({ ...problem, trainBatchSize: 32 }, 'trainBatchSize', /must be at most 16 for big-vit \(its train\.max_batch_size\), got 32/);
    check({ ...problem, streams: [{ ...problem.streams[0]!, candidateBatchSizes: [2, 8] }] }, 'streams[0].candidateBatchSizes[1]', /at most 6 for big-vit \(its infer\.max_batch_size\), got 8/);
    // The default candidates keep those the model takes.
    assert.deepEqual(validateProblem(problem, catalog).streams[0]!.candidateBatchSizes, [1, 2, 4]);
    assert.equal(validateProblem({ ...problem, trainBatchSize: 16 }, catalog).trainBatchSize, 16);
  });

  it("a stream that names no batch sizes gets its workload's own list (a folder's, a table's), cut at its maximum", () => {
    const catalog = catalogWith(BUILTIN_CATALOG, {
      workloads: [
        { id: 'own', displayName: 'own', defaultTrainBatchSize: 8, defaultInferBatchSizes: [12, 3, 48, 3] },
        { id: 'capped', displayName: 'capped', defaultTrainBatchSize: 8, maxInferBatchSize: 20, defaultInferBatchSizes: [4, 16, 32] },
      ],
    });
    const stream = (workload: string, candidateBatchSizes?: number[]) => ({ ...base, streams: [{ name: 'cam', workload, arrivalRatePerS: 5, latencyBudgetS: 1, ...(candidateBatchSizes ? { candidateBatchSizes } : {}) }] });
    assert.deepEqual(validateProblem(stream('own'), catalog).streams[0]!.candidateBatchSizes, [3, 12, 48]);
    assert.deepEqual(validateProblem(stream('capped'), catalog).streams[0]!.candidateBatchSizes, [4, 16]);
    // Given sizes win; a workload without a list keeps SPEC §2's default.
    assert.deepEqual(validateProblem(stream('own', [2]), catalog).streams[0]!.candidateBatchSizes, [2]);
    assert.deepEqual(validateProblem(stream('mobilenet'), catalog).streams[0]!.candidateBatchSizes, [1, 2, 4, 8, 16, 32, 64]);
  });

  it('rejects duplicate and subject-unsafe stream names', () => {
    const s = base.streams![0]!;
    fails({ ...base, streams: [s, { ...s }] }, 'streams[1].name', /duplicate stream name "cam"/);
    fails({ ...base, streams: [{ ...s, name: 'a.b' }] }, 'streams[0].name', /letters, digits/);
    // Issue 14 (4): the problem validator and the bus share one rule (TOKEN_RULE): what the bus
    // cannot carry as a subject token is refused here, not applied and then never published.
    for (const name of ['_cam', '-cam', '', 'x'.repeat(65), 'cam*', 'cam>']) {
      fails({ ...base, streams: [{ ...s, name }] }, 'streams[0].name', /a stream name must be 1–64 letters, digits, '-' or '_', starting with a letter or digit/);
    }
    for (const name of ['cam', 'Cam_2', '0-front', 'x'.repeat(64)]) assert.doesNotThrow(() => validateProblem({ ...base, streams: [{ ...s, name }] }), name);
  });
});

describe('bestBatchSizes', () => {
  // bT=10, tT=0.1 s, pT=20 W; λ=40/s; tI(b) = 0.01 + 0.005·b, pI(b) = 15 + b.
  // b=1: ρ=0.6,  latency 0.115 s   b=2: ρ=0.4, latency 1/40+0.12 = 0.145 s
  // b=4: ρ=0.3,  latency 3/40+0.13 = 0.205 s   b=8: ρ=0.25, latency 7/40+0.15 = 0.325 s
  const training = { timeS: 0.1, powerW: 20 };
  const inference = (_: number, b: number) => (b <= 8 ? { timeS: 0.01 + 0.005 * b, powerW: 15 + b } : undefined);
  const problem = (latencyBudgetS: number, powerBudgetW = 25) =>
    validateProblem({ ...base, trainBatchSize: 10, powerBudgetW, streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 40, latencyBudgetS, candidateBatchSizes: [1, 2, 4, 8, 16] }] });

  it('picks the largest batch that meets the latency budget (b=4, X=70)', () => {
    const best = bestBatchSizes(problem(0.3), training, inference)!;
    assert.deepEqual(best.batchSizes, [4]);
    assert.equal(best.evaluation.feasible, true);
    assert.ok(Math.abs(best.evaluation.trainThroughputSamplesPerS - 70) < 1e-9);
  });
  it('with a loose budget the biggest measured batch wins (b=8, X=75)', () => {
    const best = bestBatchSizes(problem(1), training, inference)!;
    assert.deepEqual(best.batchSizes, [8]);
    assert.ok(Math.abs(best.evaluation.trainThroughputSamplesPerS - 75) < 1e-9);
  });
  it('when nothing is feasible, returns the closest plan and names the binding constraint', () => {
    const best = bestBatchSizes(problem(0.1), training, inference)!;
    assert.equal(best.evaluation.feasible, false);
    assert.deepEqual(best.batchSizes, [1]);
    assert.equal(best.evaluation.binding.kind, 'latency');
    assert.equal(describeBinding(best.evaluation), 'worst-case latency of stream cam: 0.1150 s > 0.1000 s budget');
  });
  it('names power when the budget is below every minibatch’s power', () => {
    const best = bestBatchSizes(problem(1, 10), training, inference)!;
    assert.equal(best.evaluation.binding.kind, 'power');
    assert.equal(describeBinding(best.evaluation), 'peak power 20.00 W > 10.00 W budget');
  });
  it('searches every combination for two streams', () => {
    // Stream b is heavy: only small batches keep ρ < 1 together with a.
    const p = validateProblem({
      ...base,
      trainBatchSize: 10,
      powerBudgetW: 100,
      streams: [
        { name: 'a', workload: 'mobilenet', arrivalRatePerS: 40, latencyBudgetS: 1, candidateBatchSizes: [1, 2, 4, 8] },
        { name: 'b', workload: 'resnet50', arrivalRatePerS: 40, latencyBudgetS: 1, candidateBatchSizes: [1, 2, 4, 8] },
      ],
    });
    const best = bestBatchSizes(p, training, inference)!;
    // Both at b=8 gives ρ = 0.25 + 0.25 = 0.5, the least inference share; latencies 0.175+0.1+0.1 = 0.375 s.
    assert.deepEqual(best.batchSizes, [8, 8]);
    assert.ok(Math.abs(best.evaluation.trainThroughputSamplesPerS - 50) < 1e-9);
  });
  it('returns undefined when a stream has no measured batch size on the mode', () => {
    assert.equal(bestBatchSizes(problem(1), training, () => undefined), undefined);
  });
});
