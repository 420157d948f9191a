import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@fulcrum/core';
import {
  ActivityState,
  MalformedEventError,
  decodeEvent,
  decodeInferenceReply,
  decodeInferenceRequest,
  encodeEvent,
  encodeInferenceReply,
  encodeInferenceRequest,
  isErrorReply,
  validateEvent,
  type ArrivalRatesEvent,
  type ExecutorActivityEvent,
  type ExecutorStatusEvent,
  type PlanAppliedEvent,
  type PowerTelemetryEvent,
  type ProfileResult,
} from './events.js';

const at = '2025-01-31T12:00:00Z';
const mode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const profile: ProfileResult = {
  device: 'orin-1',
  softwareStack: 'jp6',
  workload: 'resnet18',
  kind: 'train',
  batchSize: 32,
  mode,
  timeMs: 120.5,
  powerW: 41.2,
  measuredAt: '2025-01-31T12:00:00.000Z',
  samples: 20,
};
const status: ExecutorStatusEvent = {
  measuredAt: '2025-01-31T12:00:00.123Z',
  planId: 'p1',
  mode,
  trainThroughputSamplesPerS: 150,
  utilization: 0.25,
  streams: [{ stream: 'cam', batchSize: 4, arrivalRatePerS: 30, queueDepth: 3, latencyP50S: 0.05, latencyP99S: 0.09, latencyMaxS: 0.1, completed: 100, failed: 1 }],
};

function rejects(fn: () => unknown, field: string, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MalformedEventError, String(err));
    assert.ok(err instanceof ValidationError);
    assert.equal(err.field, field);
    assert.match(err.reason, reason);
    return true;
  });
}

test('every payload kind round-trips through JSON unchanged', () => {
  const arrivals: ArrivalRatesEvent = { measuredAt: at, windowS: 10, planId: 'p1', streams: [{ stream: 'cam', arrivalRatePerS: 30, plannedRatePerS: 20 }] };
  const plan: PlanAppliedEvent = {
    planId: 'p1',
    appliedAt: '2025-01-31T12:00:00+05:30',
    mode,
    streams: [{ stream: 'cam', batchSize: 4, predictedLatencyS: 0.09, utilization: 0.3 }],
    trainWorkload: 'resnet18',
    trainBatchSize: 32,
    predictedTrainThroughputSamplesPerS: 180,
    predictedPowerW: 28,
    feasible: true,
    strategy: 'gmd',
  };
  const power: PowerTelemetryEvent = { measuredAt: '2025-01-31T12:00:00.123Z', mode, powerW: 30.5, rails: [{ rail: 'VDD_GPU_SOC', powerW: 12 }] };
  const activity: ExecutorActivityEvent = { measuredAt: at, state: ActivityState.INFER, workload: 'resnet18', batchSize: 4, stream: 'cam', measurement: false };
  assert.deepEqual(decodeEvent('arrivals.rate', encodeEvent('arrivals.rate', arrivals)), arrivals);
  assert.deepEqual(decodeEvent('profile.completed', encodeEvent('profile.completed', profile)), profile);
  assert.deepEqual(decodeEvent('plan.applied', encodeEvent('plan.applied', plan)), plan);
  assert.deepEqual(decodeEvent('power', encodeEvent('power', power)), power);
  assert.deepEqual(decodeEvent('executor.status', encodeEvent('executor.status', status)), status);
  assert.deepEqual(decodeEvent('activity', encodeEvent('activity', activity)), activity);
  // A 64-bit integer (trainStep, uint64) stays a JSON number both ways: the proto JSON mapping
  // writes it as a string, and every executor.status with a training step failed its own check.
  const training: ExecutorStatusEvent = { ...status, trainTimeS: 0.02, trainLoss: 0.7, trainStep: 68 };
  assert.deepEqual(decodeEvent('executor.status', encodeEvent('executor.status', training)), training);
  assert.match(new TextDecoder().decode(encodeEvent('executor.status', training)), /"trainStep":68[,}]/);
  assert.equal(decodeEvent('executor.status', JSON.stringify({ ...status, trainStep: '69' })).trainStep, 69);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, trainStep: '9007199254740993' }), 'fulcrum.orin-1.executor.status'), 'trainStep', /must be an integer within ±9007199254740991, got 9007199254740993/);
  // The wire form is the proto3 JSON of fulcrum.events.v1: camelCase, enums by name.
  assert.equal(new TextDecoder().decode(encodeEvent('activity', { measuredAt: at, state: ActivityState.IDLE })), `{"measuredAt":"${at}","state":"ACTIVITY_STATE_IDLE"}`);
});

test('proto3 defaults are filled, unknown fields dropped, nulls read as absent', () => {
  assert.deepEqual(decodeEvent('power', JSON.stringify({ measuredAt: at, mode: null, futureField: 1 })), { measuredAt: at, powerW: 0, rails: [] });
  assert.deepEqual(decodeEvent('executor.status', JSON.stringify({ measured_at: at, streams: [{ stream: 'cam', latencyP99S: null, extra: [1] }] })), {
    measuredAt: at,
    trainThroughputSamplesPerS: 0,
    utilization: 0,
    streams: [{ stream: 'cam', queueDepth: 0 }],
  });
});

test('a wrong JSON type, a missing required field and a value out of range are MalformedEventErrors naming the field', () => {
  const s = 'fulcrum.orin-1.executor.status';
  // JSON types come from the contract (uint32, double, repeated, message, Timestamp).
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, streams: [{ stream: 'cam', queueDepth: 'many' }] }), s), 'streams[0].queueDepth', /expected number \(uint32\), got "many"/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, streams: [status.streams[0], { stream: 'b', queueDepth: -1 }] }), s), 'streams[1].queueDepth', /-1 out of range/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, streams: [{ stream: 'cam', queueDepth: 1.5 }] }), s), 'streams[0].queueDepth', /got 1\.5/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, utilization: true }), s), 'utilization', /got true/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, streams: {} }), s), 'streams', /Array/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, mode: 5 }), s), 'mode', /must be a JSON object, got 5/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, mode: { ...mode, cpuMhz: 'fast' } }), s), 'mode.cpuMhz', /got "fast"/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, measuredAt: '2025-01-31' }), s), 'measuredAt', /RFC 3339/);
  // Missing required fields.
  const { measuredAt: _m, ...noTime } = status;
  rejects(() => decodeEvent('executor.status', JSON.stringify(noTime), s), 'measuredAt', /is required/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, streams: [{ queueDepth: 1 }] }), s), 'streams[0].stream', /must be 1–64 letters, digits, '-' or '_', starting with a letter or digit/);
  const { mode: _mode, ...noMode } = profile;
  rejects(() => decodeEvent('profile.completed', JSON.stringify(noMode)), 'mode', /is required/);
  // Σwᵢ² of a combination's windows: in [1/windows, 1], and only with windows ≥ 2.
  const combined = { ...profile, windows: 2, windowWeightsSquared: 0.68 };
  assert.deepEqual(decodeEvent('profile.completed', encodeEvent('profile.completed', combined)), combined);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...combined, windowWeightsSquared: 0.2 })), 'windowWeightsSquared', /in \[1\/2, 1\], got 0.2/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, windowWeightsSquared: 0.9 })), 'windowWeightsSquared', /only for a result combined from windows ≥ 2/);
  // Out of range (the meaning-level checks).
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, streams: [{ stream: 'cam', queueDepth: 1, latencyP99S: -0.1 }] }), s), 'streams[0].latencyP99S', /must be a number ≥ 0, got -0.1/);
  rejects(() => decodeEvent('executor.status', JSON.stringify({ ...status, utilization: 'NaN' }), s), 'utilization', /must be a number ≥ 0, got "NaN"/);
  assert.throws(() => decodeEvent('executor.status', JSON.stringify({ ...status, utilization: -1 }), s), /malformed payload on fulcrum\.orin-1\.executor\.status: utilization: must be a number ≥ 0, got -1$/);
});

test('malformed payloads are rejected naming the field and the subject', () => {
  const s = 'fulcrum.orin-1.profile.completed';
  rejects(() => decodeEvent('profile.completed', '', s), 'payload', /is not JSON/);
  rejects(() => decodeEvent('profile.completed', 'null', s), 'payload', /must be a JSON object, got null/);
  rejects(() => decodeEvent('profile.completed', '[1]', s), 'payload', /must be a JSON object, got an array/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, kind: 'both' }), s), 'kind', /must be one of train, infer, got "both"/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, batchSize: 2.5 }), s), 'batchSize', /got 2\.5/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, batchSize: 0 }), s), 'batchSize', /positive integer, got 0/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, mode: { ...mode, gpuMhz: 0 } }), s), 'mode.gpuMhz', /positive number, got 0/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, device: 'a.b' }), s), 'device', /no dots/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, timeMs: 'x12' }), s), 'timeMs', /got "x12"/);
  rejects(() => decodeEvent('arrivals.rate', JSON.stringify({ measuredAt: at, windowS: 0, streams: [] })), 'windowS', /positive number, got 0/);
  rejects(() => decodeEvent('plan.applied', JSON.stringify({ planId: 'p', appliedAt: at, mode, streams: [{ stream: 'c', batchSize: 0 }] })), 'streams[0].batchSize', /positive integer/);
  rejects(() => encodeEvent('profile.completed', { ...profile, powerW: Number.NaN }), 'powerW', /positive number, got 0/);
  // Rates and budgets that become a problem's when an optimizer re-plans: within core's PROBLEM_LIMITS.
  const rates = { measuredAt: at, windowS: 10, streams: [{ stream: 'c', arrivalRatePerS: 1e308 }] };
  rejects(() => decodeEvent('arrivals.rate', JSON.stringify(rates)), 'streams[0].arrivalRatePerS', /must be at most 1000000 requests\/s .*, got 1e\+308/);
  rejects(() => encodeEvent('arrivals.rate', { ...rates, streams: [{ stream: 'c', arrivalRatePerS: 3, plannedRatePerS: 2e6 }] }), 'streams[0].plannedRatePerS', /at most 1000000 requests\/s/);
  assert.equal(decodeEvent('arrivals.rate', JSON.stringify({ ...rates, streams: [{ stream: 'c', arrivalRatePerS: 0 }] })).streams[0]!.arrivalRatePerS, 0);
  const applied = { planId: 'p', appliedAt: at, mode, streams: [{ stream: 'c', batchSize: 4, arrivalRatePerS: 30, latencyBudgetS: 0.5 }] };
  assert.equal(decodeEvent('plan.applied', JSON.stringify(applied)).streams[0]!.latencyBudgetS, 0.5);
  rejects(() => decodeEvent('plan.applied', JSON.stringify({ ...applied, streams: [{ ...applied.streams[0], arrivalRatePerS: 1e7 }] })), 'streams[0].arrivalRatePerS', /at most 1000000 requests\/s/);
  rejects(() => decodeEvent('plan.applied', JSON.stringify({ ...applied, streams: [{ ...applied.streams[0], latencyBudgetS: 1e308 }] })), 'streams[0].latencyBudgetS', /must be at most 3600 s \(an hour\), got 1e\+308/);
});

test('validateEvent checks objects and names the field with a plain ValidationError', () => {
  assert.deepEqual(validateEvent('profile.completed', { ...profile, extra: 1 }), profile);
  assert.throws(() => validateEvent('profile.completed', { ...profile, samples: 0 }), (err: unknown) => {
    assert.ok(err instanceof ValidationError && !(err instanceof MalformedEventError));
    assert.equal(err.message, 'samples: must be a positive integer, got 0');
    return true;
  });
});

test('inference requests and replies: results, explicit errors, and bad ones', () => {
  assert.deepEqual(decodeInferenceRequest('{"requestId":"r1","input":{"x":[1,2]}}'), { requestId: 'r1', input: { x: [1, 2] } });
  assert.deepEqual(decodeInferenceRequest(encodeInferenceRequest({ requestId: 'r1', input: null, sentAt: at })), { requestId: 'r1', input: null, sentAt: at });
  rejects(() => decodeInferenceRequest('{"input":1}'), 'requestId', /non-empty string, got ""/);
  rejects(() => decodeInferenceRequest('{"requestId":"r","sentAt":5}'), 'sentAt', /got 5/);
  const result = { requestId: 'r1', output: [0.1, 0.9], latencyS: 0.05, queueS: 0.01, batchSize: 8 };
  assert.deepEqual(decodeInferenceReply(encodeInferenceReply(result)), result);
  const error = { requestId: 'r1', error: { code: 'deadline' as const, message: 'would miss its 0.1 s budget' } };
  const decoded = decodeInferenceReply(encodeInferenceReply(error));
  assert.ok(isErrorReply(decoded));
  assert.deepEqual(decoded, error);
  assert.deepEqual(decodeInferenceReply('{"error":{"code":"invalid","message":"x"}}'), { error: { code: 'invalid', message: 'x' } });
  rejects(() => decodeInferenceReply('{"requestId":"r","error":{"code":"oops","message":"x"}}'), 'error.code', /must be one of deadline, shed, shutdown, invalid, unavailable, internal, got "oops"/);
  rejects(() => decodeInferenceReply('{"requestId":"r","latencyS":0.1,"queueS":0}'), 'batchSize', /positive integer, got 0/);
});

test('activity: busy needs workload and batch size, idle needs nothing', () => {
  assert.deepEqual(decodeEvent('activity', `{"measuredAt":"${at}","state":"ACTIVITY_STATE_IDLE"}`), { measuredAt: at, state: ActivityState.IDLE });
  const s = 'fulcrum.orin-1.activity';
  rejects(() => decodeEvent('activity', JSON.stringify({ measuredAt: at, state: 'busy' }), s), 'state', /must be one of ACTIVITY_STATE_IDLE, ACTIVITY_STATE_TRAIN, ACTIVITY_STATE_INFER \(missing or unknown\)/);
  rejects(() => decodeEvent('activity', JSON.stringify({ measuredAt: at }), s), 'state', /\(missing or unknown\)/);
  rejects(() => decodeEvent('activity', JSON.stringify({ measuredAt: at, state: ActivityState.TRAIN, workload: 'resnet18' }), s), 'batchSize', /is required/);
  rejects(() => decodeEvent('activity', JSON.stringify({ measuredAt: at, state: ActivityState.TRAIN, batchSize: 8 }), s), 'workload', /non-empty string/);
  rejects(() => decodeEvent('activity', JSON.stringify({ measuredAt: at, state: ActivityState.INFER, workload: 'm', batchSize: 1, stream: 'a b' }), s), 'stream', /no dots, spaces/);
});
