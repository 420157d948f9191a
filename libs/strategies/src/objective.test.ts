import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Objective, ModeScore, NO_MARGINS, better, scoreMode, bestAmong } from './objective.js';
import { MeasurementTable } from './table.js';
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

  test(`bestAmong skips only modes that cannot beat its plan: the first of the best, as scoring every mode (${streams} stream(s), ${semantics} power)`, () => {
    const rng = createRng(17);
    const margins = { timeFraction: 0.05, powerFraction: 0.05, z: 1.96, systematicFraction: 0.01 };
    let twinsChosen = 0;
    let coolerChosen = 0;
    let ref0Feasible = 0;
    for (const p of randomProblems(40, streams, semantics)) {
      const measured = noisyWithErrors(truthOf(backend, p), rng);
      const obj = new Objective(p);
      // A random order of the modes, with twins: a mode's figures copied to a later one, so ties
      // are decided by the order (the first of equals).
      const order = [...backend.space.indices].filter((m) => measured.has(m));
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const reference = (list: readonly number[]) => {
        let best: ModeScore | undefined;
        const s = new ModeScore(obj.streamCount);
        for (const m of list) {
          scoreMode(measured, m, obj, margins, s);
          if (s.measurable && (!best || better(s, best))) best = s.clone();
        }
        return best;
      };
      const ref = reference(order);
      const got = bestAmong(measured, order, obj, margins);
      assert.equal(got?.modeIndex, ref?.modeIndex);
      assert.equal(got?.feasible, ref?.feasible);
      assert.equal(got?.throughput, ref?.throughput);
      assert.deepEqual(got?.batchIndex, ref?.batchIndex);
      if (!ref) continue;
      if (ref.feasible) ref0Feasible++;
      // Copy the winner's figures to a mode placed before it: the copy now wins the tie.
      const twin = order.find((m) => m !== ref.modeIndex)!;
      const w = measured.get(ref.modeIndex)!;
      measured.set(twin, { ...w, ...(measured.windows(ref.modeIndex) > 0 ? { windows: measured.windows(ref.modeIndex) } : {}) });
      const twinRef = reference(order);
      const twinGot = bestAmong(measured, order, obj, margins);
      assert.equal(twinGot?.modeIndex, twinRef?.modeIndex);
      assert.deepEqual(twinGot?.batchIndex, twinRef?.batchIndex);
      if (twinRef?.modeIndex === twin) twinsChosen++;
      // A mode after both with the same times and 1 % less power: as fast, less power, it wins.
      const cooler = order.findLast((m) => m !== ref.modeIndex && m !== twin)!;
      const cool = (v: { timeS: number; powerW: number }) => ({ ...v, powerW: v.powerW * 0.99 });
      measured.set(cooler, { ...w, training: cool(w.training), inference: w.inference.map((row) => row.map((e) => (e ? cool(e) : e))), ...(measured.windows(ref.modeIndex) > 0 ? { windows: measured.windows(ref.modeIndex) } : {}) });
      const coolRef = reference(order);
      assert.equal(bestAmong(measured, order, obj, margins)?.modeIndex, coolRef?.modeIndex);
      if (coolRef?.modeIndex === cooler) coolerChosen++;
    }
    assert.ok(twinsChosen > 0, 'no tie was decided by the order');
    if (ref0Feasible > 0) assert.ok(coolerChosen > 0, 'no mode won on power alone');
  });

  test(`the Pareto fronts stay exact when each mode is held to its own margins, z·SE (${streams} stream(s), ${semantics} power)`, () => {
    const rng = createRng(11);
    const margins = { timeFraction: 0.05, powerFraction: 0.05, z: 1.96, systematicFraction: 0.01 };
    let differsFromFixed = 0;
    for (const p of randomProblems(40, streams, semantics)) {
      const measured = noisyWithErrors(truthOf(backend, p), rng);
      const obj = new Objective(p);
      const front = new CandidateFront(measured, backend.space.indices);
      const fast = front.bestFor(obj, margins);
      const scan = bestAmong(measured, backend.space.indices, obj, margins);
      assert.equal(fast?.feasible, scan?.feasible);
      assert.equal(fast?.throughput, scan?.throughput);
      if (fast && !fast.feasible) assert.equal(fast.violation, scan!.violation);
      assert.equal(front.bestFor(obj, margins, true)?.throughput, scan?.feasible ? scan.throughput : undefined);
      // The per-mode margins matter: the fixed fractions choose otherwise on some problems.
      const fixed = bestAmong(measured, backend.space.indices, obj, { timeFraction: 0.05, powerFraction: 0.05 });
      if (fixed?.modeIndex !== scan?.modeIndex || fixed?.throughput !== scan?.throughput) differsFromFixed++;
    }
    if (streams > 0) assert.ok(differsFromFixed > 0);
  });
}

/**
 * `truth` measured once more: every value moved by up to ±3 %, with relative standard errors of
 * 0.1–4 % and 1–3 windows per mode; one mode in ten carries no standard errors (fixed margins).
 */
function noisyWithErrors(truth: MeasurementTable, rng: ReturnType<typeof createRng>): MeasurementTable {
  const out = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
  const jitter = (v: number): number => v * (1 + 0.06 * (rng.next() - 0.5));
  for (let m = 0; m < truth.size; m++) {
    const exact = truth.get(m);
    if (!exact) continue;
    const bare = rng.next() < 0.1;
    const rel = (): number => 0.001 + 0.04 * rng.next();
    const entry = (e: { timeS: number; powerW: number }) => {
      const timeS = jitter(e.timeS);
      const powerW = jitter(e.powerW);
      return bare ? { timeS, powerW } : { timeS, powerW, timeSeS: timeS * rel(), powerSeW: powerW * rel() };
    };
    out.set(m, {
      training: { ...entry(exact.training), samples: 20 },
      inference: exact.inference.map((row) => row.map((e) => (e ? entry(e) : e))),
      costS: exact.costS,
      ...(bare ? {} : { windows: 1 + rng.int(3) }),
    });
  }
  return out;
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

test('a mode dominated on its figures but surer than the one dominating it is still found (one and two streams)', () => {
  for (const streams of [1, 2]) {
    const row = (timeS: number, rel: number) => ({ timeS, powerW: 20, timeSeS: timeS * rel, powerSeW: 20 * rel });
    const mode = (timeS: number, rel: number) => ({
      training: { ...row(timeS, rel), samples: 20 },
      inference: Array.from({ length: streams }, () => [row(timeS / 2, rel)]),
      costS: 30,
    });
    const t = new MeasurementTable(2, Array.from({ length: streams }, () => 1));
    t.set(0, mode(0.1, 0.03)); // faster, unsure: a 5.9 % margin
    t.set(1, mode(0.101, 0.002)); // 1 % slower, sure: a 0.4 % margin
    const p = problem({ power: 30, rate: 0.5, latency: (0.1 + 0.05 * streams) * 1.03 });
    const obj = new Objective({ ...p, streams: Array.from({ length: streams }, (_, s) => ({ ...p.streams[0]!, name: `s${s}`, candidateBatchSizes: [1] })) });
    const margins = { timeFraction: 0.05, powerFraction: 0.05, z: 1.96, systematicFraction: 0 };
    const best = new CandidateFront(t, Int32Array.from([0, 1])).bestFor(obj, margins);
    assert.equal(best?.modeIndex, 1, `${streams} stream(s)`);
    assert.equal(best?.feasible, true);
  }
});

test('with nothing feasible, the fronts give the exhaustive scan\'s closest plan (two and three streams, tight budgets)', () => {
  const rng = createRng(3);
  const margins = { timeFraction: 0.05, powerFraction: 0.05 };
  let infeasible = 0;
  for (let i = 0; i < 120; i++) {
    const K = 2 + (i % 2);
    const p = problem({
      power: 5 + rng.next() * 30,
      streams: Array.from({ length: K }, (_, s) => ({ name: `s${s}`, workload: ['mobilenet', 'resnet18', 'bert-base'][(i + s) % 3]!, arrivalRatePerS: 1 + rng.next() * 60, latencyBudgetS: 0.02 + rng.next() * 0.5 })),
    });
    const truth = truthOf(backend, p);
    const obj = new Objective(p);
    const fast = new CandidateFront(truth, backend.space.indices).bestFor(obj, margins)!;
    const scan = bestAmong(truth, backend.space.indices, obj, margins)!;
    assert.equal(fast.feasible, scan.feasible);
    if (scan.feasible) continue;
    infeasible++;
    assert.equal(fast.violation, scan.violation);
    assert.equal(fast.throughput, scan.throughput);
  }
  assert.ok(infeasible > 40, `${infeasible} infeasible problems`);
});
