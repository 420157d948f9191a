/**
 * Payloads of the SPEC §1 events, their JSON encoding, and their decoders.
 *
 * The contract is `proto/fulcrum/events/v1/events.proto`: the types below are the ts-proto types
 * generated from it (`@fulcrum/proto`'s `events`), narrowed where the bus requires a field the
 * proto cannot (a Timestamp or message that must be present). On the wire each payload is the
 * proto3 JSON form of its message. Decoding has two steps:
 *
 * 1. the contract: @bufbuild/protobuf reads the JSON against the message in the descriptor set
 *    (JSON types, integer ranges, enum names, RFC 3339 timestamps), drops unknown fields (a newer
 *    publisher does not break an older subscriber) and fills proto3 defaults (`0`, `''`, `[]`);
 *    where it fails, the offending field's path is found by walking the same descriptors;
 * 2. the meaning, written here: positive rates, subject-token names, required messages, an idle
 *    activity needs no workload, …
 *
 * Timestamps and `google.protobuf.Value` fields (the inference input/output) keep the text and
 * JSON they were sent with once checked.
 */
import { ScalarType, createFileRegistry, fromBinary, fromJson, toJson, type DescField, type DescMessage, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ValidationError, describeValue, requireArrivalRatePerS, requireLatencyBudgetS, requireWindowWeightsSquared, type ProfileResult as CoreProfileResult, type WorkloadKind } from '@fulcrum/core/internal';
import { events, loadDescriptorSet } from '@fulcrum/proto';
import { validateToken, type EventKind } from './subjects.js';

// ---------------------------------------------------------------- payload types (generated)

/** `T` with the fields `K` present (the bus rejects a payload without them). */
type Present<T, K extends keyof T> = T & { readonly [P in K]-?: Exclude<T[P], undefined> };

/** `fulcrum.<board>.arrivals.rate`: the executor's measured arrival rates, published when they move. */
export type ArrivalRatesEvent = Present<events.ArrivalRatesEvent, 'measuredAt'>;
export type StreamArrivalRate = events.StreamArrivalRate;

/**
 * `fulcrum.<board>.profile.completed`: one profiled (mode, workload, batch) result — core's
 * `ProfileResult`, carried as `events.ProfileCompletedEvent` (the same fields, `kind` as text).
 */
export type ProfileResult = CoreProfileResult;
/** Checked when this compiles: the wire message and the domain record stay the same shape. */
type WireProfileResult = Omit<Present<events.ProfileCompletedEvent, 'mode' | 'measuredAt'>, 'kind'>;
const profileResultMatchesWire: [CoreProfileResult extends WireProfileResult ? true : never, WireProfileResult extends Omit<CoreProfileResult, 'kind'> ? true : never] = [true, true];
void profileResultMatchesWire;

/** `fulcrum.<board>.plan.applied`: the plan now running on the device. */
export type PlanAppliedEvent = Present<events.PlanAppliedEvent, 'appliedAt' | 'mode'>;
export type PlannedStream = events.PlannedStream;

/** `fulcrum.<board>.power`: the device-controller's power telemetry. */
export type PowerTelemetryEvent = Present<events.PowerTelemetryEvent, 'measuredAt'>;
export type RailPower = events.RailPower;

/** `fulcrum.<board>.executor.status`: the executor's throughput, GPU share, queues and latencies. */
export type ExecutorStatusEvent = Present<events.ExecutorStatusEvent, 'measuredAt'>;
export type StreamTelemetry = events.StreamTelemetry;

/** What the executor's GPU runs now (`measuredAt` is set when it is published). */
export type ExecutorActivity = events.ExecutorActivity;
/** `fulcrum.<board>.activity`: an `ExecutorActivity` with its `measuredAt`. */
export type ExecutorActivityEvent = Present<events.ExecutorActivity, 'measuredAt'>;
/** `ActivityState.IDLE` (`'ACTIVITY_STATE_IDLE'`), `TRAIN`, `INFER`; `UNSPECIFIED` is rejected. */
export const ActivityState = events.ActivityState;
export type ActivityState = events.ActivityState;

/** `fulcrum.<board>.board.announce`: a board's executor saying who it is. */
export type BoardAnnounceEvent = Present<events.BoardAnnounceEvent, 'measuredAt'>;

/** Payload type of each broadcast event kind. */
export interface BusEvents {
  'board.announce': BoardAnnounceEvent;
  'arrivals.rate': ArrivalRatesEvent;
  'profile.completed': ProfileResult;
  'plan.applied': PlanAppliedEvent;
  power: PowerTelemetryEvent;
  activity: ExecutorActivityEvent;
  'executor.status': ExecutorStatusEvent;
}

/** A request on `fulcrum.<board>.infer.<stream>` (the stream is in the subject). */
export type InferenceRequest = events.InferenceRequest;

/** The result of one inference request. */
export type InferenceResult = Omit<events.InferenceReply, 'error'>;

export const INFERENCE_ERROR_CODES = ['deadline', 'shed', 'shutdown', 'invalid', 'unavailable', 'internal'] as const;
/** See `fulcrum.events.v1.InferenceError.code`. */
export type InferenceErrorCode = (typeof INFERENCE_ERROR_CODES)[number];

/** An explicit error answer: every accepted request gets a result or one of these. */
export interface InferenceErrorReply {
  /** Absent only when the request was too malformed to carry one. */
  readonly requestId?: string | undefined;
  readonly error: events.InferenceError & { readonly code: InferenceErrorCode };
}

export type InferenceReply = InferenceResult | InferenceErrorReply;

/** An error answer (not a result)? */
export function isErrorReply(reply: InferenceReply): reply is InferenceErrorReply {
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

// ---------------------------------------------------------------- the contract (generic)

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, loadDescriptorSet()));

function message(name: string): DescMessage {
  const desc = registry.getMessage(`fulcrum.events.v1.${name}`);
  if (!desc) throw new Error(`@fulcrum/bus: fulcrum.events.v1.${name} is not in @fulcrum/proto's descriptor set`);
  return desc;
}

/** Well-known types whose JSON is taken as sent once the contract accepted it. */
const VERBATIM = new Set(['google.protobuf.Timestamp', 'google.protobuf.Value']);

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return describeValue(value);
}

function fieldOf(desc: DescMessage, key: string): DescField | undefined {
  return desc.fields.find((f) => f.jsonName === key || f.name === key);
}

function messageOf(field: DescField): DescMessage | undefined {
  return field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message') ? field.message : undefined;
}

/** @bufbuild/protobuf's reason, without its `cannot decode field x.y.Z.f from JSON: ` prefix. */
function reasonOf(err: unknown, value: unknown): string {
  const text = (err as Error).message.replace(/^cannot decode (field|message|enum) \S+ from JSON: /, '');
  return / got /.test(text) ? text : `${text}, got ${describeJson(value)}`;
}

/** Throws `ValidationError(path, …)` for the first field of `value` the contract rejects. */
function locate(desc: DescMessage, value: unknown, path: string): void {
  if (!isObject(value)) throw new ValidationError(path || 'payload', `must be a JSON object, got ${describeJson(value)}`);
  const at = (key: string): string => (path ? `${path}.${key}` : key);
  const alone = (key: string, v: unknown, field: string): void => {
    try {
      fromJson(desc, { [key]: v } as JsonObject, { ignoreUnknownFields: true, registry });
    } catch (err) {
      const timestamp = fieldOf(desc, key)?.message?.typeName === 'google.protobuf.Timestamp';
      throw new ValidationError(field, timestamp ? `must be an RFC 3339 timestamp such as 2025-01-31T12:00:00.000Z, got ${describeJson(v)}` : reasonOf(err, v));
    }
  };
  for (const [key, v] of Object.entries(value)) {
    const field = fieldOf(desc, key);
    if (!field || v === null) continue;
    const inner = messageOf(field);
    const nested = inner !== undefined && !VERBATIM.has(inner.typeName);
    if (field.fieldKind === 'list' && Array.isArray(v)) {
      v.forEach((item, i) => (nested ? locate(inner, item, `${at(key)}[${i}]`) : alone(key, [item], `${at(key)}[${i}]`)));
    } else if (field.fieldKind === 'message' && nested) {
      locate(inner, v, at(key));
    } else {
      alone(key, v, at(key));
    }
  }
}

/**
 * Reads `value` as the proto3 JSON of `desc`: the clean JSON object (unknown fields dropped,
 * proto3 defaults filled), or `ValidationError` naming the field the contract rejects.
 */
function readContract(desc: DescMessage, value: unknown): Obj {
  if (!isObject(value)) throw new ValidationError('payload', `must be a JSON object, got ${describeJson(value)}`);
  // Value fields (any JSON, e.g. a model input) skip the round trip through google.protobuf.Value
  // messages and the copy below.
  const verbatim: Obj = {};
  const rest: Obj = { ...value };
  for (const field of desc.fields) {
    if (messageOf(field)?.typeName !== 'google.protobuf.Value' || field.fieldKind !== 'message') continue;
    for (const key of [field.jsonName, field.name]) {
      if (rest[key] !== undefined) verbatim[field.jsonName] = rest[key];
      delete rest[key];
    }
  }
  // What a publisher hands over, as JSON: no `undefined`, a `Date` as its ISO text.
  const input = JSON.parse(JSON.stringify(rest)) as Obj;
  let json: JsonValue;
  try {
    json = toJson(desc, fromJson(desc, input as JsonObject, { ignoreUnknownFields: true, registry }), { alwaysEmitImplicit: true, registry });
  } catch (err) {
    locate(desc, input, '');
    throw new ValidationError('payload', reasonOf(err, input));
  }
  return Object.assign(keepTimestamps(desc, numbers64(desc, json as Obj), input), verbatim);
}

const SCALARS_64 = new Set<ScalarType>([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);

/**
 * Puts 64-bit integers back as JSON numbers: the proto JSON mapping writes them as strings
 * (`"trainStep": "68"`), which every reader of an event (and its checks) takes as a number.
 * Beyond ±(2^53 − 1) a number would lose digits: refused, naming the field.
 */
function numbers64(desc: DescMessage, out: Obj, prefix = ''): Obj {
  for (const field of desc.fields) {
    const v = out[field.jsonName];
    if (v === undefined || v === null) continue;
    if (field.fieldKind === 'scalar' && SCALARS_64.has(field.scalar)) out[field.jsonName] = as64(v, prefix + field.jsonName);
    else if (field.fieldKind === 'list' && field.listKind === 'scalar' && SCALARS_64.has(field.scalar) && Array.isArray(v)) out[field.jsonName] = v.map((x, i) => as64(x, `${prefix}${field.jsonName}[${i}]`));
    else {
      const inner = messageOf(field);
      if (!inner || VERBATIM.has(inner.typeName)) continue;
      if (field.fieldKind === 'message' && isObject(v)) numbers64(inner, v, `${prefix}${field.jsonName}.`);
      if (field.fieldKind === 'list' && Array.isArray(v)) v.forEach((o, i) => isObject(o) && numbers64(inner, o, `${prefix}${field.jsonName}[${i}].`));
    }
  }
  return out;
}

/** One 64-bit integer of proto JSON (a string) as a number; `at` names the field when it would lose digits. */
function as64(x: unknown, at: string): unknown {
  if (typeof x !== 'string') return x;
  const n = Number(x);
  if (!Number.isSafeInteger(n)) throw new ValidationError(at, `must be an integer within ±${Number.MAX_SAFE_INTEGER}, got ${x}`);
  return n;
}

/** Puts the RFC 3339 text each Timestamp was sent with back (toJson would rewrite it). */
function keepTimestamps(desc: DescMessage, out: Obj, sent: Obj): Obj {
  for (const field of desc.fields) {
    const inner = messageOf(field);
    if (!inner || out[field.jsonName] === undefined) continue;
    const original = sent[field.jsonName] ?? sent[field.name];
    if (inner.typeName === 'google.protobuf.Timestamp') {
      if (field.fieldKind === 'message' && typeof original === 'string') out[field.jsonName] = original;
    } else if (!VERBATIM.has(inner.typeName)) {
      if (field.fieldKind === 'message' && isObject(original)) keepTimestamps(inner, out[field.jsonName] as Obj, original);
      if (field.fieldKind === 'list' && Array.isArray(original)) (out[field.jsonName] as Obj[]).forEach((o, i) => isObject(original[i]) && keepTimestamps(inner, o, original[i]));
    }
  }
  return out;
}

// ---------------------------------------------------------------- the meaning (hand-written)

function fail(field: string, reason: string, value: unknown): never {
  throw new ValidationError(field, `${reason}, got ${describeJson(value)}`);
}

function required(field: string, value: unknown): void {
  if (value === undefined) throw new ValidationError(field, 'is required');
}

function text(field: string, value: unknown, maxLength = 256): void {
  if (typeof value !== 'string' || value.length === 0) fail(field, 'must be a non-empty string', value);
  if (value.length > maxLength) throw new ValidationError(field, `must be at most ${maxLength} characters, got ${value.length}`);
}

/** Doubles may arrive as "NaN"/"Infinity" (proto3 JSON); none of ours may be. */
function positive(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(field, 'must be a positive number', value);
}

function nonNegative(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(field, 'must be a number ≥ 0', value);
}

/**
 * A stream's λ (requests/s) and L (s) as a problem has them: positive and within core's
 * PROBLEM_LIMITS (1e6 requests/s, 3600 s), so an optimizer that re-plans from an event gets a
 * problem the services accept. A measured rate may be 0 (no arrivals in the window).
 */
function arrivalRate(field: string, value: unknown): void {
  positive(field, value);
  requireArrivalRatePerS(field, value);
}

function measuredArrivalRate(field: string, value: unknown): void {
  nonNegative(field, value);
  if (value !== 0) requireArrivalRatePerS(field, value);
}

function latencyBudget(field: string, value: unknown): void {
  positive(field, value);
  requireLatencyBudgetS(field, value);
}

/** A uint32 the contract already checked; 0 is what proto3 reads for a missing one. */
function positiveInteger(field: string, value: unknown): void {
  if (value === 0) fail(field, 'must be a positive integer', value);
}

function oneOf(field: string, value: unknown, allowed: readonly string[]): void {
  if (!allowed.includes(value as string)) fail(field, `must be one of ${allowed.join(', ')}`, value);
}

/** Runs `check(path, value)` on `o[key]` when it is present. */
function opt(o: Obj, key: string, prefix: string, check: (field: string, value: unknown) => void): void {
  if (o[key] !== undefined) check(prefix + key, o[key]);
}

function each(o: Obj, key: string, check: (item: Obj, prefix: string) => void): void {
  (o[key] as Obj[]).forEach((item, i) => check(item, `${key}[${i}].`));
}

function powerMode(field: string, value: unknown): void {
  const m = value as Obj;
  positiveInteger(`${field}.cores`, m['cores']);
  for (const knob of ['cpuMhz', 'gpuMhz', 'emcMhz']) positive(`${field}.${knob}`, m[knob]);
}

const MEANING: { [K in EventKind]: (o: Obj) => void } = {
  'arrivals.rate': (o) => {
    required('measuredAt', o['measuredAt']);
    positive('windowS', o['windowS']);
    opt(o, 'planId', '', text);
    each(o, 'streams', (s, p) => {
      validateToken(`${p}stream`, s['stream']);
      measuredArrivalRate(`${p}arrivalRatePerS`, s['arrivalRatePerS']);
      opt(s, 'plannedRatePerS', p, measuredArrivalRate);
    });
  },
  'profile.completed': (o) => {
    validateToken('device', o['device']);
    text('softwareStack', o['softwareStack']);
    text('workload', o['workload']);
    oneOf('kind', o['kind'], ['train', 'infer']);
    positiveInteger('batchSize', o['batchSize']);
    required('mode', o['mode']);
    powerMode('mode', o['mode']);
    positive('timeMs', o['timeMs']);
    positive('powerW', o['powerW']);
    required('measuredAt', o['measuredAt']);
    positiveInteger('samples', o['samples']);
    opt(o, 'timeSeMs', '', nonNegative);
    opt(o, 'powerSeW', '', nonNegative);
    opt(o, 'windows', '', positiveInteger);
    // Σwᵢ² of the combined windows: only with windows ≥ 2, in [1/windows, 1].
    opt(o, 'windowWeightsSquared', '', (field, value) => {
      const windows = typeof o['windows'] === 'number' ? o['windows'] : 1;
      if (windows < 2) throw new ValidationError(field, 'is only for a result combined from windows ≥ 2 (`windows`)');
      requireWindowWeightsSquared(field, value, windows);
    });
  },
  'plan.applied': (o) => {
    text('planId', o['planId']);
    required('appliedAt', o['appliedAt']);
    required('mode', o['mode']);
    powerMode('mode', o['mode']);
    each(o, 'streams', (s, p) => {
      validateToken(`${p}stream`, s['stream']);
      positiveInteger(`${p}batchSize`, s['batchSize']);
      opt(s, 'arrivalRatePerS', p, arrivalRate);
      opt(s, 'latencyBudgetS', p, latencyBudget);
      opt(s, 'predictedLatencyS', p, nonNegative);
      opt(s, 'utilization', p, nonNegative);
    });
    opt(o, 'trainWorkload', '', text);
    opt(o, 'trainBatchSize', '', positiveInteger);
    opt(o, 'predictedTrainThroughputSamplesPerS', '', nonNegative);
    opt(o, 'predictedPowerW', '', nonNegative);
    opt(o, 'strategy', '', text);
  },
  power: (o) => {
    required('measuredAt', o['measuredAt']);
    opt(o, 'mode', '', powerMode);
    nonNegative('powerW', o['powerW']);
    each(o, 'rails', (r, p) => {
      text(`${p}rail`, r['rail']);
      nonNegative(`${p}powerW`, r['powerW']);
    });
  },
  activity: (o) => {
    required('measuredAt', o['measuredAt']);
    activity(o);
  },
  'board.announce': (o) => {
    required('measuredAt', o['measuredAt']);
    validateToken('device', o['device']);
    text('softwareStack', o['softwareStack']);
    opt(o, 'planId', '', text);
    opt(o, 'jsDomain', '', validateToken);
  },
  'executor.status': (o) => {
    required('measuredAt', o['measuredAt']);
    opt(o, 'planId', '', text);
    opt(o, 'mode', '', powerMode);
    nonNegative('trainThroughputSamplesPerS', o['trainThroughputSamplesPerS']);
    nonNegative('utilization', o['utilization']);
    for (const key of ['trainTimeS', 'trainLoadS', 'trainStep']) opt(o, key, '', nonNegative);
    each(o, 'streams', (s, p) => {
      validateToken(`${p}stream`, s['stream']);
      opt(s, 'batchSize', p, positiveInteger);
      for (const key of ['arrivalRatePerS', 'latencyP50S', 'latencyP99S', 'latencyMaxS']) opt(s, key, p, nonNegative);
    });
  },
};

function activity(o: Obj): void {
  const state = o['state'];
  // proto3 JSON reads a missing state, and a name this version does not know, as UNSPECIFIED.
  if (state === ActivityState.UNSPECIFIED) {
    throw new ValidationError('state', `must be one of ${[ActivityState.IDLE, ActivityState.TRAIN, ActivityState.INFER].join(', ')} (missing or unknown)`);
  }
  if (state === ActivityState.IDLE) {
    opt(o, 'workload', '', text);
    opt(o, 'batchSize', '', positiveInteger);
  } else {
    text('workload', o['workload']);
    required('batchSize', o['batchSize']);
    positiveInteger('batchSize', o['batchSize']);
  }
  opt(o, 'stream', '', validateToken);
}

const CONTRACT: { [K in EventKind]: DescMessage } = {
  'arrivals.rate': message('ArrivalRatesEvent'),
  'profile.completed': message('ProfileCompletedEvent'),
  'plan.applied': message('PlanAppliedEvent'),
  power: message('PowerTelemetryEvent'),
  activity: message('ExecutorActivity'),
  'executor.status': message('ExecutorStatusEvent'),
  'board.announce': message('BoardAnnounceEvent'),
};
const INFERENCE_REQUEST = message('InferenceRequest');
const INFERENCE_REPLY = message('InferenceReply');

function event<K extends EventKind>(kind: K, value: unknown): BusEvents[K] {
  const o = readContract(CONTRACT[kind], value);
  MEANING[kind](o);
  return o as unknown as BusEvents[K];
}

/** The longest request id an inference request may carry, on the bus and over gRPC (it is echoed back). */
export const MAX_REQUEST_ID_CHARS = 256;

function inferenceRequest(value: unknown): InferenceRequest {
  const o = readContract(INFERENCE_REQUEST, value);
  text('requestId', o['requestId'], MAX_REQUEST_ID_CHARS);
  return o as unknown as InferenceRequest;
}

function inferenceReply(value: unknown): InferenceReply {
  const o = readContract(INFERENCE_REPLY, value);
  const error = o['error'] as Obj | undefined;
  if (error !== undefined) {
    oneOf('error.code', error['code'], INFERENCE_ERROR_CODES);
    if (o['requestId'] === '') return { error } as unknown as InferenceErrorReply;
    text('requestId', o['requestId']);
    return { requestId: o['requestId'], error } as unknown as InferenceErrorReply;
  }
  text('requestId', o['requestId']);
  nonNegative('latencyS', o['latencyS']);
  nonNegative('queueS', o['queueS']);
  positiveInteger('batchSize', o['batchSize']);
  return o as unknown as InferenceResult;
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
 * dropped, proto3 defaults filled); throws a plain `ValidationError` naming the field. For code
 * that takes events from elsewhere, e.g. a profile store.
 */
export function validateEvent<K extends EventKind>(kind: K, value: unknown): BusEvents[K] {
  return event(kind, value);
}

/** Validates `event` as a `kind` payload and returns its JSON bytes; throws `MalformedEventError`. */
export function encodeEvent<K extends EventKind>(kind: K, value: BusEvents[K], subject: string = kind): Uint8Array {
  return encodeJson(checked(subject, (v) => event(kind, v), value));
}

/** Decodes and validates a `kind` payload; throws `MalformedEventError` naming the field. */
export function decodeEvent<K extends EventKind>(kind: K, data: Uint8Array | string, subject: string = kind): BusEvents[K] {
  return checked(subject, (v) => event(kind, v), parseJson(subject, data));
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
    if (isObject(value)) {
      const id = value['requestId'];
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
