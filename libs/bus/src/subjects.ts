/**
 * SPEC §1 event subjects: `fulcrum.<device>.<kind>` and `fulcrum.<device>.infer.<stream>`.
 *
 * Subjects are built only from validated tokens, so a device or stream name can never smuggle a
 * dot (an extra subject level) or a wildcard (`*`, `>`) into a publish.
 */
import { TOKEN_RULE, requireToken } from '@fulcrum/core';
import { ValidationError, describeValue } from '@fulcrum/core/internal';

export const SUBJECT_PREFIX = 'fulcrum';

/**
 * The broadcast events (publish/subscribe); `infer` is request/reply and has its own type.
 * `power` is the device-controller's power telemetry, `activity` what the executor's GPU runs
 * now (the virtual device-controller follows it), `executor.status` the executor's queues,
 * latencies and throughput.
 */
export const EVENT_KINDS = ['arrivals.rate', 'profile.completed', 'plan.applied', 'power', 'activity', 'executor.status'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * Device and stream names as they appear in subjects: core's TOKEN_RULE (the one rule the problem
 * validator and the catalog check too). Deliberately narrower than what NATS accepts (no dots,
 * spaces, wildcards), so the same name also works in a JetStream stream name and a KV key.
 */
const TOKEN_RE = TOKEN_RULE;

/** Checks one subject token (a device or stream name) and returns it; throws `ValidationError(field, …)`. */
export function validateToken(field: string, value: unknown): string {
  return requireToken(field, value, 'a subject token');
}

/** A concrete subject of a broadcast event, e.g. `fulcrum.orin-1.power`. */
export interface EventSubject<K extends EventKind = EventKind> {
  readonly kind: K;
  readonly device: string;
  readonly subject: string;
}

/** A concrete inference subject, `fulcrum.<device>.infer.<stream>`. */
export interface InferSubject {
  readonly kind: 'infer';
  readonly device: string;
  readonly stream: string;
  readonly subject: string;
}

export type ParsedSubject = EventSubject | InferSubject;

/**
 * What a subscription listens to: one kind, on one device or on every device (`device`
 * undefined; the subject then has `*` in the device position). Every `EventSubject<K>` is also
 * a filter for exactly that subject.
 */
export interface EventFilter<K extends EventKind = EventKind> {
  readonly kind: K;
  readonly device?: string | undefined;
  readonly subject: string;
}

/** Inference requests one service answers: one device or all, one stream or all. */
export interface InferFilter {
  readonly kind: 'infer';
  readonly device?: string | undefined;
  readonly stream?: string | undefined;
  readonly subject: string;
}

function isEventKind(value: unknown): value is EventKind {
  return (EVENT_KINDS as readonly unknown[]).includes(value);
}

export function eventSubject<K extends EventKind>(kind: K, device: string): EventSubject<K> {
  if (!isEventKind(kind)) throw new ValidationError('kind', `must be one of ${EVENT_KINDS.join(', ')}, got ${describeValue(kind)}`);
  validateToken('device', device);
  return { kind, device, subject: `${SUBJECT_PREFIX}.${device}.${kind}` };
}

export function arrivalsRateSubject(device: string): EventSubject<'arrivals.rate'> {
  return eventSubject('arrivals.rate', device);
}

export function profileCompletedSubject(device: string): EventSubject<'profile.completed'> {
  return eventSubject('profile.completed', device);
}

export function planAppliedSubject(device: string): EventSubject<'plan.applied'> {
  return eventSubject('plan.applied', device);
}

/** `fulcrum.<device>.power`: the device-controller's power telemetry. */
export function powerSubject(device: string): EventSubject<'power'> {
  return eventSubject('power', device);
}

/** `fulcrum.<device>.activity`: what the executor's GPU runs now. */
export function activitySubject(device: string): EventSubject<'activity'> {
  return eventSubject('activity', device);
}

/** `fulcrum.<device>.executor.status`: the executor's throughput, GPU share, queues and latencies. */
export function executorStatusSubject(device: string): EventSubject<'executor.status'> {
  return eventSubject('executor.status', device);
}

export function inferSubject(device: string, stream: string): InferSubject {
  validateToken('device', device);
  validateToken('stream', stream);
  return { kind: 'infer', device, stream, subject: `${SUBJECT_PREFIX}.${device}.infer.${stream}` };
}

/** Subscribe to `kind` on `device`, or on every device when `device` is omitted. */
export function eventFilter<K extends EventKind>(kind: K, device?: string): EventFilter<K> {
  if (device !== undefined) return eventSubject(kind, device);
  if (!isEventKind(kind)) throw new ValidationError('kind', `must be one of ${EVENT_KINDS.join(', ')}, got ${describeValue(kind)}`);
  return { kind, device: undefined, subject: `${SUBJECT_PREFIX}.*.${kind}` };
}

/** Serve inference requests for `stream` (or every stream) on `device` (or every device). */
export function inferFilter(device?: string, stream?: string): InferFilter {
  if (device !== undefined) validateToken('device', device);
  if (stream !== undefined) validateToken('stream', stream);
  return { kind: 'infer', device, stream, subject: `${SUBJECT_PREFIX}.${device ?? '*'}.infer.${stream ?? '*'}` };
}

/**
 * Parses a concrete Fulcrum subject (no wildcards). Throws `ValidationError('subject', …)` for
 * anything that is not one of the SPEC §1 subjects.
 */
export function parseSubject(subject: string, field = 'subject'): ParsedSubject {
  if (typeof subject !== 'string') throw new ValidationError(field, `must be a string, got ${describeValue(subject)}`);
  const tokens = subject.split('.');
  const expected = `expected ${SUBJECT_PREFIX}.<device>.infer.<stream> or ${SUBJECT_PREFIX}.<device>.{${EVENT_KINDS.join('|')}}, got ${describeValue(subject)}`;
  if (tokens[0] !== SUBJECT_PREFIX || tokens.length < 3) throw new ValidationError(field, expected);
  const device = tokens[1]!;
  if (!TOKEN_RE.test(device)) throw new ValidationError(field, `device ${describeValue(device)} is not a valid token; ${expected}`);
  const rest = tokens.slice(2).join('.');
  if (tokens[2] === 'infer' && tokens.length === 4) {
    const stream = tokens[3]!;
    if (!TOKEN_RE.test(stream)) throw new ValidationError(field, `stream ${describeValue(stream)} is not a valid token; ${expected}`);
    return inferSubject(device, stream);
  }
  if (isEventKind(rest)) return eventSubject(rest, device);
  throw new ValidationError(field, expected);
}

/** NATS subject matching: `*` matches one token, a final `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}
