import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProfiledFront } from './als.js';
import { ModeScore, NO_MARGINS, Objective } from './objective.js';
import type { StrategyContext } from './strategy.js';
import { MeasurementTable, tableKeyOf, type ModeMeasurement } from './table.js';
import { MEDIUM_GRID, handMadeBackend, problem, truthOf } from './test-fixtures.js';

const backend = handMadeBackend({ grid: MEDIUM_GRID });
const problems = [10, 12, 14, 16, 18, 20, 22, 25].flatMap((power) => [5, 20, 40].map((rate) => problem({ power, rate, latency: 0.8 })));
const truth = truthOf(backend, problems[0]!);
/** The profiled set: every 11th mode. */
const modes = Array.from(backend.space.indices).filter((_, i) => i % 11 === 0);
const margins = { timeFraction: 0.05, powerFraction: 0.05 };

function scaled(m: ModeMeasurement, time: number, power: number): ModeMeasurement {
  const s = (v: { timeS: number; powerW: number }) => ({ ...v, timeS: v.timeS * time, powerW: v.powerW * power });
  return { ...m, training: s(m.training), inference: m.inference.map((row) => row.map((e) => (e ? s(e) : e))) };
}

/** A model that is off the truth (times 12 % high, power 6 % low, more so on faster modes): the anchor's rescaling matters. */
const predicted = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
for (const m of backend.space.indices) predicted.set(m, scaled(truth.get(m)!, 1.12 + 0.1 * (m / truth.size), 0.94));

function searchFront(table: MeasurementTable): ProfiledFront {
  const ctx: StrategyContext = { space: backend.space, key: tableKeyOf(problems[0]!), measured: table, truth: undefined, presets: [], seed: 1, margins };
  return new ProfiledFront(table, modes, margins, undefined, { ctx, predict: () => predicted, maxModes: 6, reach: 1, polishModes: 2, polishGain: 0.01 });
}

/** One answer, every mode it asks for measured (the truth) into `tables`: the plan and the modes asked. */
function answer(front: ProfiledFront, tables: readonly MeasurementTable[], obj: Objective): { plan: ModeScore | undefined; asked: number[] } {
  const gen = front.answer(obj);
  const asked: number[] = [];
  for (;;) {
    const step = gen.next();
    if (step.done) return { plan: step.value, asked };
    for (const m of step.value as readonly number[]) {
      asked.push(m);
      for (const t of tables) t.set(m, truth.get(m)!);
    }
  }
}

test('ALS search: an anchor measured again gets its neighbourhood rescaled again (what a search kept for it is not reused)', () => {
  const warmTable = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
  for (const m of modes) warmTable.set(m, truth.get(m)!);
  const coldTable = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
  for (const m of modes) coldTable.set(m, truth.get(m)!);
  const warm = searchFront(warmTable);
  const cold = searchFront(coldTable);
  // The warm front searches every problem once: it keeps the neighbourhoods of their plans.
  const before = problems.map((p) => answer(warm, [warmTable, coldTable], new Objective(p)));
  const anchors = [...new Set(before.filter((a) => a.plan && modes.includes(a.plan.modeIndex) && a.asked.length > 0).map((a) => a.plan!.modeIndex))];
  assert.ok(anchors.length > 0, 'no problem searched from a profiled plan');
  // Those anchors measured again (8 % faster, 3 % less power), on both tables alike.
  for (const a of anchors) {
    const again = scaled(warmTable.get(a)!, 0.92, 0.97);
    warmTable.set(a, again);
    coldTable.set(a, again);
  }
  let moved = 0;
  problems.forEach((p, i) => {
    const obj = new Objective(p);
    const w = answer(warm, [warmTable], obj);
    const c = answer(cold, [coldTable], obj);
    assert.deepEqual(w.asked, c.asked, `problem ${i}: the modes searched`);
    assert.equal(w.plan?.modeIndex, c.plan?.modeIndex, `problem ${i}: the plan`);
    assert.deepEqual(w.plan?.batchIndex, c.plan?.batchIndex, `problem ${i}: the batch sizes`);
    if (w.asked.join() !== before[i]!.asked.join()) moved++;
  });
  // The new measurements change what some searches profile: the check above can fail.
  assert.ok(moved > 0, 'no search changed with its anchor measured again');
});

test('ALS search on exact measurements: the local model finds the improvements a flat key model hides, at most polishModes a problem', () => {
  // A key model that sees no difference between modes: rescaled through any anchor, it predicts
  // every neighbour to be the anchor, so no polish candidate is worth a profile.
  const flat = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
  const one = truth.get(modes[0]!)!;
  for (const m of backend.space.indices) flat.set(m, one);
  const run = (localRidge: number | undefined) => {
    const table = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
    for (const m of modes) table.set(m, truth.get(m)!);
    const ctx: StrategyContext = { space: backend.space, key: tableKeyOf(problems[0]!), measured: table, truth: undefined, presets: [], seed: 1, margins: NO_MARGINS };
    const front = new ProfiledFront(table, modes, NO_MARGINS, undefined, { ctx, predict: () => flat, maxModes: 6, reach: 1, polishModes: 4, polishGain: 0.01, ...(localRidge !== undefined ? { localRidge } : {}) });
    return problems.map((p) => {
      const obj = new Objective(p);
      const before = front.bestWithoutMargins(obj)?.clone();
      return { before, ...answer(front, [table], obj) };
    });
  };
  const keyModel = run(undefined);
  const local = run(0.02);
  let improved = 0;
  local.forEach((a, i) => {
    const k = keyModel[i]!;
    if (a.before?.feasible) {
      // The flat model proposes nothing from a feasible plan; the local one at most polishModes.
      assert.deepEqual(k.asked, [], `problem ${i}: the key model's polish profiled`);
      assert.ok(a.asked.length <= 4, `problem ${i}: ${a.asked.length} polish profiles`);
      assert.ok(a.plan?.feasible && a.plan.throughput >= a.before.throughput, `problem ${i}: the polish lost the plan`);
      // Scored on the truth (every profile measures it): a real gain, not a model's promise.
      if (a.plan!.throughput > a.before.throughput * (1 + 1e-9)) improved++;
    }
  });
  assert.ok(improved >= 3, `the local model improved ${improved} plans`);
});

test('ALS search on exact measurements: a measured miss keeps the search off its neighbours (hereKernel)', () => {
  // Every mode off the profiled set draws 30 % more power than the profiled modes' laws say: the
  // local model (fitted to the profiled set) sees none of it, so each polish candidate it proposes
  // near the budget is a miss. A polish that profiles any predicted gain (polishGain 0) walks from
  // a miss to the next candidate in line, a neighbour; corrected by the answer's own misses, the
  // candidates next to one inherit it and are not profiled one after another.
  const trap = (m: number): ModeMeasurement => (modes.includes(m) ? truth.get(m)! : scaled(truth.get(m)!, 1, 1.3));
  const run = (hereKernel: number) => {
    const table = new MeasurementTable(truth.size, truth.inferTimeS.map((b) => b.length));
    for (const m of modes) table.set(m, truth.get(m)!);
    const ctx: StrategyContext = { space: backend.space, key: tableKeyOf(problems[0]!), measured: table, truth: undefined, presets: [], seed: 1, margins: NO_MARGINS };
    const front = new ProfiledFront(table, modes, NO_MARGINS, undefined, { ctx, predict: () => truth, maxModes: 6, reach: 1, polishModes: 6, polishGain: 0, localRidge: 0.02, hereKernel });
    return problems.map((p) => {
      const obj = new Objective(p);
      const before = front.bestWithoutMargins(obj)?.clone();
      const gen = front.answer(obj);
      const asked: number[] = [];
      for (;;) {
        const step = gen.next();
        if (step.done) return { before, plan: step.value, asked };
        for (const m of step.value as readonly number[]) {
          asked.push(m);
          table.set(m, trap(m));
        }
      }
    });
  };
  const blind = run(0);
  const corrected = run(0.15);
  const total = (rs: { asked: number[] }[]) => rs.reduce((n, r) => n + r.asked.length, 0);
  let adjacentBlind = 0;
  let adjacentCorrected = 0;
  const adjacent = (asked: number[]) => {
    let n = 0;
    for (let i = 1; i < asked.length; i++) {
      let d = 0;
      for (let k = 0; k < 4; k++) d += Math.abs(backend.space.level(asked[i]!, k) - backend.space.level(asked[i - 1]!, k));
      if (d === 1) n++;
    }
    return n;
  };
  corrected.forEach((c, i) => {
    const b = blind[i]!;
    adjacentBlind += adjacent(b.asked);
    adjacentCorrected += adjacent(c.asked);
    if (c.before?.feasible) assert.ok(c.plan?.feasible && c.plan.throughput >= c.before.throughput, `problem ${i}: the polish lost the plan`);
  });
  // The blind search walks from miss to neighbouring miss; the corrected one spends fewer profiles.
  assert.ok(total(blind) >= 10, `the trap drew only ${total(blind)} profiles`);
  assert.ok(adjacentBlind >= 3, `the blind search profiled ${adjacentBlind} neighbours of its last pick`);
  assert.ok(total(corrected) < 0.85 * total(blind), `profiles: corrected ${total(corrected)} vs blind ${total(blind)}`);
  assert.ok(adjacentCorrected < adjacentBlind / 2, `neighbours profiled: corrected ${adjacentCorrected} vs blind ${adjacentBlind}`);
});
