/**
 * The in-process backend: the embedded default when no NATS URL is configured (one process runs
 * every service). Same semantics as NATS where they make sense — wildcard subjects, queue
 * groups, request/reply with no-responders and timeouts, a per-board durable event log with
 * replay and msgId de-duplication, key-value buckets with revisions and watches — and every
 * payload goes through the same JSON encoding and validation.
 *
 * Differences: nothing survives the process (the profile log and buckets live in memory; the
 * embedded profile store is SQLite for that reason); there is no disconnection; KV history is
 * not kept (only the latest value).
 */
import { BusError } from './errors.js';
import { TypedBus, type CommonBusOptions } from './bus.js';
import { DURABLE_KINDS, SUBJECT_PREFIX, subjectMatches } from './subjects.js';
import type { MessageSink, RawKeyValue, RawKvChange, RawKvEntry, RawMessage, Transport, TransportSubscription } from './transport.js';
import type { BusStatus, EventBus, PublishAck } from './types.js';

const DUPLICATE_WINDOW_MS = 2 * 60_000;

/** The board of a durable-event subject (`fulcrum.<board>.<durable kind>`), else undefined. */
function durableBoard(subject: string): string | undefined {
  const dot = subject.indexOf('.');
  const second = subject.indexOf('.', dot + 1);
  if (dot < 0 || second < 0 || subject.slice(0, dot) !== SUBJECT_PREFIX) return undefined;
  const kind = subject.slice(second + 1);
  return (DURABLE_KINDS as readonly string[]).includes(kind) ? subject.slice(dot + 1, second) : undefined;
}

interface HubSubscription {
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly sink: MessageSink;
  readonly owner: InProcessTransport;
  active: boolean;
}

/** One board's durable events (the in-process stand-in for its JetStream stream). */
interface BoardLog {
  readonly entries: RawMessage[];
  readonly msgIds: Map<string, { sequence: number; atMs: number }>;
  readonly followers: Set<(entry: RawMessage) => void>;
}

interface BucketEntry {
  readonly value: Uint8Array;
  readonly revision: number;
  readonly updatedAt: Date;
}

class HubBucket {
  readonly name: string;
  readonly entries = new Map<string, BucketEntry>();
  readonly watchers = new Set<{ filter: string; deliver: (change: RawKvChange) => void }>();
  revision = 0;

  constructor(name: string) {
    this.name = name;
  }

  change(key: string, value: Uint8Array | undefined): number {
    const revision = ++this.revision;
    const updatedAt = new Date();
    if (value) this.entries.set(key, { value, revision, updatedAt });
    else this.entries.delete(key);
    const change: RawKvChange = { key, revision, operation: value ? 'put' : 'delete', value, updatedAt };
    for (const w of this.watchers) if (subjectMatches(w.filter, key)) w.deliver(change);
    return revision;
  }
}

/**
 * The shared medium of in-process buses: every bus connected to one hub sees the others'
 * events, like NATS clients of one server. `createInProcessBus()` makes a hub per bus unless
 * given one.
 */
export class InProcessHub {
  readonly #subscriptions = new Set<HubSubscription>();
  readonly #queueCursor = new Map<string, number>();
  readonly #logs = new Map<string, BoardLog>();
  readonly #buckets = new Map<string, HubBucket>();

  /** A new bus (like a new NATS connection) on this hub. */
  connect(options: CommonBusOptions = {}): EventBus {
    return new TypedBus(new InProcessTransport(this), options);
  }

  /** @internal */
  add(sub: HubSubscription): void {
    this.#subscriptions.add(sub);
  }

  /** @internal */
  remove(sub: HubSubscription): void {
    this.#subscriptions.delete(sub);
  }

  /** @internal Delivers a message to every matching subscription (one per queue group); returns how many got it. */
  route(message: RawMessage): number {
    const plain: HubSubscription[] = [];
    const groups = new Map<string, HubSubscription[]>();
    for (const sub of this.#subscriptions) {
      if (!sub.active || !subjectMatches(sub.pattern, message.subject)) continue;
      if (sub.queue === undefined) plain.push(sub);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    }
    for (const [queue, members] of groups) {
      const key = `${queue}\u0000${members[0]!.pattern}`;
      const cursor = this.#queueCursor.get(key) ?? 0;
      this.#queueCursor.set(key, cursor + 1);
      plain.push(members[cursor % members.length]!);
    }
    for (const sub of plain) {
      // Asynchronous like a network hop: the publisher never runs subscriber code on its stack.
      queueMicrotask(() => {
        if (sub.active) sub.sink.message(message);
      });
    }
    const board = durableBoard(message.subject);
    if (board !== undefined) this.#append(this.log(board), message);
    return plain.length;
  }

  #append(log: BoardLog, message: RawMessage): number {
    const entry: RawMessage = { subject: message.subject, data: message.data, sequence: log.entries.length + 1 };
    log.entries.push(entry);
    for (const follower of log.followers) follower(entry);
    return entry.sequence!;
  }

  /** @internal The durable log of one board (every durable kind, in order), created on first use. */
  log(board: string): BoardLog {
    let log = this.#logs.get(board);
    if (!log) {
      log = { entries: [], msgIds: new Map(), followers: new Set() };
      this.#logs.set(board, log);
    }
    return log;
  }

  /** @internal */
  publishDurable(board: string, subject: string, data: Uint8Array, msgId: string | undefined): PublishAck {
    const log = this.log(board);
    const nowMs = Date.now();
    for (const [id, seen] of log.msgIds) if (nowMs - seen.atMs > DUPLICATE_WINDOW_MS) log.msgIds.delete(id);
    if (msgId !== undefined) {
      const seen = log.msgIds.get(msgId);
      if (seen) return { durable: true, sequence: seen.sequence, duplicate: true };
    }
    this.route({ subject, data });
    const sequence = log.entries.length;
    if (msgId !== undefined) log.msgIds.set(msgId, { sequence, atMs: nowMs });
    return { durable: true, sequence, duplicate: false };
  }

  /** @internal */
  bucket(name: string): HubBucket {
    let bucket = this.#buckets.get(name);
    if (!bucket) {
      bucket = new HubBucket(name);
      this.#buckets.set(name, bucket);
    }
    return bucket;
  }
}

class InProcessTransport implements Transport {
  readonly backend = 'in-process' as const;
  readonly #hub: InProcessHub;
  readonly #owned = new Set<{ stop(): void }>();
  readonly #listeners = new Set<(status: BusStatus) => void>();
  #closed = false;

  constructor(hub: InProcessHub) {
    this.#hub = hub;
  }

  status(): BusStatus {
    return this.#closed ? 'closed' : 'connected';
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #check(): void {
    if (this.#closed) throw new BusError('closed', 'the bus is closed');
  }

  async publish(subject: string, data: Uint8Array): Promise<void> {
    this.#check();
    this.#hub.route({ subject, data });
  }

  subscribe(pattern: string, queue: string | undefined, sink: MessageSink): TransportSubscription {
    this.#check();
    const sub: HubSubscription = { pattern, queue, sink, owner: this, active: true };
    this.#hub.add(sub);
    return this.#own(() => {
      sub.active = false;
      this.#hub.remove(sub);
    }, sink);
  }

  /**
   * A subscription handle whose `unsubscribe` stops at once and whose `drain` ends after the
   * messages already routed to it (queued microtasks run in order, so `end` comes after them).
   */
  #own(detach: () => void, sink: MessageSink<never>, ready: Promise<void> = Promise.resolve()): TransportSubscription {
    let done = false;
    let resolveEnded!: () => void;
    const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
    const finish = (immediately: boolean): void => {
      if (done) return;
      done = true;
      this.#owned.delete(handle);
      const end = (): void => {
        detach();
        sink.end();
        resolveEnded();
      };
      if (immediately) {
        detach();
        sink.end();
        resolveEnded();
      } else {
        // Let already-routed deliveries land first; they sit in the microtask queue ahead of us.
        queueMicrotask(() => queueMicrotask(end));
      }
    };
    const handle = { stop: () => finish(true) };
    this.#owned.add(handle);
    return {
      ready,
      unsubscribe: () => finish(true),
      drain: async () => {
        finish(false);
        await ended;
      },
    };
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    this.#check();
    return new Promise<Uint8Array>((resolve, reject) => {
      let answered = false;
      const timer = setTimeout(() => {
        if (answered) return;
        answered = true;
        reject(new BusError('timeout', `no reply on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      const respond = (reply: Uint8Array): void => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        resolve(reply);
      };
      const receivers = this.#hub.route({ subject, data, respond });
      if (receivers === 0 && !answered) {
        answered = true;
        clearTimeout(timer);
        reject(new BusError('no-responders', `nobody serves ${subject}`));
      }
    });
  }

  async publishDurable(board: string, subject: string, data: Uint8Array, msgId: string | undefined): Promise<PublishAck> {
    this.#check();
    return this.#hub.publishDurable(board, subject, data, msgId);
  }

  replay(board: string, subject: string, fromSequence: number, follow: boolean, sink: MessageSink): TransportSubscription {
    this.#check();
    const log = this.#hub.log(board);
    let active = true;
    const deliver = (entry: RawMessage): void => {
      queueMicrotask(() => {
        if (active) sink.message(entry);
      });
    };
    const backlog = log.entries.slice(fromSequence - 1).filter((e) => e.subject === subject);
    for (const entry of backlog) deliver(entry);
    const follower = (entry: RawMessage): void => {
      if (entry.sequence! >= fromSequence && entry.subject === subject) deliver(entry);
    };
    if (follow) log.followers.add(follower);
    const handle = this.#own(() => {
      active = false;
      log.followers.delete(follower);
    }, sink);
    if (!follow) void handle.drain(); // caught up once the backlog is delivered
    return handle;
  }

  /** One hub is one JetStream without a domain: `domain` is ignored (nothing to mirror). */
  followBoard(board: string, _domain: string | undefined, from: 'last-per-kind' | 'all' | number, sink: MessageSink): TransportSubscription {
    this.#check();
    const log = this.#hub.log(board);
    let active = true;
    const deliver = (entry: RawMessage, pending: number): void => {
      queueMicrotask(() => {
        if (active) sink.message({ ...entry, pending });
      });
    };
    let backlog: RawMessage[];
    if (from === 'last-per-kind') {
      const last = new Map<string, RawMessage>();
      for (const e of log.entries) last.set(e.subject, e);
      backlog = [...last.values()].sort((a, b) => a.sequence! - b.sequence!);
    } else {
      backlog = log.entries.slice(from === 'all' ? 0 : from - 1);
    }
    backlog.forEach((entry, i) => deliver(entry, backlog.length - 1 - i));
    const follower = (entry: RawMessage): void => deliver(entry, 0);
    log.followers.add(follower);
    return this.#own(() => {
      active = false;
      log.followers.delete(follower);
    }, sink);
  }

  async jetStream(): Promise<{ domain?: string | undefined } | undefined> {
    this.#check();
    return {};
  }

  async keyValue(name: string, _history: number): Promise<RawKeyValue> {
    this.#check();
    const bucket = this.#hub.bucket(name);
    const check = (): void => this.#check();
    const own = (detach: () => void, sink: MessageSink<RawKvChange>): TransportSubscription => this.#own(detach, sink);
    return {
      name,
      async get(key: string): Promise<RawKvEntry | undefined> {
        check();
        const entry = bucket.entries.get(key);
        return entry ? { key, ...entry } : undefined;
      },
      async put(key: string, value: Uint8Array): Promise<number> {
        check();
        return bucket.change(key, value);
      },
      async create(key: string, value: Uint8Array): Promise<number | undefined> {
        check();
        return bucket.entries.has(key) ? undefined : bucket.change(key, value);
      },
      async delete(key: string): Promise<void> {
        check();
        if (bucket.entries.has(key)) bucket.change(key, undefined);
      },
      async keys(filter: string): Promise<string[]> {
        check();
        return [...bucket.entries.keys()].filter((k) => subjectMatches(filter, k));
      },
      watch(filter: string, updatesOnly: boolean, sink: MessageSink<RawKvChange>): TransportSubscription {
        check();
        let active = true;
        const deliver = (change: RawKvChange): void =>
          queueMicrotask(() => {
            if (active) sink.message(change);
          });
        if (!updatesOnly) {
          const current = [...bucket.entries].filter(([k]) => subjectMatches(filter, k)).sort((a, b) => a[1].revision - b[1].revision);
          for (const [key, e] of current) deliver({ key, revision: e.revision, operation: 'put', value: e.value, updatedAt: e.updatedAt });
        }
        const watcher = { filter, deliver };
        bucket.watchers.add(watcher);
        return own(() => {
          active = false;
          bucket.watchers.delete(watcher);
        }, sink);
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const handle of [...this.#owned]) handle.stop();
    for (const listener of this.#listeners) listener('closed');
  }
}

/** A bus on its own hub (or on `hub`, to share events with other buses of the same process). */
export function createInProcessBus(options: CommonBusOptions & { readonly hub?: InProcessHub | undefined } = {}): EventBus {
  return (options.hub ?? new InProcessHub()).connect(options);
}
