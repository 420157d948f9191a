/**
 * SPEC §1 event subjects: `fulcrum.<board>.<kind>` and `fulcrum.<board>.infer.<stream>`, keyed by
 * the board id (one physical board: `--board`, default its host name), not by its device model,
 * so two boards of one model on one NATS server never collide. A profile.completed event's payload
 * names the device model its profile belongs to (profiles are shared by every board of a model).
 *
 * Subjects are built only from validated tokens, so a board or stream name can never smuggle a
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
export const EVENT_KINDS = ['arrivals.rate', 'profile.completed', 'plan.applied', 'power', 'activity', 'executor.status', 'board.announce'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * The events that must not be lost: a publish is stored in the board's JetStream stream
 * (`boardStreamName(board)`, one per board) and acknowledged. The rest (power, activity,
 * executor.status) are telemetry, superseded every second: core NATS, at most once.
 */
export const DURABLE_KINDS = ['profile.completed', 'arrivals.rate', 'plan.applied', 'board.announce'] as const satisfies readonly EventKind[];
export type DurableKind = (typeof DURABLE_KINDS)[number];

export function isDurableKind(kind: unknown): kind is DurableKind {
  return (DURABLE_KINDS as readonly unknown[]).includes(kind);
}

/**
 * The JetStream stream holding one board's durable events (`DURABLE_KINDS`), created by the
 * board's services on first publish in the JetStream they connect to (a board's leaf server: its
 * own domain); the optimizer reads it there, or a mirror of it on the hub.
 */
export function boardStreamName(board: string): string {
  return `FULCRUM_EVENTS_${validateToken('board', board)}`;
}

/** The subjects of a board's durable stream. */
export function boardStreamSubjects(board: string): string[] {
  validateToken('board', board);
  return DURABLE_KINDS.map((kind) => `${SUBJECT_PREFIX}.${board}.${kind}`);
}

/**
 * Board and stream names as they appear in subjects: core's TOKEN_RULE (the one rule the problem
 * validator and the catalog check too). Deliberately narrower than what NATS accepts (no dots,
 * spaces, wildcards), so the same name also works in a JetStream stream name and a KV key.
 */
const TOKEN_RE = TOKEN_RULE;

/** Checks one subject token (a board or stream name) and returns it; throws `ValidationError(field, …)`. */
export function validateToken(field: string, value: unknown): string {
  return requireToken(field, value, 'a subject token');
}

/** A concrete subject of a broadcast event, e.g. `fulcrum.orin-1.power`. */
export interface EventSubject<K extends EventKind = EventKind> {
  readonly kind: K;
  readonly board: string;
  readonly subject: string;
}

/** A concrete inference subject, `fulcrum.<board>.infer.<stream>`. */
export interface InferSubject {
  readonly kind: 'infer';
  readonly board: string;
  readonly stream: string;
  readonly subject: string;
}

export type ParsedSubject = EventSubject | InferSubject;

/**
 * What a subscription listens to: one kind, on one board or on every board (`board`
 * undefined; the subject then has `*` in the board position). Every `EventSubject<K>` is also
 * a filter for exactly that subject.
 */
export interface EventFilter<K extends EventKind = EventKind> {
  readonly kind: K;
  readonly board?: string | undefined;
  readonly subject: string;
}

/** Inference requests one service answers: one board or all, one stream or all. */
export interface InferFilter {
  readonly kind: 'infer';
  readonly board?: string | undefined;
  readonly stream?: string | undefined;
  readonly subject: string;
}

function isEventKind(value: unknown): value is EventKind {
  return (EVENT_KINDS as readonly unknown[]).includes(value);
}

export function eventSubject<K extends EventKind>(kind: K, board: string): EventSubject<K> {
  if (!isEventKind(kind)) throw new ValidationError('kind', `must be one of ${EVENT_KINDS.join(', ')}, got ${describeValue(kind)}`);
  validateToken('board', board);
  return { kind, board, subject: `${SUBJECT_PREFIX}.${board}.${kind}` };
}

export function arrivalsRateSubject(board: string): EventSubject<'arrivals.rate'> {
  return eventSubject('arrivals.rate', board);
}

export function profileCompletedSubject(board: string): EventSubject<'profile.completed'> {
  return eventSubject('profile.completed', board);
}

export function planAppliedSubject(board: string): EventSubject<'plan.applied'> {
  return eventSubject('plan.applied', board);
}

/** `fulcrum.<board>.power`: the device-controller's power telemetry. */
export function powerSubject(board: string): EventSubject<'power'> {
  return eventSubject('power', board);
}

/** `fulcrum.<board>.activity`: what the executor's GPU runs now. */
export function activitySubject(board: string): EventSubject<'activity'> {
  return eventSubject('activity', board);
}

/** `fulcrum.<board>.executor.status`: the executor's throughput, GPU share, queues and latencies. */
export function executorStatusSubject(board: string): EventSubject<'executor.status'> {
  return eventSubject('executor.status', board);
}

/** `fulcrum.<board>.board.announce`: the board's executor saying who it is (model, stack, address, plan). */
export function boardAnnounceSubject(board: string): EventSubject<'board.announce'> {
  return eventSubject('board.announce', board);
}

export function inferSubject(board: string, stream: string): InferSubject {
  validateToken('board', board);
  validateToken('stream', stream);
  return { kind: 'infer', board, stream, subject: `${SUBJECT_PREFIX}.${board}.infer.${stream}` };
}

/** Subscribe to `kind` on `board`, or on every board when `board` is omitted. */
export function eventFilter<K extends EventKind>(kind: K, board?: string): EventFilter<K> {
  if (board !== undefined) return eventSubject(kind, board);
  if (!isEventKind(kind)) throw new ValidationError('kind', `must be one of ${EVENT_KINDS.join(', ')}, got ${describeValue(kind)}`);
  return { kind, board: undefined, subject: `${SUBJECT_PREFIX}.*.${kind}` };
}

/** Serve inference requests for `stream` (or every stream) on `board` (or every board). */
export function inferFilter(board?: string, stream?: string): InferFilter {
  if (board !== undefined) validateToken('board', board);
  if (stream !== undefined) validateToken('stream', stream);
  return { kind: 'infer', board, stream, subject: `${SUBJECT_PREFIX}.${board ?? '*'}.infer.${stream ?? '*'}` };
}

/**
 * Parses a concrete Fulcrum subject (no wildcards). Throws `ValidationError('subject', …)` for
 * anything that is not one of the SPEC §1 subjects.
 */
export function parseSubject(subject: string, field = 'subject'): ParsedSubject {
  if (typeof subject !== 'string') throw new ValidationError(field, `must be a string, got ${describeValue(subject)}`);
  const tokens = subject.split('.');
  const expected = `expected ${SUBJECT_PREFIX}.<board>.infer.<stream> or ${SUBJECT_PREFIX}.<board>.{${EVENT_KINDS.join('|')}}, got ${describeValue(subject)}`;
  if (tokens[0] !== SUBJECT_PREFIX || tokens.length < 3) throw new ValidationError(field, expected);
  const board = tokens[1]!;
  if (!TOKEN_RE.test(board)) throw new ValidationError(field, `board ${describeValue(board)} is not a valid token; ${expected}`);
  const rest = tokens.slice(2).join('.');
  if (tokens[2] === 'infer' && tokens.length === 4) {
    const stream = tokens[3]!;
    if (!TOKEN_RE.test(stream)) throw new ValidationError(field, `stream ${describeValue(stream)} is not a valid token; ${expected}`);
    return inferSubject(board, stream);
  }
  if (isEventKind(rest)) return eventSubject(rest, board);
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
