/** The public face of the bus: one `EventBus` interface, whichever backend carries it. */
import type { BusEvents, InferenceReply, InferenceRequest } from './events.js';
import type { DurableKind, EventFilter, EventKind, EventSubject, InferFilter, InferSubject } from './subjects.js';

export type BusBackend = 'nats' | 'in-process';

/**
 * `connected`: publishes go out. `reconnecting`: NATS is gone and the client is redialling;
 * publishes and requests fail fast with `BusError('unavailable')`, subscriptions resume by
 * themselves after the reconnect. `closed`: `close()` was called (or NATS gave up); final.
 */
export type BusStatus = 'connected' | 'reconnecting' | 'closed';

/** pino-compatible; the bus logs rejected payloads and failing handlers at `warn`. */
export interface BusLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface PublishOptions {
  /**
   * Durable subjects only (`profile.completed`): a de-duplication id. JetStream drops a second
   * publish with the same id within its duplicate window (2 minutes), so a retried publish
   * after an `unavailable` error cannot store the result twice.
   */
  readonly msgId?: string | undefined;
}

export interface PublishAck {
  /** True when the event was stored in the board's durable stream (`DURABLE_KINDS`). */
  readonly durable: boolean;
  /** Stream sequence of the stored event (durable only). */
  readonly sequence?: number | undefined;
  /** True when JetStream recognised `msgId` as a duplicate and did not store it again. */
  readonly duplicate?: boolean | undefined;
}

/** One delivered event. */
export interface BusMessage<K extends EventKind> {
  readonly subject: EventSubject<K>;
  readonly event: BusEvents[K];
  /** Stream sequence (1, 2, …) for events read from the board's durable stream. */
  readonly sequence?: number | undefined;
}

/** One durable event of a board (`followBoard`), in stream order. */
export type BoardEventMessage = {
  [K in DurableKind]: BusMessage<K> & {
    readonly kind: K;
    readonly sequence: number;
    /**
     * Events after this one not yet delivered: 0 once caught up. For a mirrored board this counts
     * what the board's own stream holds beyond the mirror too (asked across the link when the
     * mirror runs dry; while the board is out of reach, only what the mirror holds).
     */
    readonly pending: number;
  };
}[DurableKind];

export interface FollowBoardOptions {
  /**
   * The JetStream domain the board's stream lives in (its leaf server; the board announces it).
   * When it differs from this connection's domain, the stream is mirrored into this connection's
   * JetStream (`FULCRUM_EVENTS_<board>`, mirror of the board's) and read there: what the board
   * stored while the link was down arrives after it heals. Omitted or equal: read it directly.
   */
  readonly domain?: string | undefined;
  /**
   * Where to start: `last-per-kind` (default; the latest event of each kind, then everything new —
   * the board's current state), `all` (from the first stored), or a stream sequence.
   */
  readonly from?: 'last-per-kind' | 'all' | number | undefined;
}

/** What the JetStream of this connection is, or undefined where the server has none. */
export interface JetStreamInfo {
  /** Its domain (a leaf server's own, `hub` on a hub); undefined without one. */
  readonly domain?: string | undefined;
}

export type EventHandler<K extends EventKind> = (message: BusMessage<K>) => void | Promise<void>;

export interface SubscriptionStats {
  /** Messages that arrived. */
  readonly received: number;
  /** Messages that decoded and were handed to the handler or the iterator. */
  readonly delivered: number;
  /** Messages whose payload (or subject) did not validate; logged and skipped. */
  readonly rejected: number;
  /** Handler calls that threw or rejected; logged, delivery goes on. */
  readonly handlerErrors: number;
  /** The last rejection's message, e.g. `malformed payload on fulcrum.a.power: …`. */
  readonly lastRejection?: string | undefined;
}

/**
 * A live subscription. Either give a handler (called one message at a time, in order; a
 * throwing handler is logged and counted, the next message still comes) or iterate it with
 * `for await` (one iterator; leaving the loop unsubscribes).
 */
export interface Subscription<M> extends AsyncIterable<M> {
  /** The subject pattern listened to. */
  readonly subject: string;
  /**
   * Resolves once the server has registered the subscription (immediately in-process); a
   * publish after that is seen. Rejects with `BusError('unavailable')` when NATS does not
   * confirm in time — the subscription stays registered in the client and starts delivering
   * after the reconnect.
   */
  readonly ready: Promise<void>;
  /** Resolves when delivery has stopped for good and the last handler call has returned. */
  readonly closed: Promise<void>;
  stats(): SubscriptionStats;
  /** Stop now; messages not yet handled are dropped. */
  unsubscribe(): void;
  /** Stop receiving, deliver what already arrived, then close. */
  drain(): Promise<void>;
}

export type EventSubscription<K extends EventKind> = Subscription<BusMessage<K>>;

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group (load balancing). */
  readonly queue?: string | undefined;
}

export interface ReplayOptions {
  /** First stream sequence to deliver; default 1 (from the start). */
  readonly fromSequence?: number | undefined;
  /**
   * false (default): end the subscription once every event stored when the replay started has
   * been delivered. true: keep delivering new events as they are stored.
   */
  readonly follow?: boolean | undefined;
}

export interface RequestOptions {
  /** Give up after this long with `BusError('timeout')`; default: the bus's `requestTimeoutMs`. */
  readonly timeoutMs?: number | undefined;
}

/**
 * Answers one inference request. Called concurrently (the executor batches requests), so it
 * may hold a request until its minibatch ran. A throw becomes an `internal` error reply.
 */
export type InferenceHandler = (request: InferenceRequest, subject: InferSubject) => InferenceReply | Promise<InferenceReply>;

export interface ServeOptions {
  /** Queue group, so several executors can share a stream. */
  readonly queue?: string | undefined;
}

export interface ServiceStats {
  readonly received: number;
  /** Replies sent: results and explicit errors. */
  readonly answered: number;
  /** Requests answered `invalid` because they did not decode. */
  readonly invalid: number;
  /** Handler calls that threw (answered `internal`). */
  readonly handlerErrors: number;
  /** Requests received and not yet answered. */
  readonly inFlight: number;
  /** Messages on an infer subject that had no reply subject (published, not requested); dropped. */
  readonly rejected: number;
}

export interface InferenceService {
  readonly subject: string;
  readonly ready: Promise<void>;
  /** Resolves when the service stopped and every request it took has been answered. */
  readonly closed: Promise<void>;
  stats(): ServiceStats;
  /** Take no more requests; those already taken are still answered. */
  stop(): void;
  /** Same as `stop`, then wait until every request taken has been answered. */
  drain(): Promise<void>;
}

export interface KeyValueOptions<T> {
  /** Checks a stored value (parsed JSON) and returns it typed; throw `ValidationError` to reject it. */
  readonly decode: (value: unknown) => T;
  /** Revisions kept per key (1–64); default 1. Applies when the bucket is created. */
  readonly history?: number | undefined;
}

export interface KeyValueEntry<T> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
  readonly updatedAt: Date;
}

export interface KeyValueChange<T> {
  readonly key: string;
  readonly revision: number;
  readonly operation: 'put' | 'delete';
  /** The new value (put only). */
  readonly value?: T | undefined;
  readonly updatedAt: Date;
}

export interface WatchOptions {
  /** Key filter; `*` matches one `.`-separated token, a final `>` the rest. Default `>` (all). */
  readonly key?: string | undefined;
  /** Skip the current values and deliver only later changes; default false. */
  readonly updatesOnly?: boolean | undefined;
}

/**
 * A key-value bucket of JSON values (JetStream KV on NATS; a map in-process). Keys are
 * `[-/_=.A-Za-z0-9]+`, not starting or ending with `.` (see `encodeKeyToken`).
 */
export interface KeyValueBucket<T> {
  readonly name: string;
  /** The current value, or undefined when the key is absent or deleted. Throws `MalformedEventError` for a stored value that does not decode. */
  get(key: string): Promise<KeyValueEntry<T> | undefined>;
  /** Stores `value`, returns its revision. */
  put(key: string, value: T): Promise<number>;
  /** Stores `value` only when the key holds none; returns the revision, or undefined when it already existed. */
  create(key: string, value: T): Promise<number | undefined>;
  delete(key: string): Promise<void>;
  /** Keys that hold a value, optionally matching a filter (as in `WatchOptions.key`). */
  keys(filter?: string): Promise<string[]>;
  /** Current values (unless `updatesOnly`), then every change; values that do not decode are counted as rejected and skipped. */
  watch(options?: WatchOptions, handler?: (change: KeyValueChange<T>) => void | Promise<void>): Subscription<KeyValueChange<T>>;
}

/**
 * Fulcrum's event bus (SPEC §1). Two shipped backends with the same behaviour: NATS
 * (`connectNatsBus`) and in-process (`createInProcessBus`), chosen by `createEventBus`.
 */
export interface EventBus {
  readonly backend: BusBackend;
  status(): BusStatus;
  /**
   * Messages dropped as malformed since the bus opened: events that do not decode, inference
   * requests that do not decode or have no reply subject. Each kind of bus warning is logged at
   * most 10 times a minute; the rest are counted here and summed up in one line per minute.
   */
  rejectedMessages(): number;
  /** Called on every status change; returns a function that removes the listener. */
  onStatus(listener: (status: BusStatus) => void): () => void;

  /**
   * Validates and publishes an event. Telemetry (power, activity, executor.status) is core NATS,
   * at most once (no subscriber, no delivery); the durable kinds (`DURABLE_KINDS`: profiles,
   * arrival rates, plans applied, announcements) are stored in the board's JetStream stream and
   * the call resolves once stored. Where the server has no JetStream at all, they go out as core
   * messages (`durable: false`) after one warning. Throws `MalformedEventError` for a bad payload, `BusError('unavailable')` while
   * NATS is unreachable, `BusError('closed')` after `close()`.
   */
  publish<K extends EventKind>(subject: EventSubject<K>, event: BusEvents[K], options?: PublishOptions): Promise<PublishAck>;

  /** Subscribe to one kind on one board or all (`eventFilter(kind)`). See `Subscription`. */
  subscribe<K extends EventKind>(filter: EventFilter<K>, handler?: EventHandler<K>, options?: SubscribeOptions): EventSubscription<K>;

  /**
   * Sends an inference request and waits for its reply (a result or an explicit error reply).
   * Throws `ValidationError` for a bad request, `BusError` `timeout` / `no-responders` /
   * `unavailable` / `closed` / `invalid-reply`. Never waits longer than the timeout.
   */
  request(subject: InferSubject, request: InferenceRequest, options?: RequestOptions): Promise<InferenceReply>;

  /** Answers inference requests; malformed ones get `{error: {code: 'invalid'}}` without reaching the handler. */
  serve(filter: InferFilter, handler: InferenceHandler, options?: ServeOptions): InferenceService;

  /**
   * Follows one board's durable events (`DURABLE_KINDS`) in stream order, each with its sequence
   * and how many are still pending, mirroring the board's stream into this connection's JetStream
   * first when it lives in another domain (`options.domain`). Follows until unsubscribed; an
   * ordered consumer, nothing is kept on the server for it. Throws `BusError('unavailable')` (on
   * `ready`) when the server has no JetStream, or holds no stream of the board (only the board's
   * own durable publishes create it; a mirror is made only of a stream the board's domain has).
   */
  followBoard(board: string, handler?: (message: BoardEventMessage) => void | Promise<void>, options?: FollowBoardOptions): Subscription<BoardEventMessage>;

  /** This connection's JetStream (its domain), or undefined when the server has none. */
  jetStream(): Promise<JetStreamInfo | undefined>;

  /** Reads the `profile.completed` events one board published from its durable stream, from the start by default. */
  replayProfiles(board: string, handler?: EventHandler<'profile.completed'>, options?: ReplayOptions): EventSubscription<'profile.completed'>;

  /** Opens (creating when missing) a key-value bucket. Bucket names are `[-_A-Za-z0-9]+`. */
  keyValue<T>(bucket: string, options: KeyValueOptions<T>): Promise<KeyValueBucket<T>>;

  /** Publishes bytes with no validation, on any concrete subject (tests, diagnostics, bridges). */
  publishRaw(subject: string, data: Uint8Array | string): Promise<void>;
  /** A request with raw bytes; returns the raw reply. */
  requestRaw(subject: string, data: Uint8Array | string, options?: RequestOptions): Promise<Uint8Array>;

  /**
   * Graceful shutdown: stop every subscription and service of this bus after what already
   * arrived was handled and every taken request answered, flush, disconnect. Idempotent.
   */
  close(): Promise<void>;
}
