import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUILTIN_CATALOG, DEVICES, ValidationError, catalogWith, userWorkload } from '@fulcrum/core';
import {
  costFromProto,
  costToProto,
  frontFromProto,
  frontToProto,
  deviceInfoFromProto,
  deviceInfoToProto,
  gridFromProto,
  measurementOutcomeFromProto,
  measurementRunFromProto,
  measurementRunToProto,
  planFromProto,
  problemFromProto,
  problemToProto,
  runPlanToProto,
  profileRequestFromProto,
  profileRequestToProto,
  profileResultFromProto,
  profileResultToProto,
  profilesQueryFromProto,
  profilesQueryToProto,
  strategyFromProto,
  strategyToProto,
  workloadKindFromProto,
  UNBOUNDED,
} from './convert.js';
import * as common from './gen/fulcrum/common/v1/common.js';
import * as executor from './gen/fulcrum/executor/v1/executor.js';
import * as optimizer from './gen/fulcrum/optimizer/v1/optimizer.js';
import * as profiler from './gen/fulcrum/profiler/v1/profiler.js';

const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const proto = common.Problem.fromPartial({
  device: 'orin-agx',
  trainWorkload: { name: 'resnet18', kind: common.WorkloadKind.WORKLOAD_KIND_TRAIN },
  powerBudgetW: 40,
  powerSemantics: common.PowerSemantics.POWER_SEMANTICS_AVERAGE,
  streams: [
    { name: 'cam', workload: { name: 'mobilenet' }, arrivalRatePerS: 20, latencyBudgetS: 0.5, candidateBatchSizes: [4, 1] },
    { name: 'mic', workload: { name: 'lstm' }, arrivalRatePerS: 5, latencyBudgetS: 1 },
  ],
});

function field(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.field;
  }
  assert.fail('expected a ValidationError');
}

test('a proto problem becomes core problem with defaults, and back', () => {
  const p = problemFromProto(proto);
  assert.equal(p.trainBatchSize, 32, 'train_batch_size 0: the workload default');
  assert.equal(p.powerSemantics, 'average');
  assert.deepEqual(p.streams[0]!.candidateBatchSizes, [1, 4]);
  assert.deepEqual(p.streams[1]!.candidateBatchSizes, [1, 2, 4, 8, 16, 32, 64]);
  assert.deepEqual(problemFromProto(problemToProto(p)), p);
  assert.equal(problemFromProto({ ...proto, device: '' }, { defaultDevice: 'agx-xavier' }).device, 'agx-xavier');
});

test('problem errors name the field under problem.', () => {
  assert.equal(field(() => problemFromProto(undefined)), 'problem');
  assert.equal(field(() => problemFromProto({ ...proto, powerBudgetW: 0 })), 'problem.powerBudgetW');
  assert.equal(field(() => problemFromProto({ ...proto, powerBudgetW: 1e308 })), 'problem.powerBudgetW');
  assert.equal(field(() => problemFromProto({ ...proto, powerBudgetW: 1e308 }, { budgetsOptional: true })), 'problem.powerBudgetW');
  assert.equal(field(() => problemFromProto({ ...proto, trainWorkload: undefined })), 'problem.trainWorkload.name');
  assert.equal(field(() => problemFromProto({ ...proto, trainWorkload: { name: 'nope', kind: 0 } })), 'problem.trainWorkload.name');
  assert.equal(field(() => problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, workload: { name: 'nope', kind: 0 } }] })), 'problem.streams[0].workload.name');
  assert.equal(field(() => problemFromProto({ ...proto, powerSemantics: 7 as common.PowerSemantics })), 'problem.powerSemantics');
  assert.equal(field(() => problemFromProto({ ...proto, trainWorkload: { name: 'resnet18', kind: 5 as common.WorkloadKind } })), 'problem.trainWorkload.kind');
  assert.equal(field(() => problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, arrivalRatePerS: -1 }] })), 'problem.streams[0].arrivalRatePerS');
  // Past PROBLEM_LIMITS (1e6 requests/s, 3600 s), loose (GetParetoFront) or not.
  for (const options of [{}, { budgetsOptional: true }]) {
    assert.equal(field(() => problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, arrivalRatePerS: 1e308 }] }, options)), 'problem.streams[0].arrivalRatePerS');
    assert.equal(field(() => problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, latencyBudgetS: 1e308 }] }, options)), 'problem.streams[0].latencyBudgetS');
  }
  assert.equal(field(() => problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, workload: { name: 'resnet18', kind: common.WorkloadKind.WORKLOAD_KIND_TRAIN } }] })), 'problem.streams[0].workload.kind');
  assert.equal(field(() => problemFromProto({ ...proto, streams: [proto.streams[0]!, proto.streams[0]!] })), 'problem.streams[1].name');
});

test('GetParetoFront: an unset (0) budget is no budget (UNBOUNDED), past the limit a given budget may not reach', () => {
  const loose = problemFromProto({ ...proto, powerBudgetW: 0, streams: [{ ...proto.streams[0]!, latencyBudgetS: 0 }] }, { budgetsOptional: true });
  assert.equal(loose.powerBudgetW, UNBOUNDED);
  assert.equal(loose.streams[0]!.latencyBudgetS, UNBOUNDED);
  // Only the unset budget: another stream's given budget stays as given.
  const mixed = problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, latencyBudgetS: 0 }, { ...proto.streams[0]!, name: 'b', latencyBudgetS: 0.7 }] }, { budgetsOptional: true });
  assert.deepEqual(mixed.streams.map((s) => s.latencyBudgetS), [UNBOUNDED, 0.7]);
  assert.equal(problemFromProto(proto, { budgetsOptional: true }).powerBudgetW, 40);
});

test('a problem may name the devices and workloads of the catalog given (default: the built-in ones)', () => {
  const own = { ...proto, device: 'my-orin', trainWorkload: { name: 'my-trainer', kind: 0 } };
  assert.equal(field(() => problemFromProto(own)), 'problem.device');
  const catalog = catalogWith(BUILTIN_CATALOG, { devices: [{ ...DEVICES[0]!, id: 'my-orin', displayName: 'my-orin' }], workloads: [userWorkload('my-trainer', 12)] });
  const p = problemFromProto(own, { catalog });
  assert.equal(p.device, 'my-orin');
  assert.equal(p.trainWorkload, 'my-trainer');
  assert.equal(p.trainBatchSize, 12, "train_batch_size 0: the catalog's bT");
  assert.equal(field(() => problemFromProto({ ...own, trainWorkload: { name: 'nope', kind: 0 } }, { catalog })), 'problem.trainWorkload.name');
});

test('a plan gives batch sizes, predicted times and a plan id; mismatches name the field', () => {
  const problem = problemFromProto(proto);
  const plan = common.Plan.fromPartial({
    mode: MAXN,
    streams: [
      { stream: 'mic', batchSize: 2, utilization: 0.1 },
      { stream: 'cam', batchSize: 4, utilization: 0.2 },
    ],
    trainTimeMs: 120,
    strategy: 'gmd',
  });
  const { plan: p, proto: stored } = planFromProto(plan, problem);
  assert.deepEqual(p.batchSizes, { mic: 2, cam: 4 });
  assert.equal(p.trainTimeS, 0.12);
  assert.ok(Math.abs(p.inferTimeS!['cam']! - (0.2 * 4) / 20) < 1e-12, 'tI = ρ·b/λ');
  assert.match(p.planId, /^plan-/);
  assert.equal(stored.planId, p.planId);
  assert.equal(stored.device, 'orin-agx');
  assert.equal(field(() => planFromProto({ ...plan, mode: undefined }, problem)), 'plan.mode');
  assert.equal(field(() => planFromProto({ ...plan, mode: { ...MAXN, cores: 0 } }, problem)), 'plan.mode.cores');
  assert.equal(field(() => planFromProto({ ...plan, device: 'agx-xavier' }, problem)), 'plan.device');
  assert.equal(field(() => planFromProto({ ...plan, streams: [plan.streams[1]!] }, problem)), 'plan.streams');
  assert.equal(field(() => planFromProto({ ...plan, streams: [...plan.streams, { stream: 'cam', batchSize: 1, utilization: 0, predictedLatencyS: 0 }] }, problem)), 'plan.streams[2].stream');
  assert.equal(field(() => planFromProto({ ...plan, streams: [{ ...plan.streams[0]!, batchSize: 0 }, plan.streams[1]!] }, problem)), 'plan.streams[0].batchSize');
  assert.equal(field(() => planFromProto({ ...plan, trainTimeMs: -1 }, problem)), 'plan.trainTimeMs');
  // What the executor reports back must encode (found by test/fuzz): a timestamp past what a Date
  // holds made every later Status INTERNAL; a 100 KB id or strategy, or a NaN latency, made every
  // plan.applied and executor.status event unpublishable.
  assert.equal(field(() => planFromProto({ ...plan, createdAt: new Date(1e13 * 1000) }, problem)), 'plan.createdAt');
  assert.equal(field(() => planFromProto({ ...plan, planId: 'p'.repeat(100_000) }, problem)), 'plan.planId');
  assert.equal(field(() => planFromProto({ ...plan, strategy: 's'.repeat(257) }, problem)), 'plan.strategy');
  assert.equal(field(() => planFromProto({ ...plan, streams: [{ ...plan.streams[0]!, predictedLatencyS: NaN }, plan.streams[1]!] }, problem)), 'plan.streams[0].predictedLatencyS');
  assert.equal(planFromProto({ ...plan, planId: 'p'.repeat(256), createdAt: new Date(0) }, problem).plan.planId.length, 256);
});

const RESULT: common.ProfileResult = {
  device: 'orin-agx',
  softwareStack: 'jp6',
  workload: 'resnet18',
  kind: common.WorkloadKind.WORKLOAD_KIND_TRAIN,
  batchSize: 32,
  mode: MAXN,
  timeMs: 120.5,
  powerW: 31.2,
  measuredAt: new Date('2026-01-02T03:04:05.000Z'),
  samples: 20,
  timeSeMs: 0.8,
  powerSeW: 0.12,
};

test('a profile result round-trips; a missing kind, mode or time is refused, never filled in', () => {
  const r = profileResultFromProto(RESULT, 'results[0]');
  assert.equal(r.kind, 'train');
  assert.equal(r.measuredAt, '2026-01-02T03:04:05.000Z');
  assert.deepEqual(profileResultToProto(r), common.ProfileResult.fromPartial(RESULT));
  assert.deepEqual([r.timeSeMs, r.powerSeW], [0.8, 0.12]);
  // Without standard errors (older results): none invented, none on the wire.
  const plain = profileResultFromProto({ ...RESULT, timeSeMs: undefined, powerSeW: undefined }, 'r');
  assert.ok(!('timeSeMs' in plain) && !('powerSeW' in plain));
  assert.equal(profileResultToProto(plain).timeSeMs, undefined);
  assert.equal(field(() => profileResultFromProto({ ...RESULT, timeSeMs: -1 }, 'r')), 'r.timeSeMs');
  assert.equal(field(() => profileResultFromProto({ ...RESULT, kind: common.WorkloadKind.WORKLOAD_KIND_UNSPECIFIED }, 'results[0]')), 'results[0].kind');
  assert.equal(field(() => profileResultFromProto({ ...RESULT, mode: undefined }, 'results[0]')), 'results[0].mode');
  assert.equal(field(() => profileResultFromProto({ ...RESULT, timeMs: 0 }, 'results[3]')), 'results[3].timeMs');
  assert.equal(field(() => profileResultFromProto({ ...RESULT, measuredAt: undefined }, 'r')), 'r.measuredAt');
  assert.equal(field(() => profileResultFromProto({ ...RESULT, device: '' }, 'r')), 'r.device');
});

test('re-measurement (issue 16): a combined result keeps its windows, a Profile request its remeasure, a cost its remeasures', () => {
  const combined = { ...RESULT, samples: 40, timeSeMs: 0.55, windows: 2 };
  const r = profileResultFromProto(combined, 'results[0]');
  assert.equal(r.windows, 2);
  assert.equal(r.samples, 40);
  assert.deepEqual(common.ProfileResult.decode(common.ProfileResult.encode(profileResultToProto(r)).finish()), common.ProfileResult.fromPartial(combined));
  // One window: absent in the domain and on the wire (as before re-measurement).
  assert.ok(!('windows' in profileResultFromProto(RESULT, 'r')));
  // Σwᵢ² of the windows' weights (a window of 20 and a re-measure of 80): kept both ways; only for a combination, in [1/windows, 1].
  const weighted = { ...combined, samples: 100, windowWeightsSquared: 0.68 };
  assert.equal(profileResultFromProto(weighted, 'r').windowWeightsSquared, 0.68);
  assert.deepEqual(profileResultToProto(profileResultFromProto(weighted, 'r')), common.ProfileResult.fromPartial(weighted));
  assert.ok(!('windowWeightsSquared' in profileResultFromProto({ ...RESULT, windowWeightsSquared: 1 }, 'r')), 'one window has none');
  assert.equal(field(() => profileResultFromProto({ ...weighted, windowWeightsSquared: 0.4 }, 'results[1]')), 'results[1].windowWeightsSquared');
  assert.equal(field(() => profileResultFromProto({ ...weighted, windowWeightsSquared: Number.NaN }, 'r')), 'r.windowWeightsSquared');
  assert.ok(!('windows' in profileResultFromProto({ ...RESULT, windows: 1 }, 'r')));
  assert.equal(profileResultToProto({ ...r, windows: 1 }).windows, undefined);
  assert.equal(field(() => profileResultFromProto({ ...RESULT, windows: 0 }, 'results[2]')), 'results[2].windows');

  const input = { mode: MAXN, workloads: [{ workload: 'resnet18', kind: 'train' as const, batchSizes: [32] }], remeasure: true };
  const wire = profiler.ProfileRequest.decode(profiler.ProfileRequest.encode(profileRequestToProto(input)).finish());
  assert.equal(wire.remeasure, true);
  assert.equal(profileRequestFromProto(wire).remeasure, true);
  assert.ok(!('remeasure' in profileRequestFromProto(profileRequestToProto({ ...input, remeasure: undefined }))), 'a plain request stays plain');

  const cost = costToProto({ modesProfiled: 0, modesReused: 0, remeasures: 1, profilingSeconds: 3.5 });
  const back = costFromProto(common.PlanCost.decode(common.PlanCost.encode(cost).finish()), 'cost');
  assert.deepEqual(back, { modesProfiled: 0, modesReused: 0, remeasures: 1, profilingSeconds: 3.5, optimizerMs: 0 });
  assert.equal(costFromProto(common.PlanCost.fromPartial({ modesProfiled: 2 }), 'cost').remeasures, 0, 'an older peer: no re-measures');
});

test('strategies: every registry name the contract carries round-trips; others are refused', () => {
  for (const name of ['gmd', 'gmd-12', 'als-50', 'als-100', 'random-15', 'powertrain-50', 'bo-15', 'maxn', 'best-preset', 'oracle']) {
    const { strategy, modeBudget } = strategyToProto(name);
    assert.equal(strategyFromProto(strategy, modeBudget), name);
  }
  assert.equal(strategyFromProto(optimizer.Strategy.STRATEGY_ALS, 0), 'als-100', 'ALS without a budget: the registry default');
  assert.equal(strategyFromProto(optimizer.Strategy.STRATEGY_UNSPECIFIED, 0), undefined);
  assert.equal(field(() => strategyToProto('simulated-annealing', '--strategy')), '--strategy');
  assert.equal(field(() => strategyFromProto(99 as optimizer.Strategy, 0)), 'strategy');
});

test('profiler requests: unset protocol fields stay unset; kinds are checked, a filter kind 7 is refused', () => {
  const input = { mode: MAXN, workloads: [{ workload: 'resnet18', kind: 'train' as const, batchSizes: [32] }], settleS: 2 };
  const back = profileRequestFromProto(profileRequestToProto(input));
  assert.deepEqual(back, { device: undefined, mode: MAXN, workloads: input.workloads, warmupMinibatches: undefined, measuredMinibatches: undefined, settleS: 2 });
  const bad = profiler.ProfileRequest.fromPartial({ mode: MAXN, workloads: [{ workload: { name: 'resnet18' }, batchSizes: [1] }] });
  assert.equal(field(() => profileRequestFromProto(bad)), 'workloads[0].workload.kind');
  assert.equal(field(() => profileRequestFromProto({ ...bad, mode: undefined })), 'mode');
  assert.deepEqual(profilesQueryFromProto(profilesQueryToProto({ workload: 'resnet18', kind: 'infer', batchSize: 4 })), {
    device: undefined, softwareStack: undefined, workload: 'resnet18', kind: 'infer', batchSize: 4, mode: undefined, pageSize: undefined, pageToken: undefined,
  });
  assert.equal(profilesQueryFromProto(profiler.GetProfilesRequest.fromPartial({})).kind, undefined, 'UNSPECIFIED: any kind');
  assert.equal(field(() => profilesQueryFromProto(profiler.GetProfilesRequest.fromPartial({ kind: 7 as common.WorkloadKind }))), 'kind');
});

test('measurements: the run and its outcome round-trip; an empty outcome is refused', () => {
  const run = { workload: 'mobilenet', kind: 'infer' as const, batchSize: 4, warmupMinibatches: 2, measuredMinibatches: 10 };
  assert.deepEqual(measurementRunFromProto(measurementRunToProto(run)), run);
  assert.equal(field(() => measurementRunFromProto({ ...measurementRunToProto(run), batchSize: 0 })), 'batchSize');
  assert.equal(field(() => measurementRunFromProto({ ...measurementRunToProto(run), workload: { name: 'mobilenet', kind: 0 } })), 'workload.kind');
  const res = executor.RunMeasurementResponse.fromPartial({ minibatchTimesMs: [1, 2], windowStart: new Date(1000), windowEnd: new Date(2000), softwareStack: 's', runner: 'simulated' });
  assert.equal(measurementOutcomeFromProto(res).windowEndMs, 2000);
  assert.equal(field(() => measurementOutcomeFromProto({ ...res, minibatchTimesMs: [] })), 'minibatchTimesMs');
  assert.equal(field(() => measurementOutcomeFromProto({ ...res, windowEnd: undefined })), 'windowEnd');
  assert.equal(field(() => costFromProto(undefined, 'cost')), 'cost');
});

test('device info and grids round-trip; an empty grid or unknown backend is refused', () => {
  const grid = { cores: [4, 8], cpuMhz: [1000], gpuMhz: [300, 600], emcMhz: [2000] };
  const info = { board: 'jetson-01', device: 'orin-agx', displayName: 'Orin', backend: 'virtual' as const, softwareStack: 'v', grid, modeCount: 4, presets: [{ name: 'MAXN', mode: MAXN, note: 'all on' }], hardCapW: 60, notes: ['a', 'b'] };
  assert.deepEqual(deviceInfoFromProto(deviceInfoToProto(info)), info);
  assert.equal(field(() => gridFromProto({ ...grid, gpuMhz: [] }, 'info.grid')), 'info.grid.gpuMhz');
  assert.equal(field(() => deviceInfoFromProto({ ...deviceInfoToProto(info), backend: 0 })), 'info.backend');
  // A board id must be a subject token (it becomes fulcrum.<board>.…).
  assert.equal(field(() => deviceInfoFromProto({ ...deviceInfoToProto(info), board: '' })), 'info.board');
  assert.equal(field(() => deviceInfoFromProto({ ...deviceInfoToProto(info), board: 'lab.jetson' })), 'info.board');
  assert.equal(workloadKindFromProto(common.WorkloadKind.WORKLOAD_KIND_INFER, 'k'), 'infer');
});

test('a plan made in code round-trips through the proto Plan (tT, tI as ρ, strategy)', () => {
  const problem = problemFromProto(proto);
  const plan = { planId: 'p7', mode: MAXN, batchSizes: { cam: 4, mic: 2 }, trainTimeS: 0.12, inferTimeS: { cam: 0.04 }, strategy: 'manual' };
  const wire = runPlanToProto(problem, plan);
  assert.equal(wire.device, 'orin-agx');
  assert.ok(Math.abs(wire.streams[0]!.utilization - (20 * 0.04) / 4) < 1e-12);
  const back = planFromProto(wire, problem).plan;
  assert.deepEqual(back.batchSizes, plan.batchSizes);
  assert.equal(back.trainTimeS, 0.12);
  assert.ok(Math.abs(back.inferTimeS!['cam']! - 0.04) < 1e-12);
  assert.equal(back.inferTimeS!['mic'], undefined);
  assert.equal(back.strategy, 'manual');
  assert.equal(runPlanToProto(problem, { planId: 'q', batchSizes: {} }).streams.map((s) => s.batchSize).join(), '1,1', 'a stream it does not name runs at 1');
});

test("a plan's front round-trips and is checked against its problem (issue 15, 3)", () => {
  const problem = problemFromProto(problemToProto({ device: 'orin-agx', trainWorkload: 'resnet18', trainBatchSize: 32, powerBudgetW: 30, powerSemantics: 'peak', streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 10, latencyBudgetS: 0.5, candidateBatchSizes: [1, 4] }] }));
  const front = [{ mode: MAXN, training: { timeS: 0.2, powerW: 30 }, inference: [{ stream: 'cam', batchSize: 1, timeS: 0.01, powerW: 20 }, { stream: 'cam', batchSize: 4, timeS: 0.03, powerW: 22 }] }];
  assert.deepEqual(frontFromProto(frontToProto(front), problem), front);
  const wire = frontToProto(front);
  assert.equal(field(() => frontFromProto([{ ...wire[0]!, inference: [{ ...wire[0]!.inference[0]!, stream: 'lidar' }] }], problem)), 'front[0].inference[0].stream');
  assert.equal(field(() => frontFromProto([{ ...wire[0]!, trainTimeS: -1 }], problem)), 'front[0].trainTimeS');
  assert.equal(field(() => frontFromProto([{ ...wire[0]!, mode: undefined }], problem)), 'front[0].mode');
  assert.equal(field(() => frontFromProto(Array.from({ length: 65 }, () => wire[0]!), problem)), 'front');
});
