import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Objective, ModeScore, NO_MARGINS, scoreMode, bestAmong } from './objective.js';
import { CandidateFront } from './front.js';
import { createRng } from './rng.js';
import { bruteForce, handMadeBackend, problem, truthOf } from './test-fixtures.js';

const backend = handMadeBackend();

function randomProblems(n: number, streams: number, semantics: 'peak' | 'average') {
  const rng = createRng(5);
  const workloads = ['mobilenet', 'resnet18', 'bert-base'];
  return Array.from({ length: n }, (_, i) =>
    problem({
      power: 8 + rng.next() * 25,
      powerSemantics: semantics,
      streams: Array.from({ length: streams }, (_, s) => ({
        name: `s${s}`,
        workload: workloads[(i + s) % 3]!,
        arrivalRatePerS: 1 + rng.next() * 60,
        latencyBudgetS: 0.1 + rng.next() * 2,
        ...(s === 1 ? { candidateBatchSizes: [1, 4, 16] } : {}),
      })),
    }),
  );
}

for (const [streams, semantics] of [
  [1, 'peak'],
  [1, 'average'],
  [2, 'peak'],
  [2, 'average'],
  // 7 × 3 × 7 batch combinations: the joint front instead of one front per combination.
  [3, 'peak'],
  [0, 'peak'],
] as const) {
  test(`fast scoring agrees with core's bestBatchSizes (${streams} stream(s), ${semantics} power)`, () => {
    for (const p of randomProblems(40, streams, semantics)) {
      const truth = truthOf(backend, p);
      const obj = new Objective(p);
      const score = new ModeScore(obj.streamCount);
      for (const m of backend.space.indices) {
        const ref = bruteForce(p, truth, [m]).choice;
        scoreMode(truth, m, obj, NO_MARGINS, score);
        assert.equal(score.feasible, ref.evaluation.feasible, `mode ${m}`);
        if (ref.evaluation.feasible) {
          assert.ok(Math.abs(score.throughput - ref.evaluation.trainThroughputSamplesPerS) < 1e-9);
          assert.deepEqual(score.batchIndex.map((bi, s) => p.streams[s]!.candidateBatchSizes[bi]), ref.batchSizes);
        }
      }
    }
  });

  test(`the Pareto fronts give the exhaustive optimum (${streams} stream(s), ${semantics} power)`, () => {
    for (const p of randomProblems(40, streams, semantics)) {
      const truth = truthOf(backend, p);
      const obj = new Objective(p);
      const front = new CandidateFront(truth, backend.space.indices);
      const fast = front.bestFor(obj, NO_MARGINS)!;
      const ref = bruteForce(p, truth, backend.space.indices);
      assert.equal(fast.feasible, ref.choice.evaluation.feasible);
      if (fast.feasible) assert.ok(Math.abs(fast.throughput - ref.choice.evaluation.trainThroughputSamplesPerS) < 1e-9);
      const scan = bestAmong(truth, backend.space.indices, obj, NO_MARGINS)!;
      assert.equal(scan.throughput, fast.throughput);
      // With safety margins the scans stop at other places in the fronts.
      const margins = { timeFraction: 0.05, powerFraction: 0.05 };
      const fastM = front.bestFor(obj, margins)!;
      const scanM = bestAmong(truth, backend.space.indices, obj, margins)!;
      assert.equal(fastM.feasible, scanM.feasible);
      assert.equal(fastM.throughput, scanM.throughput);
    }
  });
}

test('safety margins make a mode at the edge of the power budget infeasible', () => {
  const p = problem({ power: 100, rate: 5, latency: 5 });
  const truth = truthOf(backend, p);
  const top = backend.space.topIndex();
  const peak = Math.max(truth.trainPowerW[top]!, ...truth.inferPowerW[0]!.map((a) => a[top]!));
  const edge = problem({ power: peak * 1.01, rate: 5, latency: 5 });
  const obj = new Objective(edge);
  const s = new ModeScore(1);
  assert.equal(scoreMode(truth, top, obj, NO_MARGINS, s).feasible, true);
  assert.equal(scoreMode(truth, top, obj, { timeFraction: 0.05, powerFraction: 0.05 }, s).feasible, false);
});
