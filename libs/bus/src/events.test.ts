import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@fulcrum/core';
import {
  MalformedEventError,
  decodeEvent,
  decodeInferenceReply,
  decodeInferenceRequest,
  encodeEvent,
  encodeInferenceReply,
  isInferenceError,
  validateEvent,
  type ArrivalRatesEvent,
  type PlanAppliedEvent,
  type ProfileResult,
  type TelemetryEvent,
} from './events.js';

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
  const arrivals: ArrivalRatesEvent = { measuredAt: '2025-01-31T12:00:00Z', windowS: 10, planId: 'p1', streams: [{ stream: 'cam', arrivalRatePerS: 30, plannedRatePerS: 20 }] };
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
  const telemetry: TelemetryEvent = {
    measuredAt: '2025-01-31T12:00:00.123Z',
    mode,
    powerW: 30.5,
    rails: [{ rail: 'VDD_GPU_SOC', powerW: 12 }],
    trainThroughputSamplesPerS: 150,
    utilization: 0.25,
    streams: [{ stream: 'cam', batchSize: 4, queueDepth: 3, latencyP50S: 0.05, latencyP99S: 0.09, latencyMaxS: 0.1, completed: 100, failed: 1 }],
  };
  assert.deepEqual(decodeEvent('arrivals.rate', encodeEvent('arrivals.rate', arrivals)), arrivals);
  assert.deepEqual(decodeEvent('profile.completed', encodeEvent('profile.completed', profile)), profile);
  assert.deepEqual(decodeEvent('plan.applied', encodeEvent('plan.applied', plan)), plan);
  assert.deepEqual(decodeEvent('telemetry', encodeEvent('telemetry', telemetry)), telemetry);
  assert.deepEqual(decodeEvent('telemetry', '{"measuredAt":"2025-01-31T12:00:00Z"}'), { measuredAt: '2025-01-31T12:00:00Z' });
});

test('unknown fields are dropped, nulls of optional fields read as absent', () => {
  const decoded = decodeEvent('telemetry', JSON.stringify({ measuredAt: '2025-01-31T12:00:00Z', powerW: null, futureField: 1 }));
  assert.deepEqual(decoded, { measuredAt: '2025-01-31T12:00:00Z' });
});

test('malformed payloads are rejected naming the field and the subject', () => {
  const s = 'fulcrum.orin-1.profile.completed';
  rejects(() => decodeEvent('profile.completed', '', s), 'payload', /is not JSON/);
  rejects(() => decodeEvent('profile.completed', 'null', s), 'payload', /must be an object, got null/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, kind: 'both' }), s), 'kind', /must be "train" or "infer", got "both"/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, batchSize: 2.5 }), s), 'batchSize', /positive integer, got 2.5/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, mode: { ...mode, gpuMhz: 0 } }), s), 'mode.gpuMhz', /positive number, got 0/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, device: 'a.b' }), s), 'device', /no dots/);
  rejects(() => decodeEvent('profile.completed', JSON.stringify({ ...profile, timeMs: '12' }), s), 'timeMs', /positive number, got "12"/);
  rejects(() => decodeEvent('arrivals.rate', JSON.stringify({ measuredAt: '2025-01-31T12:00:00Z', windowS: 1, streams: {} })), 'streams', /must be an array, got an object/);
  rejects(() => decodeEvent('plan.applied', JSON.stringify({ planId: 'p', appliedAt: '2025-01-31T12:00:00Z', mode, streams: [{ stream: 'c', batchSize: 0 }] })), 'streams[0].batchSize', /positive integer/);
  assert.throws(() => decodeEvent('telemetry', '{"measuredAt":"2025-01-31"}', 'fulcrum.x.telemetry'), /^MalformedEventError|malformed payload on fulcrum\.x\.telemetry: measuredAt: must be an RFC 3339 timestamp/);
  rejects(() => encodeEvent('profile.completed', { ...profile, powerW: Number.NaN }), 'powerW', /positive number, got NaN/);
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
  rejects(() => decodeInferenceRequest('{"input":1}'), 'requestId', /non-empty string, got nothing/);
  const result = { requestId: 'r1', output: [0.1, 0.9], latencyS: 0.05, queueS: 0.01, batchSize: 8 };
  assert.deepEqual(decodeInferenceReply(encodeInferenceReply(result)), result);
  const error = { requestId: 'r1', error: { code: 'deadline' as const, message: 'would miss its 0.1 s budget' } };
  const decoded = decodeInferenceReply(encodeInferenceReply(error));
  assert.ok(isInferenceError(decoded));
  assert.deepEqual(decoded, error);
  assert.deepEqual(decodeInferenceReply('{"error":{"code":"invalid","message":"x"}}'), { error: { code: 'invalid', message: 'x' } });
  rejects(() => decodeInferenceReply('{"requestId":"r","error":{"code":"oops","message":"x"}}'), 'error.code', /must be one of deadline, shed, shutdown, invalid, unavailable, internal, got "oops"/);
  rejects(() => decodeInferenceReply('{"requestId":"r","latencyS":0.1,"queueS":0}'), 'batchSize', /positive integer, got nothing/);
});

test('telemetry carries the executor activity: busy needs workload and batch size, idle needs nothing', () => {
  const busy: TelemetryEvent = { measuredAt: '2025-01-31T12:00:00Z', activity: { state: 'infer', workload: 'resnet18', batchSize: 4, stream: 'cam', measurement: false } };
  assert.deepEqual(decodeEvent('telemetry', encodeEvent('telemetry', busy)), busy);
  assert.deepEqual(decodeEvent('telemetry', '{"measuredAt":"2025-01-31T12:00:00Z","activity":{"state":"idle"}}'), { measuredAt: '2025-01-31T12:00:00Z', activity: { state: 'idle' } });
  const s = 'fulcrum.orin-1.telemetry';
  rejects(() => decodeEvent('telemetry', JSON.stringify({ measuredAt: '2025-01-31T12:00:00Z', activity: { state: 'busy' } }), s), 'activity.state', /must be one of idle, train, infer, got "busy"/);
  rejects(() => decodeEvent('telemetry', JSON.stringify({ measuredAt: '2025-01-31T12:00:00Z', activity: { state: 'train', workload: 'resnet18' } }), s), 'activity.batchSize', /positive integer/);
  rejects(() => decodeEvent('telemetry', JSON.stringify({ measuredAt: '2025-01-31T12:00:00Z', activity: { state: 'train', batchSize: 8 } }), s), 'activity.workload', /non-empty string/);
  rejects(() => decodeEvent('telemetry', JSON.stringify({ measuredAt: '2025-01-31T12:00:00Z', activity: 'train' }), s), 'activity', /must be an object/);
});
