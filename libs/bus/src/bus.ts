/**
 * The typed bus over a byte-level transport: validation, encoding, subscriptions, services,
 * key-value buckets. Both backends (NATS, in-process) are this class over their transport.
 * @internal
 */
import { ValidationError, describeValue } from '@fulcrum/core/internal';
import { LimitedBusLog } from './log-limit.js';
import { BusError } from './errors.js';
import {
  MalformedEventError,
  decodeEvent,
  decodeInferenceReply,
  decodeInferenceRequest,
  decodeJsonValue,
  encodeEvent,
  encodeInferenceReply,
  encodeInferenceRequest,
  encodeJsonValue,
  salvageRequestId,
  type BusEvents,
  type InferenceReply,
  type InferenceRequest,
} from './events.js';
import { validateBucketName, validateKey, validateKeyFilter } from './keys.js';
import {
  eventFilter,
  eventSubject,
  inferFilter,
  inferSubject,
  isDurableKind,
  parseSubject,
  profileCompletedSubject,
  validateToken,
  type EventFilter,
  type EventKind,
  type EventSubject,
  type InferFilter,
  type InferSubject,
} from './subjects.js';
import { Delivery } from './subscription.js';
import type { MessageSink, RawKeyValue, RawKvChange, RawMessage, Transport, TransportSubscription } from './transport.js';
import type {
  BoardEventMessage,
  BusLogger,
  BusMessage,
  BusStatus,
  EventBus,
  EventHandler,
  EventSubscription,
  FollowBoardOptions,
  InferenceHandler,
  JetStreamInfo,
  InferenceService,
  KeyValueBucket,
  KeyValueChange,
  KeyValueEntry,
  KeyValueOptions,
  PublishAck,
  PublishOptions,
  ReplayOptions,
  RequestOptions,
  ServeOptions,
  ServiceStats,
  SubscribeOptions,
  Subscription,
  WatchOptions,
} from './types.js';

export interface CommonBusOptions {
  /** Where rejected payloads and failing handlers are reported; default: JSON lines on stderr. */
  readonly logger?: BusLogger | undefined;
  /** Default timeout of `request`; default 5000 ms. */
  readonly requestTimeoutMs?: number | undefined;
  /** How long `close()` waits for handlers and in-flight requests before cutting them off; default 10000 ms. */
  readonly closeTimeoutMs?: number | undefined;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

/** Warnings as JSON lines on stderr, like the services' pino output; info is dropped. */
export const stderrBusLogger: BusLogger = {
  warn(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', time: Date.now(), name: 'fulcrum-bus', ...obj, msg })}\n`);
  },
  info() {},
};

export function positiveTimeoutMs(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(field, `must be a positive number of milliseconds, got ${describeValue(value)}`);
  }
  return value;
}

function sameFilter(given: { subject: string }, rebuilt: { subject: string }, field: string): void {
  if (given.subject !== rebuilt.subject) {
    throw new ValidationError(field, `subject ${describeValue(given.subject)} does not match its parts (expected ${describeValue(rebuilt.subject)}); build it with the subject helpers`);
  }
}

function concreteSubject(field: string, subject: unknown): string {
  if (typeof subject !== 'string' || subject === '' || /[\s*>]/.test(subject) || subject.split('.').some((t) => t === '')) {
    throw new ValidationError(field, `must be a concrete NATS subject (dot-separated tokens, no spaces or wildcards), got ${describeValue(subject)}`);
  }
  return subject;
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

/** Decodes one broadcast message of `kind`: subject (its board) and payload. */
function decodeMessage<K extends EventKind>(kind: K, raw: RawMessage): BusMessage<K> {
  const parsed = parseSubject(raw.subject);
  if (parsed.kind !== kind) throw new MalformedEventError(raw.subject, 'subject', `is a ${parsed.kind} subject, expected ${kind}`);
  const event = decodeEvent(kind, raw.data, raw.subject);
  return { subject: parsed as EventSubject<K>, event, sequence: raw.sequence };
}

/** Decodes one message of a board's durable stream: any durable kind of that board. */
function decodeBoardMessage(board: string, raw: RawMessage): BoardEventMessage {
  const parsed = parseSubject(raw.subject);
  if (parsed.kind === 'infer' || !isDurableKind(parsed.kind) || parsed.board !== board) {
    throw new MalformedEventError(raw.subject, 'subject', `is not a durable event subject of board ${board}`);
  }
  const kind = parsed.kind;
  const event = decodeEvent(kind, raw.data, raw.subject);
  return { kind, subject: parsed, event, sequence: raw.sequence ?? 0, pending: raw.pending ?? 0 } as BoardEventMessage;
}

type Deliver = <Raw, M>(
  subject: string,
  decode: (raw: Raw) => M,
  handler: ((message: M) => void | Promise<void>) | undefined,
  start: (sink: MessageSink<Raw>) => TransportSubscription,
) => Subscription<M>;

interface Closable {
  drain(): Promise<void>;
  unsubscribe?(): void;
  stop?(): void;
}

export class TypedBus implements EventBus {
  readonly backend;
  readonly #transport: Transport;
  readonly #logger: LimitedBusLog;
  readonly #requestTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #open = new Set<Closable>();
  #closing: Promise<void> | undefined;

  constructor(transport: Transport, options: CommonBusOptions = {}) {
    this.backend = transport.backend;
    this.#transport = transport;
    this.#logger = new LimitedBusLog(options.logger ?? stderrBusLogger);
    this.#requestTimeoutMs = positiveTimeoutMs('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.#closeTimeoutMs = positiveTimeoutMs('closeTimeoutMs', options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
  }

  status(): BusStatus {
    return this.#closing ? 'closed' : this.#transport.status();
  }

  rejectedMessages(): number {
    return this.#logger.rejected;
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    return this.#transport.onStatus(listener);
  }

  #assertOpen(): void {
    if (this.#closing) throw new BusError('closed', 'the bus is closed');
  }

  async publish<K extends EventKind>(subject: EventSubject<K>, event: BusEvents[K], options: PublishOptions = {}): Promise<PublishAck> {
    this.#assertOpen();
    const s = eventSubject(subject.kind, subject.board);
    sameFilter(subject, s, 'subject');
    const data = encodeEvent(s.kind, event, s.subject);
    if (isDurableKind(s.kind)) {
      const msgId = options.msgId === undefined ? undefined : validateMsgId(options.msgId);
      return this.#transport.publishDurable(s.board, s.subject, data, msgId);
    }
    await this.#transport.publish(s.subject, data);
    return { durable: false };
  }

  subscribe<K extends EventKind>(filter: EventFilter<K>, handler?: EventHandler<K>, options: SubscribeOptions = {}): EventSubscription<K> {
    const f = eventFilter(filter.kind, filter.board ?? undefined);
    sameFilter(filter, f, 'filter');
    const queue = options.queue === undefined ? undefined : validateToken('queue', options.queue);
    const kind = f.kind as K;
    return this.#deliver<RawMessage, BusMessage<K>>(
      f.subject,
      (raw) => decodeMessage(kind, raw),
      handler,
      (sink) => this.#transport.subscribe(f.subject, queue, sink),
    );
  }

  followBoard(board: string, handler?: (message: BoardEventMessage) => void | Promise<void>, options: FollowBoardOptions = {}): Subscription<BoardEventMessage> {
    validateToken('board', board);
    const domain = options.domain === undefined || options.domain === '' ? undefined : validateToken('domain', options.domain);
    const from = options.from ?? 'last-per-kind';
    if (from !== 'last-per-kind' && from !== 'all' && !(Number.isSafeInteger(from) && from >= 1)) {
      throw new ValidationError('from', `must be 'last-per-kind', 'all' or a stream sequence ≥ 1, got ${describeValue(from)}`);
    }
    return this.#deliver<RawMessage, BoardEventMessage>(
      `${board} durable events`,
      (raw) => decodeBoardMessage(board, raw),
      handler,
      (sink) => this.#transport.followBoard(board, domain, from, sink),
    );
  }

  jetStream(): Promise<JetStreamInfo | undefined> {
    this.#assertOpen();
    return this.#transport.jetStream();
  }

  replayProfiles(board: string, handler?: EventHandler<'profile.completed'>, options: ReplayOptions = {}): EventSubscription<'profile.completed'> {
    const s = profileCompletedSubject(board);
    const fromSequence = options.fromSequence ?? 1;
    if (!Number.isSafeInteger(fromSequence) || fromSequence < 1) {
      throw new ValidationError('fromSequence', `must be a positive integer, got ${describeValue(fromSequence)}`);
    }
    const follow = options.follow ?? false;
    return this.#deliver<RawMessage, BusMessage<'profile.completed'>>(
      s.subject,
      (raw) => decodeMessage('profile.completed', raw),
      handler,
      (sink) => this.#transport.replay(s.board, s.subject, fromSequence, follow, sink),
    );
  }

  #deliver<Raw, M>(
    subject: string,
    decode: (raw: Raw) => M,
    handler: ((message: M) => void | Promise<void>) | undefined,
    start: (sink: MessageSink<Raw>) => TransportSubscription,
  ): Subscription<M> {
    const delivery: Delivery<Raw, M> = new Delivery<Raw, M>({
      subject,
      decode,
      handler,
      logger: this.#logger,
      onClosed: () => this.#open.delete(delivery),
    });
    if (this.#closing) {
      delivery.failNow(new BusError('closed', 'the bus is closed'));
      return delivery;
    }
    this.#open.add(delivery);
    try {
      delivery.attach(start(delivery));
    } catch (err) {
      this.#open.delete(delivery);
      throw err;
    }
    return delivery;
  }

  async request(subject: InferSubject, request: InferenceRequest, options: RequestOptions = {}): Promise<InferenceReply> {
    this.#assertOpen();
    const s = inferSubject(subject.board, subject.stream);
    sameFilter(subject, s, 'subject');
    const data = encodeInferenceRequest(request, s.subject);
    const timeoutMs = positiveTimeoutMs('timeoutMs', options.timeoutMs ?? this.#requestTimeoutMs);
    const reply = await this.#transport.request(s.subject, data, timeoutMs);
    try {
      return decodeInferenceReply(reply, s.subject);
    } catch (err) {
      throw new BusError('invalid-reply', `the reply to ${s.subject} is malformed: ${(err as Error).message}`, { cause: err });
    }
  }

  serve(filter: InferFilter, handler: InferenceHandler, options: ServeOptions = {}): InferenceService {
    const f = inferFilter(filter.board ?? undefined, filter.stream ?? undefined);
    sameFilter(filter, f, 'filter');
    const queue = options.queue === undefined ? undefined : validateToken('queue', options.queue);
    this.#assertOpen();
    const service: InferenceServiceImpl = new InferenceServiceImpl(f.subject, handler, this.#logger, () => this.#open.delete(service));
    this.#open.add(service);
    service.attach(this.#transport.subscribe(f.subject, queue, service));
    return service;
  }

  async keyValue<T>(bucket: string, options: KeyValueOptions<T>): Promise<KeyValueBucket<T>> {
    this.#assertOpen();
    validateBucketName(bucket);
    if (typeof options?.decode !== 'function') throw new ValidationError('decode', 'must be a function that checks a stored value');
    const history = options.history ?? 1;
    if (!Number.isInteger(history) || history < 1 || history > 64) {
      throw new ValidationError('history', `must be an integer from 1 to 64, got ${describeValue(history)}`);
    }
    const raw = await this.#transport.keyValue(bucket, history);
    return new TypedKeyValue<T>(raw, options.decode, () => this.#assertOpen(), (subject, decode, handler, start) => this.#deliver(subject, decode, handler, start));
  }

  async publishRaw(subject: string, data: Uint8Array | string): Promise<void> {
    this.#assertOpen();
    await this.#transport.publish(concreteSubject('subject', subject), toBytes(data));
  }

  async requestRaw(subject: string, data: Uint8Array | string, options: RequestOptions = {}): Promise<Uint8Array> {
    this.#assertOpen();
    const timeoutMs = positiveTimeoutMs('timeoutMs', options.timeoutMs ?? this.#requestTimeoutMs);
    return this.#transport.request(concreteSubject('subject', subject), toBytes(data), timeoutMs);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const open = [...this.#open];
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.#closeTimeoutMs)));
      const outcome = await Promise.race([Promise.allSettled(open.map((s) => s.drain())).then(() => 'drained' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.#logger.warn({ open: this.#open.size, closeTimeoutMs: this.#closeTimeoutMs }, 'bus: close timed out waiting for handlers; cutting them off');
        for (const s of this.#open) (s.unsubscribe ?? s.stop)?.call(s);
      }
      try {
        await this.#transport.close();
      } finally {
        this.#logger.flush();
      }
    })();
    return this.#closing;
  }
}

function validateMsgId(msgId: unknown): string {
  if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > 256 || /[\r\n]/.test(msgId)) {
    throw new ValidationError('msgId', `must be a non-empty single-line string of at most 256 characters, got ${describeValue(msgId)}`);
  }
  return msgId;
}

class InferenceServiceImpl implements InferenceService, MessageSink {
  readonly subject: string;
  ready: Promise<void> = Promise.resolve();
  readonly closed: Promise<void>;
  readonly #handler: InferenceHandler;
  readonly #logger: LimitedBusLog;
  readonly #onClosed: () => void;
  #transport: TransportSubscription | undefined;
  #received = 0;
  #answered = 0;
  #invalid = 0;
  #handlerErrors = 0;
  #inFlight = 0;
  #rejected = 0;
  #ended = false;
  #resolveClosed!: () => void;

  constructor(subject: string, handler: InferenceHandler, logger: LimitedBusLog, onClosed: () => void) {
    this.subject = subject;
    this.#handler = handler;
    this.#logger = logger;
    this.#onClosed = onClosed;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  attach(transport: TransportSubscription): void {
    this.#transport = transport;
    this.ready = transport.ready;
    this.ready.catch(() => undefined);
  }

  message(raw: RawMessage): void {
    this.#received++;
    const respond = raw.respond;
    if (!respond) {
      this.#rejected++;
      this.#logger.reject({ subject: raw.subject }, 'bus: message on an inference subject without a reply subject; dropped');
      return;
    }
    let subject: InferSubject;
    let request: InferenceRequest;
    try {
      const parsed = parseSubject(raw.subject);
      if (parsed.kind !== 'infer') throw new MalformedEventError(raw.subject, 'subject', 'is not an inference subject');
      subject = parsed;
      request = decodeInferenceRequest(raw.data, raw.subject);
    } catch (err) {
      this.#invalid++;
      this.#logger.reject({ subject: raw.subject, err: (err as Error).message }, 'bus: rejected a malformed inference request');
      this.#reply(respond, { requestId: salvageRequestId(raw.data), error: { code: 'invalid', message: (err as Error).message } }, raw.subject);
      return;
    }
    this.#inFlight++;
    void (async () => {
      let reply: InferenceReply;
      try {
        reply = await this.#handler(request, subject);
      } catch (err) {
        this.#handlerErrors++;
        this.#logger.warn({ subject: raw.subject, requestId: request.requestId, err: (err as Error)?.message ?? String(err) }, 'bus: inference handler failed');
        reply = { requestId: request.requestId, error: { code: 'internal', message: `the inference handler failed: ${(err as Error)?.message ?? String(err)}` } };
      }
      this.#reply(respond, reply, raw.subject, request.requestId);
      this.#inFlight--;
      this.#maybeClosed();
    })();
  }

  #reply(respond: (data: Uint8Array) => void, reply: InferenceReply, subject: string, requestId?: string): void {
    let data: Uint8Array;
    try {
      data = encodeInferenceReply(reply, subject);
    } catch (err) {
      this.#handlerErrors++;
      this.#logger.warn({ subject, requestId, err: (err as Error).message }, 'bus: inference handler returned a malformed reply');
      data = encodeInferenceReply({ requestId, error: { code: 'internal', message: `the executor produced a malformed reply: ${(err as Error).message}` } }, subject);
    }
    try {
      respond(data);
      this.#answered++;
    } catch (err) {
      this.#logger.warn({ subject, requestId, err: (err as Error).message }, 'bus: could not send an inference reply');
    }
  }

  end(error?: Error): void {
    if (error) this.#logger.warn({ subject: this.subject, err: error.message }, 'bus: inference service ended with an error');
    this.#ended = true;
    this.#maybeClosed();
  }

  #maybeClosed(): void {
    if (this.#ended && this.#inFlight === 0) {
      this.#onClosed();
      this.#resolveClosed();
    }
  }

  stats(): ServiceStats {
    return {
      received: this.#received,
      answered: this.#answered,
      invalid: this.#invalid,
      handlerErrors: this.#handlerErrors,
      inFlight: this.#inFlight,
      rejected: this.#rejected,
    };
  }

  stop(): void {
    this.#transport?.unsubscribe();
  }

  unsubscribe(): void {
    this.stop();
  }

  async drain(): Promise<void> {
    await this.#transport?.drain();
    await this.closed;
  }
}

class TypedKeyValue<T> implements KeyValueBucket<T> {
  readonly name: string;
  readonly #raw: RawKeyValue;
  readonly #decode: (value: unknown) => T;
  readonly #assertOpen: () => void;
  readonly #deliver: Deliver;

  constructor(raw: RawKeyValue, decode: (value: unknown) => T, assertOpen: () => void, deliver: Deliver) {
    this.name = raw.name;
    this.#raw = raw;
    this.#decode = decode;
    this.#assertOpen = assertOpen;
    this.#deliver = deliver;
  }

  #where(key: string): string {
    return `kv ${this.name}/${key}`;
  }

  #decodeValue(key: string, data: Uint8Array): T {
    const where = this.#where(key);
    const value = decodeJsonValue(data, where);
    try {
      return this.#decode(value);
    } catch (err) {
      if (err instanceof ValidationError && !(err instanceof MalformedEventError)) throw new MalformedEventError(where, err.field, err.reason);
      throw err;
    }
  }

  #encodeValue(value: T): Uint8Array {
    if (value === undefined) throw new ValidationError('value', 'must be a JSON value, got nothing');
    const data = encodeJsonValue(value);
    // Round trip through the decoder, so what this API writes is always what it can read back.
    this.#decode(JSON.parse(new TextDecoder().decode(data)));
    return data;
  }

  async get(key: string): Promise<KeyValueEntry<T> | undefined> {
    this.#assertOpen();
    validateKey(key);
    const entry = await this.#raw.get(key);
    if (!entry) return undefined;
    return { key, value: this.#decodeValue(key, entry.value), revision: entry.revision, updatedAt: entry.updatedAt };
  }

  async put(key: string, value: T): Promise<number> {
    this.#assertOpen();
    validateKey(key);
    return this.#raw.put(key, this.#encodeValue(value));
  }

  async create(key: string, value: T): Promise<number | undefined> {
    this.#assertOpen();
    validateKey(key);
    return this.#raw.create(key, this.#encodeValue(value));
  }

  async delete(key: string): Promise<void> {
    this.#assertOpen();
    validateKey(key);
    await this.#raw.delete(key);
  }

  async keys(filter = '>'): Promise<string[]> {
    this.#assertOpen();
    validateKeyFilter(filter);
    return (await this.#raw.keys(filter)).sort();
  }

  watch(options: WatchOptions = {}, handler?: (change: KeyValueChange<T>) => void | Promise<void>): Subscription<KeyValueChange<T>> {
    const filter = validateKeyFilter(options.key ?? '>');
    const updatesOnly = options.updatesOnly ?? false;
    return this.#deliver<RawKvChange, KeyValueChange<T>>(
      `kv ${this.name}/${filter}`,
      (raw) => ({
        key: raw.key,
        revision: raw.revision,
        operation: raw.operation,
        value: raw.operation === 'put' && raw.value ? this.#decodeValue(raw.key, raw.value) : undefined,
        updatedAt: raw.updatedAt,
      }),
      handler,
      (sink) => this.#raw.watch(filter, updatesOnly, sink),
    );
  }
}
