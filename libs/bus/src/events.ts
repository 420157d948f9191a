/**
 * Payloads of the SPEC §1 events, their JSON encoding, and decoders that check every field.
 *
 * Field names follow the proto contracts (proto/fulcrum/*) in camelCase and carry units.
 * Timestamps are RFC 3339 strings (the proto3 JSON form of google.protobuf.Timestamp).
 * Unknown fields are dropped on decode, so a newer publisher does not break an older subscriber.
 */
import { ValidationError, describeValue, type PowerMode, type WorkloadKind } from '@fulcrum/core';
import { validateToken, type EventKind } from './subjects.js';

// ---------------------------------------------------------------- payload types

/** `fulcrum.<device>.arrivals.rate`: the executor's measured arrival rates, published when they move. */
export interface ArrivalRatesEvent {
  /** End of the measurement window (RFC 3339). */
  readonly measuredAt: string;
  /** Length of the window the rates average over, seconds. */
  readonly windowS: number;
  /** The plan running while the rates were measured. */
  readonly planId?: string | undefined;
  readonly streams: readonly StreamArrivalRate[];
}

export interface StreamArrivalRate {
  readonly stream: string;
  /** Measured λ, requests per second. */
  readonly arrivalRatePerS: number;
  /** The rate the running plan was made for (what it moved away from). */
  readonly plannedRatePerS?: number | undefined;
}

/**
 * `fulcrum.<device>.profile.completed`: one profiled (mode, workload, batch) result; mirrors
 * `fulcrum.common.v1.ProfileResult`. Key: (device, softwareStack, workload, kind, batchSize, mode).
 */
export interface ProfileResult {
  readonly device: string;
  /** Software stack version (JetPack / framework / model build); stacks are never mixed. */
  readonly softwareStack: string;
  readonly workload: string;
  readonly kind: WorkloadKind;
  /** Minibatch size, samples. */
  readonly batchSize: number;
  readonly mode: PowerMode;
  /** Mean time per minibatch over the measured window, milliseconds. */
  readonly timeMs: number;
  /** Mean board power over the measured window, watts. */
  readonly powerW: number;
  /** When the measured window ended (RFC 3339). */
  readonly measuredAt: string;
  /** Measured minibatches averaged into timeMs. */
  readonly samples: number;
}

/** `fulcrum.<device>.plan.applied`: the plan now running on the device. */
export interface PlanAppliedEvent {
  readonly planId: string;
  readonly appliedAt: string;
  readonly mode: PowerMode;
  readonly streams: readonly PlannedStream[];
  readonly trainWorkload?: string | undefined;
  /** bT, samples per training minibatch. */
  readonly trainBatchSize?: number | undefined;
  readonly predictedTrainThroughputSamplesPerS?: number | undefined;
  readonly predictedPowerW?: number | undefined;
  readonly feasible?: boolean | undefined;
  /** e.g. `gmd`, `als`, `oracle`. */
  readonly strategy?: string | undefined;
}

export interface PlannedStream {
  readonly stream: string;
  readonly batchSize: number;
  readonly arrivalRatePerS?: number | undefined;
  readonly latencyBudgetS?: number | undefined;
  readonly predictedLatencyS?: number | undefined;
  /** ρk, this stream's GPU share. */
  readonly utilization?: number | undefined;
}

/** `fulcrum.<device>.telemetry`: power, clocks, throughput, queue depths, latency percentiles. */
export interface TelemetryEvent {
  readonly measuredAt: string;
  /** The knobs as read back from the device. */
  readonly mode?: PowerMode | undefined;
  /** Board power, watts. */
  readonly powerW?: number | undefined;
  readonly rails?: readonly RailPower[] | undefined;
  readonly planId?: string | undefined;
  readonly trainThroughputSamplesPerS?: number | undefined;
  /** Measured inference GPU share ρ. */
  readonly utilization?: number | undefined;
  readonly streams?: readonly StreamTelemetry[] | undefined;
  /**
   * What the executor's GPU runs now. The executor publishes it on every change (throttled) and
   * as a heartbeat; a virtual device-controller makes its power readings follow it.
   */
  readonly activity?: ExecutorActivity | undefined;
}

export const ACTIVITY_STATES = ['idle', 'train', 'infer'] as const;
export type ActivityState = (typeof ACTIVITY_STATES)[number];

/** The minibatch running now (`workload` and `batchSize` are required unless `state` is `idle`). */
export interface ExecutorActivity {
  readonly state: ActivityState;
  readonly workload?: string | undefined;
  /** Samples in the minibatch. */
  readonly batchSize?: number | undefined;
  /** The inference stream it serves, if any. */
  readonly stream?: string | undefined;
  /** True while running a profiler measurement. */
  readonly measurement?: boolean | undefined;
}

export interface RailPower {
  readonly rail: string;
  readonly powerW: number;
}

/** Mirrors `fulcrum.executor.v1.StreamStatus`. */
export interface StreamTelemetry {
  readonly stream: string;
  readonly batchSize?: number | undefined;
  readonly arrivalRatePerS?: number | undefined;
  /** Requests waiting now. */
  readonly queueDepth: number;
  readonly latencyP50S?: number | undefined;
  readonly latencyP99S?: number | undefined;
  readonly latencyMaxS?: number | undefined;
  /** Requests answered with a result. */
  readonly completed?: number | undefined;
  /** Requests answered with an error. */
  readonly failed?: number | undefined;
}

/** Payload type of each broadcast event kind. */
export interface BusEvents {
  'arrivals.rate': ArrivalRatesEvent;
  'profile.completed': ProfileResult;
  'plan.applied': PlanAppliedEvent;
  telemetry: TelemetryEvent;
}

/** A request on `fulcrum.<device>.infer.<stream>` (the stream is in the subject). */
export interface InferenceRequest {
  /** Caller's id, echoed in the reply. */
  readonly requestId: string;
  /** The model input, any JSON value; its shape is the workload's business. */
  readonly input?: unknown;
  /** When the caller sent it (RFC 3339); informational, the executor times from arrival. */
  readonly sentAt?: string | undefined;
}

/** The result of one inference request; mirrors `fulcrum.executor.v1.InferResponse`. */
export interface InferenceResult {
  readonly requestId: string;
  readonly output?: unknown;
  /** Arrival to result, seconds. */
  readonly latencyS: number;
  /** Queued before its minibatch started, seconds. */
  readonly queueS: number;
  /** Size of the minibatch it ran in. */
  readonly batchSize: number;
}

export const INFERENCE_ERROR_CODES = ['deadline', 'shed', 'shutdown', 'invalid', 'unavailable', 'internal'] as const;
/**
 * `deadline`: it could not be served within its latency budget; `shed`: refused under overload
 * (or no plan serves this stream); `shutdown`: the executor is stopping; `invalid`: the request
 * was malformed; `unavailable`: the runner/worker is gone (retry later); `internal`: a bug.
 */
export type InferenceErrorCode = (typeof INFERENCE_ERROR_CODES)[number];

/** An explicit error answer: every accepted request gets a result or one of these. */
export interface InferenceErrorReply {
  /** Absent only when the request was too malformed to carry one. */
  readonly requestId?: string | undefined;
  readonly error: { readonly code: InferenceErrorCode; readonly message: string };
}

export type InferenceReply = InferenceResult | InferenceErrorReply;

export function isInferenceError(reply: InferenceReply): reply is InferenceErrorReply {
  return 'error' in reply && reply.error !== undefined;
}

// ---------------------------------------------------------------- errors

/**
 * A payload that does not decode: not UTF-8, not JSON, or a field out of range. A
 * `ValidationError` whose `field` is the path inside the payload (e.g. `streams[0].queueDepth`,
 * or `payload` for the whole thing), with the subject it arrived on.
 */
export class MalformedEventError extends ValidationError {
  readonly subject: string;

  constructor(subject: string, field: string, reason: string) {
    super(field, reason);
    this.subject = subject;
    this.message = `malformed payload on ${subject}: ${field}: ${reason}`;
  }
}

// ---------------------------------------------------------------- field checks

type Obj = Record<string, unknown>;

function fail(field: string, reason: string, value: unknown): never {
  throw new ValidationError(field, `${reason}, got ${describeJson(value)}`);
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return describeValue(value);
}

function object(field: string, value: unknown): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object', value);
  return value as Obj;
}

function array(field: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) fail(field, 'must be an array', value);
  return value;
}

function text(field: string, value: unknown, maxLength = 256): string {
  if (typeof value !== 'string' || value.length === 0) fail(field, 'must be a non-empty string', value);
  if (value.length > maxLength) throw new ValidationError(field, `must be at most ${maxLength} characters, got ${value.length}`);
  return value;
}

function anyText(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, 'must be a string', value);
  return value;
}

function positive(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(field, 'must be a positive number', value);
  return value;
}

function nonNegative(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(field, 'must be a number ≥ 0', value);
  return value;
}

function positiveInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail(field, 'must be a positive integer', value);
  return value;
}

function count(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(field, 'must be an integer ≥ 0', value);
  return value;
}

function bool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(field, 'must be true or false', value);
  return value;
}

function timestamp(field: string, value: unknown): string {
  // RFC 3339 with a zone; Date.parse alone accepts too much (e.g. "1").
  if (typeof value !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) || Number.isNaN(Date.parse(value))) {
    fail(field, 'must be an RFC 3339 timestamp such as 2025-01-31T12:00:00.000Z', value);
  }
  return value;
}

function token(field: string, value: unknown): string {
  return validateToken(field, value);
}

function optional<T>(obj: Obj, key: string, prefix: string, check: (field: string, value: unknown) => T): T | undefined {
  const value = obj[key];
  return value === undefined || value === null ? undefined : check(prefix + key, value);
}

function withoutUndefined<T extends Obj>(obj: T): T {
  for (const key of Object.keys(obj)) if (obj[key] === undefined) delete obj[key];
  return obj;
}

function powerMode(field: string, value: unknown): PowerMode {
  const o = object(field, value);
  return {
    cores: positiveInteger(`${field}.cores`, o['cores']),
    cpuMhz: positive(`${field}.cpuMhz`, o['cpuMhz']),
    gpuMhz: positive(`${field}.gpuMhz`, o['gpuMhz']),
    emcMhz: positive(`${field}.emcMhz`, o['emcMhz']),
  };
}

function list<T>(field: string, value: unknown, item: (field: string, value: unknown) => T): T[] {
  return array(field, value).map((v, i) => item(`${field}[${i}]`, v));
}

// ---------------------------------------------------------------- per-payload checks (field prefix '' = top level)

function arrivalRates(value: unknown): ArrivalRatesEvent {
  const o = object('payload', value);
  return withoutUndefined({
    measuredAt: timestamp('measuredAt', o['measuredAt']),
    windowS: positive('windowS', o['windowS']),
    planId: optional(o, 'planId', '', text),
    streams: list('streams', o['streams'], (f, v) => {
      const s = object(f, v);
      return withoutUndefined({
        stream: token(`${f}.stream`, s['stream']),
        arrivalRatePerS: nonNegative(`${f}.arrivalRatePerS`, s['arrivalRatePerS']),
        plannedRatePerS: optional(s, 'plannedRatePerS', `${f}.`, nonNegative),
      });
    }),
  });
}

function profileResult(value: unknown): ProfileResult {
  const o = object('payload', value);
  const kind = o['kind'];
  if (kind !== 'train' && kind !== 'infer') fail('kind', 'must be "train" or "infer"', kind);
  return {
    device: token('device', o['device']),
    softwareStack: text('softwareStack', o['softwareStack']),
    workload: text('workload', o['workload']),
    kind,
    batchSize: positiveInteger('batchSize', o['batchSize']),
    mode: powerMode('mode', o['mode']),
    timeMs: positive('timeMs', o['timeMs']),
    powerW: positive('powerW', o['powerW']),
    measuredAt: timestamp('measuredAt', o['measuredAt']),
    samples: positiveInteger('samples', o['samples']),
  };
}

function planApplied(value: unknown): PlanAppliedEvent {
  const o = object('payload', value);
  return withoutUndefined({
    planId: text('planId', o['planId']),
    appliedAt: timestamp('appliedAt', o['appliedAt']),
    mode: powerMode('mode', o['mode']),
    streams: list('streams', o['streams'], (f, v) => {
      const s = object(f, v);
      return withoutUndefined({
        stream: token(`${f}.stream`, s['stream']),
        batchSize: positiveInteger(`${f}.batchSize`, s['batchSize']),
        arrivalRatePerS: optional(s, 'arrivalRatePerS', `${f}.`, positive),
        latencyBudgetS: optional(s, 'latencyBudgetS', `${f}.`, positive),
        predictedLatencyS: optional(s, 'predictedLatencyS', `${f}.`, nonNegative),
        utilization: optional(s, 'utilization', `${f}.`, nonNegative),
      });
    }),
    trainWorkload: optional(o, 'trainWorkload', '', text),
    trainBatchSize: optional(o, 'trainBatchSize', '', positiveInteger),
    predictedTrainThroughputSamplesPerS: optional(o, 'predictedTrainThroughputSamplesPerS', '', nonNegative),
    predictedPowerW: optional(o, 'predictedPowerW', '', nonNegative),
    feasible: optional(o, 'feasible', '', bool),
    strategy: optional(o, 'strategy', '', text),
  });
}

function telemetry(value: unknown): TelemetryEvent {
  const o = object('payload', value);
  return withoutUndefined({
    measuredAt: timestamp('measuredAt', o['measuredAt']),
    mode: optional(o, 'mode', '', powerMode),
    powerW: optional(o, 'powerW', '', nonNegative),
    rails: optional(o, 'rails', '', (f, v) =>
      list(f, v, (rf, rv) => {
        const r = object(rf, rv);
        return { rail: text(`${rf}.rail`, r['rail']), powerW: nonNegative(`${rf}.powerW`, r['powerW']) };
      }),
    ),
    planId: optional(o, 'planId', '', text),
    trainThroughputSamplesPerS: optional(o, 'trainThroughputSamplesPerS', '', nonNegative),
    utilization: optional(o, 'utilization', '', nonNegative),
    streams: optional(o, 'streams', '', (f, v) =>
      list(f, v, (sf, sv) => {
        const s = object(sf, sv);
        return withoutUndefined({
          stream: token(`${sf}.stream`, s['stream']),
          batchSize: optional(s, 'batchSize', `${sf}.`, positiveInteger),
          arrivalRatePerS: optional(s, 'arrivalRatePerS', `${sf}.`, nonNegative),
          queueDepth: count(`${sf}.queueDepth`, s['queueDepth']),
          latencyP50S: optional(s, 'latencyP50S', `${sf}.`, nonNegative),
          latencyP99S: optional(s, 'latencyP99S', `${sf}.`, nonNegative),
          latencyMaxS: optional(s, 'latencyMaxS', `${sf}.`, nonNegative),
          completed: optional(s, 'completed', `${sf}.`, count),
          failed: optional(s, 'failed', `${sf}.`, count),
        });
      }),
    ),
    activity: optional(o, 'activity', '', activity),
  });
}

function activity(field: string, value: unknown): ExecutorActivity {
  const o = object(field, value);
  const state = o['state'];
  if (!(ACTIVITY_STATES as readonly unknown[]).includes(state)) fail(`${field}.state`, `must be one of ${ACTIVITY_STATES.join(', ')}`, state);
  const busy = state !== 'idle';
  return withoutUndefined({
    state: state as ActivityState,
    workload: busy ? text(`${field}.workload`, o['workload']) : optional(o, 'workload', `${field}.`, text),
    batchSize: busy ? positiveInteger(`${field}.batchSize`, o['batchSize']) : optional(o, 'batchSize', `${field}.`, positiveInteger),
    stream: optional(o, 'stream', `${field}.`, token),
    measurement: optional(o, 'measurement', `${field}.`, bool),
  });
}

const CHECKS: { [K in EventKind]: (value: unknown) => BusEvents[K] } = {
  'arrivals.rate': arrivalRates,
  'profile.completed': profileResult,
  'plan.applied': planApplied,
  telemetry,
};

function inferenceRequest(value: unknown): InferenceRequest {
  const o = object('payload', value);
  return withoutUndefined({
    requestId: text('requestId', o['requestId']),
    input: o['input'],
    sentAt: optional(o, 'sentAt', '', timestamp),
  });
}

function inferenceReply(value: unknown): InferenceReply {
  const o = object('payload', value);
  if (o['error'] !== undefined) {
    const e = object('error', o['error']);
    const code = e['code'];
    if (!(INFERENCE_ERROR_CODES as readonly unknown[]).includes(code)) fail('error.code', `must be one of ${INFERENCE_ERROR_CODES.join(', ')}`, code);
    return withoutUndefined({
      requestId: optional(o, 'requestId', '', text),
      error: { code: code as InferenceErrorCode, message: anyText('error.message', e['message']) },
    });
  }
  return withoutUndefined({
    requestId: text('requestId', o['requestId']),
    output: o['output'],
    latencyS: nonNegative('latencyS', o['latencyS']),
    queueS: nonNegative('queueS', o['queueS']),
    batchSize: positiveInteger('batchSize', o['batchSize']),
  });
}

// ---------------------------------------------------------------- encoding

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function parseJson(subject: string, data: Uint8Array | string): unknown {
  let textValue: string;
  try {
    textValue = typeof data === 'string' ? data : utf8Decoder.decode(data);
  } catch {
    throw new MalformedEventError(subject, 'payload', 'is not valid UTF-8');
  }
  try {
    return JSON.parse(textValue);
  } catch (err) {
    const preview = textValue.length > 60 ? `${textValue.slice(0, 60)}…` : textValue;
    throw new MalformedEventError(subject, 'payload', `is not JSON (${(err as Error).message}): ${JSON.stringify(preview)}`);
  }
}

function checked<T>(subject: string, check: (value: unknown) => T, value: unknown): T {
  try {
    return check(value);
  } catch (err) {
    if (err instanceof ValidationError && !(err instanceof MalformedEventError)) throw new MalformedEventError(subject, err.field, err.reason);
    throw err;
  }
}

function encodeJson(value: unknown): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(value));
}

/**
 * Checks a payload object of `kind` (not bytes) and returns a clean copy (unknown fields
 * dropped); throws a plain `ValidationError` naming the field. For code that takes events from
 * elsewhere, e.g. a profile store.
 */
export function validateEvent<K extends EventKind>(kind: K, value: unknown): BusEvents[K] {
  return CHECKS[kind](value);
}

/** Validates `event` as a `kind` payload and returns its JSON bytes; throws `MalformedEventError`. */
export function encodeEvent<K extends EventKind>(kind: K, event: BusEvents[K], subject: string = kind): Uint8Array {
  return encodeJson(checked(subject, CHECKS[kind], event));
}

/** Decodes and validates a `kind` payload; throws `MalformedEventError` naming the field. */
export function decodeEvent<K extends EventKind>(kind: K, data: Uint8Array | string, subject: string = kind): BusEvents[K] {
  return checked(subject, CHECKS[kind], parseJson(subject, data));
}

export function encodeInferenceRequest(request: InferenceRequest, subject = 'infer'): Uint8Array {
  return encodeJson(checked(subject, inferenceRequest, request));
}

export function decodeInferenceRequest(data: Uint8Array | string, subject = 'infer'): InferenceRequest {
  return checked(subject, inferenceRequest, parseJson(subject, data));
}

export function encodeInferenceReply(reply: InferenceReply, subject = 'infer'): Uint8Array {
  return encodeJson(checked(subject, inferenceReply, reply));
}

export function decodeInferenceReply(data: Uint8Array | string, subject = 'infer'): InferenceReply {
  return checked(subject, inferenceReply, parseJson(subject, data));
}

/** Best effort: the `requestId` of a request that failed validation, to echo in the `invalid` reply. */
export function salvageRequestId(data: Uint8Array): string | undefined {
  try {
    const value = JSON.parse(utf8Decoder.decode(data)) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const id = (value as Obj)['requestId'];
      if (typeof id === 'string' && id.length > 0 && id.length <= 256) return id;
    }
  } catch {
    // nothing to salvage
  }
  return undefined;
}

/** Plain JSON for KV values and raw payloads (no schema). */
export function encodeJsonValue(value: unknown): Uint8Array {
  return encodeJson(value);
}

export function decodeJsonValue(data: Uint8Array, where: string): unknown {
  return parseJson(where, data);
}
