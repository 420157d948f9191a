import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Planner } from './strategy.js';
import { getStrategy, listStrategies, strategyNames } from './registry.js';
import { MeasurementTable, tableKeyOf } from './table.js';
import { DEFAULT_ALS_OPTIONS, ProfiledFront } from './als.js';
import { ModeScore, NO_MARGINS, Objective, bestAmong, scoreMode } from './objective.js';
import { tableColumns } from './roofline.js';
import { MEDIUM_GRID, SMALL_GRID, bruteForce, handMadeBackend, problem, truthOf } from './test-fixtures.js';

/** Problems on the hand-made model with a comfortable feasible set (oracle optimum known by brute force). */
const comfortable = [
  problem({ power: 14, rate: 10, latency: 1 }),
  problem({ power: 18, rate: 30, latency: 0.6, infer: 'resnet18' }),
  problem({ power: 25, rate: 5, latency: 2 }),
  problem({ power: 12, rate: 2, latency: 3, infer: 'bert-base' }),
];

test('the registry lists every SPEC §5 strategy and rejects unknown names with the field', () => {
  for (const name of ['gmd', 'als-50', 'als-100', 'als-150', 'oracle', 'maxn', 'best-preset', 'random-15', 'random-50', 'random-150', 'powertrain-50', 'bo-15']) {
    assert.ok(strategyNames().includes(name), name);
  }
  assert.equal(getStrategy('als').name, 'als-100');
  assert.throws(() => getStrategy('nope', '--strategy'), (e: Error & { field?: string }) => e.field === '--strategy' && /known strategies/.test(e.message));
});

test('oracle finds the brute-force optimum on a small grid', () => {
  const backend = handMadeBackend();
  const planner = new Planner(backend);
  for (const p of comfortable) {
    const ref = bruteForce(p, truthOf(backend, p), backend.space.indices);
    const plan = planner.solveSync(getStrategy('oracle'), p);
    assert.equal(plan.feasible, true);
    assert.ok(Math.abs(plan.predicted.trainThroughputSamplesPerS - ref.choice.evaluation.trainThroughputSamplesPerS) < 1e-9);
    assert.equal(plan.cost.modesProfiled, 0);
  }
});

test('with exact measurements, random-k with k ≥ the grid and ALS with a budget ≥ the grid find the optimum', () => {
  const backend = handMadeBackend(); // 162 modes
  const planner = new Planner(backend);
  for (const p of comfortable) {
    const best = bruteForce(p, truthOf(backend, p), backend.space.indices).choice.evaluation.trainThroughputSamplesPerS;
    for (const name of ['random-150', 'als-150']) {
      const plan = planner.solveSync(getStrategy(name), p);
      assert.equal(plan.feasible, true, name);
      assert.ok(plan.predicted.trainThroughputSamplesPerS >= 0.97 * best, `${name}: ${plan.predicted.trainThroughputSamplesPerS} vs ${best}`);
    }
  }
});

test('MAXN and the presets: a generous budget is met at MAXN, the optimum', () => {
  const backend = handMadeBackend();
  const planner = new Planner(backend);
  const p = problem({ power: 500, rate: 5, latency: 2 });
  const ref = bruteForce(p, truthOf(backend, p), backend.space.indices);
  for (const name of ['maxn', 'best-preset', 'gmd']) {
    const plan = planner.solveSync(getStrategy(name), p);
    assert.deepEqual(plan.mode, { cores: 8, cpuMhz: 2000, gpuMhz: 1300, emcMhz: 3199 }, name);
    assert.ok(Math.abs(plan.predicted.trainThroughputSamplesPerS - ref.choice.evaluation.trainThroughputSamplesPerS) < 1e-9);
  }
  // GMD checks one GPU step below a feasible MAXN (a board that throttles MAXN, or a batch size
  // whose power only fits below it, is better there) and stops: here MAXN is the fastest mode.
  assert.equal(planner.solveSync(getStrategy('gmd'), p).cost.modesProfiled, 2);
});

test('GMD, ALS, BO and random-k: near the optimum on a 3,120-mode grid with exact measurements, within their budgets', () => {
  const backend = handMadeBackend({ grid: MEDIUM_GRID });
  const planner = new Planner(backend);
  // ALS-N: N modes, and at most polishModes more where a profiled mode meets the problem (these all
  // are met); on exact measurements, the exact search's.
  const polish = DEFAULT_ALS_OPTIONS.exact?.polishModes ?? DEFAULT_ALS_OPTIONS.polishModes;
  const limits: Record<string, [number, number]> = { gmd: [12, 0.75], 'als-50': [50 + polish, 0.85], 'als-150': [150 + polish, 0.93], 'bo-15': [15, 0.6], 'random-150': [150, 0.8] };
  for (const [name, [maxModes, minRatio]] of Object.entries(limits)) {
    let sum = 0;
    for (const p of comfortable) {
      const best = bruteForce(p, truthOf(backend, p), backend.space.indices).choice.evaluation.trainThroughputSamplesPerS;
      const plan = planner.solveSync(getStrategy(name), p);
      assert.ok(plan.cost.modesProfiled <= maxModes, `${name} profiled ${plan.cost.modesProfiled}`);
      assert.equal(plan.feasible, true, `${name} infeasible on ${JSON.stringify(p)}`);
      sum += plan.predicted.trainThroughputSamplesPerS / best;
    }
    assert.ok(sum / comfortable.length >= minRatio, `${name}: mean X/X* ${sum / comfortable.length}`);
  }
});

test('an infeasible problem gets a plan naming the binding constraint and the closest mode, not an exception', () => {
  const backend = handMadeBackend();
  const planner = new Planner(backend);
  const tooLittlePower = problem({ power: 2, rate: 5, latency: 2 });
  const tooTight = problem({ power: 500, rate: 5, latency: 0.001 });
  for (const s of listStrategies()) {
    const plan = planner.solveSync(s, tooLittlePower);
    assert.equal(plan.feasible, false, s.name);
    assert.equal(plan.predicted.binding.kind, 'power', s.name);
    assert.match(plan.verdict, /^infeasible: binding constraint is peak power/);
    const slow = planner.solveSync(s, tooTight);
    assert.equal(slow.feasible, false);
    assert.equal(slow.predicted.binding.kind, 'latency', s.name);
    assert.match(slow.verdict, /worst-case latency of stream cam/);
  }
  // The closest plan for a power budget no mode meets is the lowest-power mode (the oracle sees the truth).
  const oracle = planner.solveSync(getStrategy('oracle'), tooLittlePower);
  const truth = truthOf(backend, tooLittlePower);
  const minPower = Math.min(...Array.from(backend.space.indices, (m) => Math.max(truth.trainPowerW[m]!, truth.inferPowerW[0]![0]![m]!)));
  assert.ok(Math.abs(oracle.predicted.powerW - minPower) < 1e-9);
});

test('the profile cache never measures a mode twice for the same key, across strategies and problems', () => {
  const backend = handMadeBackend({ grid: MEDIUM_GRID, noiseFraction: 0.02 });
  const planner = new Planner(backend);
  const seen = new Set<number>();
  for (const p of comfortable.slice(0, 2)) {
    for (const s of listStrategies()) {
      const plan = planner.solveSync(s, p);
      for (const m of plan.profiledModes) seen.add(m);
    }
  }
  // Two keys (mobilenet and resnet18 streams); each distinct mode measured once per key.
  const perKey = comfortable.slice(0, 2).map((p) => planner.store.cache(tableKeyOf(p)).measurements);
  assert.equal(backend.measureCalls, perKey[0]! + perKey[1]!);
  for (const p of comfortable.slice(0, 2)) {
    const t = planner.store.cache(tableKeyOf(p)).table;
    let filled = 0;
    for (const m of backend.space.indices) if (t.has(m)) filled++;
    assert.ok(filled <= planner.store.cache(tableKeyOf(p)).measurements);
  }
});

test('ALS answers a new power budget, latency budget or rate from its profiled front: a Solve polishes with at most 2 more modes, a re-plan profiles none', async () => {
  const backend = handMadeBackend({ grid: MEDIUM_GRID, noiseFraction: 0.02 });
  const planner = new Planner(backend);
  const als = getStrategy('als-50');
  const first = await planner.solve(als, problem({ power: 15, rate: 10, latency: 1 }));
  const front = first.profiledModes.slice(0, 50);
  assert.ok(first.cost.modesProfiled >= 50 && first.cost.modesProfiled <= 50 + DEFAULT_ALS_OPTIONS.polishModes, `${first.cost.modesProfiled}`);
  const calls = backend.measureCalls;
  for (const p of [problem({ power: 22, rate: 10, latency: 1 }), problem({ power: 15, rate: 40, latency: 1 }), problem({ power: 15, rate: 10, latency: 0.4 })]) {
    const before = backend.measureCalls;
    const plan = await planner.solve(als, p);
    assert.equal(plan.feasible, true);
    const polished = plan.profiledModes.filter((m) => !front.includes(m));
    assert.ok(polished.length <= DEFAULT_ALS_OPTIONS.polishModes && backend.measureCalls - before <= polished.length, `polished ${polished.length}`);
    assert.ok(plan.profiledModes.includes(plan.modeIndex), 'chosen among profiled modes');
    assert.equal(plan.cost.modesProfiled, 50 + polished.length, 'each answer is charged the front it stands on and its polish');
    // A re-plan (the optimizer's Replan: the front without search options) profiles nothing.
    const table = planner.store.cache(tableKeyOf(p)).table;
    const step = new ProfiledFront(table, front, NO_MARGINS).answer(new Objective(p)).next();
    assert.equal(step.done, true, 'no profiling asked');
    assert.ok(front.includes(step.value!.modeIndex));
  }
  assert.ok(backend.measureCalls - calls <= 3 * DEFAULT_ALS_OPTIONS.polishModes);
  // ALS-50 is the prefix of ALS-150: growing the budget profiles only the difference (and its polish;
  // a mode an earlier polish measured is not measured again).
  const beforeBigger = backend.measureCalls;
  const bigger = planner.solveSync(getStrategy('als-150'), problem({ power: 15, rate: 10, latency: 1 }));
  const grown = backend.measureCalls - beforeBigger;
  assert.ok(grown >= 100 - 4 * DEFAULT_ALS_OPTIONS.polishModes && grown <= 100 + DEFAULT_ALS_OPTIONS.polishModes, `${grown} measured`);
  assert.deepEqual(bigger.profiledModes.slice(0, 50), front);
  // The sequence does not depend on the budgets run before: ALS-150 alone profiles the same modes
  // (50 is not a whole number of rounds, 8 + 10k, so ALS-50 stops inside one).
  const alone = new Planner(handMadeBackend({ grid: MEDIUM_GRID, noiseFraction: 0.02 })).solveSync(getStrategy('als-150'), problem({ power: 15, rate: 10, latency: 1 }));
  assert.deepEqual(alone.profiledModes.slice(0, 150), bigger.profiledModes.slice(0, 150));
});

/** A key of the 3,120-mode grid with every mode measured exactly: the table is the truth, and a yielded mode needs no measuring. */
function exactKey(p: ReturnType<typeof problem>) {
  const backend = handMadeBackend({ grid: MEDIUM_GRID });
  const planner = new Planner(backend);
  const key = tableKeyOf(p);
  const ctx = planner.context(getStrategy('als-50'), key);
  planner.store.cache(key).ensureSync(Array.from(backend.space.indices));
  return { ctx, truth: ctx.measured, obj: new Objective(p), all: Array.from(backend.space.indices) };
}

/** Drives an answer to its end: the modes it asked for, and its plan. */
function answered(front: ProfiledFront, obj: Objective): { asked: number[]; plan: ModeScore | undefined } {
  const gen = front.answer(obj);
  const asked: number[] = [];
  let step = gen.next();
  while (!step.done) {
    asked.push(...(step.value as number[]));
    step = gen.next();
  }
  return { asked, plan: step.value };
}

test('ALS polishes a feasible answer: at most polishModes more, each predicted ≥ polishGain better; a better measured mode becomes the plan', () => {
  const { ctx, truth, obj, all } = exactKey(problem({ power: 12, rate: 10, latency: 1 }));
  const set = all.filter((_, i) => i % 37 === 0);
  const optimum = bestAmong(truth, all, obj, NO_MARGINS)!;
  const fromSet = bestAmong(truth, set, obj, NO_MARGINS)!;
  assert.ok(fromSet.feasible && fromSet.throughput < optimum.throughput * 0.98, `set ${fromSet.throughput} vs optimum ${optimum.throughput}`);
  // The model exact up to a scale (the rescaling through the plan's measurements takes that out).
  const predicted = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
  tableColumns(predicted).forEach((col, c) => col.set(tableColumns(truth)[c]!.map((v) => v * 1.1)));
  const run = (polishModes: number, polishGain = 0.02) =>
    answered(new ProfiledFront(truth, set, NO_MARGINS, undefined, { ctx: { ...ctx, margins: NO_MARGINS }, predict: () => predicted, maxModes: 6, reach: 0.2, polishModes, polishGain }), obj);
  assert.deepEqual(run(0).asked, [], 'no polish: no profiling');
  const polished = run(2);
  assert.ok(polished.asked.length >= 1 && polished.asked.length <= 2, `asked ${polished.asked.length}`);
  assert.ok(polished.asked.every((m) => !set.includes(m)), 'only modes outside the profiled set');
  assert.equal(polished.plan?.feasible, true);
  assert.ok(polished.plan!.throughput >= fromSet.throughput * 1.02, `polished ${polished.plan!.throughput} vs ${fromSet.throughput}`);
  // A gain no neighbour can give: nothing is profiled.
  assert.deepEqual(run(2, 10).asked, []);
});

test("ALS's polish reaches an optimum far along one knob and one level along another (a knob traded for another)", () => {
  const { ctx, truth, obj, all } = exactKey(problem({ power: 12, rate: 10, latency: 1 }));
  const space = ctx.space;
  const optimum = bestAmong(truth, all, obj, NO_MARGINS)!;
  // From a plan 3 CPU levels above the optimum and one GPU level below it (or the other way round).
  let found = 0;
  for (const [cpu, gpu] of [[3, -1], [-3, 1], [3, 1], [-3, -1]] as const) {
    const along = space.shifted(optimum.modeIndex, 1, cpu);
    const anchor = along < 0 ? -1 : space.shifted(along, 2, gpu);
    if (anchor < 0) continue;
    const start = bestAmong(truth, [anchor], obj, NO_MARGINS);
    if (!start?.feasible) continue;
    const polished = answered(new ProfiledFront(truth, [anchor], NO_MARGINS, undefined, { ctx: { ...ctx, margins: NO_MARGINS }, predict: () => truth, maxModes: 6, reach: 0.2, polishModes: 1, polishGain: 0.02 }), obj);
    if (start.throughput >= optimum.throughput / 1.02) continue;
    found++;
    assert.deepEqual(polished.asked.length, 1);
    assert.ok(polished.plan!.throughput >= optimum.throughput * (1 - 1e-9), `one polish from ${JSON.stringify(space.levels(anchor))}: ${polished.plan!.throughput} vs the optimum ${optimum.throughput}`);
  }
  assert.ok(found > 0, 'some such plan is feasible and worse');
});

test('a profile table with holes: strategies choose only modes the backend has', () => {
  const all = [...handMadeBackend({ grid: SMALL_GRID }).space.indices].map((i) => handMadeBackend({ grid: SMALL_GRID }).space.mode(i));
  const kept = all.filter((_, i) => i % 3 !== 1);
  const backend = handMadeBackend({ modes: kept });
  const planner = new Planner(backend);
  for (const s of listStrategies()) {
    const plan = planner.solveSync(s, comfortable[0]!);
    assert.ok(kept.some((m) => JSON.stringify(m) === JSON.stringify(plan.mode)), s.name);
    for (const m of plan.profiledModes) assert.ok(backend.space.available(m));
  }
});

test('exhaustive profiles every mode once and, with exact measurements, matches the oracle; with noise its plans stay within the margins on the measurements', () => {
  const exact = handMadeBackend();
  const planner = new Planner(exact);
  for (const p of comfortable) {
    const ref = bruteForce(p, truthOf(exact, p), exact.space.indices).choice.evaluation.trainThroughputSamplesPerS;
    const plan = planner.solveSync(getStrategy('exhaustive'), p);
    assert.equal(plan.cost.modesProfiled, exact.space.count);
    assert.equal(plan.feasible, true);
    assert.ok(Math.abs(plan.predicted.trainThroughputSamplesPerS - ref) < 1e-9);
  }
  const noisy = new Planner(handMadeBackend({ noiseFraction: 0.025 }));
  for (const p of comfortable) {
    const plan = noisy.solveSync(getStrategy('exhaustive'), p);
    assert.equal(plan.withinSafetyMargins, true);
    // The margin: power measured at least 5 % under the budget.
    assert.ok(plan.predicted.powerW * 1.05 <= p.powerBudgetW + 1e-9, `${plan.predicted.powerW} W`);
  }
});

test('oracle-margins is the oracle with the margins to spare on the truth: exact without margins, a cheaper plan with them', () => {
  const exact = handMadeBackend();
  const margins = { timeFraction: 0.05, powerFraction: 0.05 };
  const planner = new Planner(exact, { margins });
  let cheaper = 0;
  for (const p of comfortable) {
    const truth = truthOf(exact, p);
    const ref = bruteForce(p, truth, exact.space.indices).choice.evaluation.trainThroughputSamplesPerS;
    const plan = planner.solveSync(getStrategy('oracle-margins'), p);
    assert.equal(plan.cost.modesProfiled, 0);
    assert.equal(plan.withinSafetyMargins, true);
    // With the margins its power is 5 % under the budget on the truth, and X can only fall.
    assert.ok(plan.predicted.powerW * 1.05 <= p.powerBudgetW + 1e-9, `${plan.predicted.powerW} W`);
    assert.ok(plan.predicted.trainThroughputSamplesPerS <= ref + 1e-9);
    if (plan.predicted.trainThroughputSamplesPerS < ref - 1e-9) cheaper++;
    const free = new Planner(exact, { margins: { timeFraction: 0, powerFraction: 0 } }).solveSync(getStrategy('oracle-margins'), p);
    assert.ok(Math.abs(free.predicted.trainThroughputSamplesPerS - ref) < 1e-9);
  }
  assert.ok(cheaper > 0, 'the margins bind on some problem');
});

test('ALS repairs an answer no profiled mode meets: a few modes near the closest plan, none when a profiled plan is feasible', () => {
  // 45 of the 3,120 modes meet it.
  const { ctx, truth, obj, all } = exactKey(problem({ power: 7, rate: 10, latency: 1 }));
  const score = new ModeScore(1);
  const feasible = (m: number): boolean => scoreMode(truth, m, obj, NO_MARGINS, score).feasible;
  // A "profiled" set that holds none of this problem's feasible modes: every 40th mode, less those.
  const set = all.filter((m, i) => i % 20 === 0 && !feasible(m));
  assert.ok(all.some(feasible) && set.length > 100, `${all.filter(feasible).length} feasible, set ${set.length}`);
  // The model's power 30 % low and its times 20 % high everywhere: the rescaling through the
  // anchor's measurements takes that out, so the repair walks as if the model were exact.
  const predicted = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
  tableColumns(predicted).forEach((col, c) => col.set(tableColumns(truth)[c]!.map((v) => v * (c === 1 || c >= 2 + truth.inferTimeS[0]!.length ? 0.7 : 1.2))));
  const run = (maxModes: number, o: Objective, reach = 1) =>
    answered(new ProfiledFront(truth, set, NO_MARGINS, undefined, { ctx: { ...ctx, margins: NO_MARGINS }, predict: () => predicted, maxModes, reach }), o);
  const bare = run(0, obj);
  assert.deepEqual(bare.asked, [], 'no repair: no profiling');
  assert.equal(bare.plan?.feasible, false);
  const repaired = run(4, obj);
  assert.ok(repaired.asked.length >= 1 && repaired.asked.length <= 4, `asked ${repaired.asked.length}`);
  assert.ok(repaired.asked.every((m) => !set.includes(m)), 'only modes outside the profiled set');
  assert.equal(repaired.plan?.feasible, true, 'the repair reached a feasible mode');
  assert.ok(repaired.asked.includes(repaired.plan!.modeIndex) && feasible(repaired.plan!.modeIndex));
  // A closest plan further off than the reach is left as it is.
  const violation = bare.plan!.violation;
  assert.ok(violation > 0 && violation < 1);
  assert.deepEqual(run(4, obj, violation * 0.99).asked, []);
  assert.ok(run(4, obj, violation * 1.01).asked.length > 0);
  // A problem the set meets is answered from it alone.
  const generous = run(4, new Objective(problem({ power: 40, rate: 10, latency: 1 })));
  assert.deepEqual(generous.asked, []);
  assert.equal(generous.plan?.feasible, true);
});
