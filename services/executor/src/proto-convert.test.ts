import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@fulcrum/core';
import { common } from '@fulcrum/proto';
import { planFromProto, problemFromProto, problemToProto } from './proto-convert.js';

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
  assert.equal(field(() => problemFromProto({ ...proto, trainWorkload: undefined })), 'problem.trainWorkload');
  assert.equal(field(() => problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, arrivalRatePerS: -1 }] })), 'problem.streams[0].arrivalRatePerS');
  assert.equal(field(() => problemFromProto({ ...proto, streams: [{ ...proto.streams[0]!, workload: { name: 'resnet18', kind: common.WorkloadKind.WORKLOAD_KIND_TRAIN } }] })), 'problem.streams[0].workload.kind');
  assert.equal(field(() => problemFromProto({ ...proto, streams: [proto.streams[0]!, proto.streams[0]!] })), 'problem.streams[1].name');
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
});
