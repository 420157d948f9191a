/**
 * The NATS backend (nats.js v3): core NATS for telemetry and request/reply, a JetStream stream
 * per board for the durable events (`DURABLE_KINDS`: profiles, arrival rates, plans applied,
 * announcements; mirrored into the reader's domain when the board is a leaf server with its own
 * JetStream domain), JetStream KV for buckets.
 *
 * Failure behaviour (SPEC §8 — `UNAVAILABLE` with retry, never a hang):
 * - The initial connect fails with `BusError('unavailable')` after `connectTimeoutMs`.
 * - After a connection loss nats.js redials forever (every `reconnectTimeWaitMs`); status is
 *   `reconnecting`. Meanwhile publish, request, durable publish and KV calls fail at once with
 *   `BusError('unavailable')` instead of being buffered. Subscriptions, services and watches
 *   stay registered and resume after the reconnect (messages published while disconnected are
 *   not delivered to them: core NATS is at-most-once; the board's JetStream stream keeps the
 *   durable kinds).
 * - While connected, every round trip is bounded: requests by their timeout, JetStream and KV
 *   calls by `jetStreamTimeoutMs` (a missing JetStream acknowledgement is `unavailable`).
 * - A core publish that was handed to the socket just before the server died may be lost;
 *   only the durable kinds are acknowledged by the server.
 */
import { connect, credsAuthenticator, errors as natsErrors, nanos, type NatsConnection, type Msg } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumeOptions,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import { readFileSync } from 'node:fs';
import { ValidationError, describeValue } from '@fulcrum/core/internal';
import { SUBJECT_PREFIX, boardStreamName, boardStreamSubjects } from './subjects.js';
import { TypedBus, positiveTimeoutMs, stderrBusLogger, type CommonBusOptions } from './bus.js';
import { BusError } from './errors.js';
import type { MessageSink, RawKeyValue, RawKvChange, RawKvEntry, Transport, TransportSubscription } from './transport.js';
import type { BusLogger, BusStatus, EventBus, PublishAck } from './types.js';

export interface NatsBusOptions extends CommonBusOptions {
  /** Server URL(s), e.g. `nats://127.0.0.1:4222` or `127.0.0.1:4222`. */
  readonly url: string | readonly string[];
  /** Connection name shown by the server (e.g. `fulcrum-executor`). */
  readonly name?: string | undefined;
  readonly token?: string | undefined;
  readonly user?: string | undefined;
  readonly pass?: string | undefined;
  /** A NATS credentials file (JWT + nkey seed); read at connect. */
  readonly credsFile?: string | undefined;
  /** TLS: the server's CA, and a client certificate + key where the server asks for one. */
  readonly tls?: { readonly caFile?: string | undefined; readonly certFile?: string | undefined; readonly keyFile?: string | undefined } | undefined;
  /** Initial connect; default 5000 ms. */
  readonly connectTimeoutMs?: number | undefined;
  /** Pause between reconnect attempts; default 1000 ms. */
  readonly reconnectTimeWaitMs?: number | undefined;
  /** Bound on each JetStream / KV call and on subscription confirmation; default 5000 ms. */
  readonly jetStreamTimeoutMs?: number | undefined;
}

/**
 * Limits of each board's durable stream (and of its mirror on a hub): events older than a week,
 * or beyond 256 MiB per board, are dropped oldest first. At the default rates (an announcement
 * every 10 s, arrival rates when they move, a profile per measured mode) a board writes well
 * under 10 MiB a week.
 */
export const BOARD_STREAM_LIMITS = { maxAgeS: 7 * 24 * 3600, maxBytes: 256 * 1024 * 1024 } as const;

function boardStreamLimits(): { max_age: number; max_bytes: number; storage: StorageType; retention: RetentionPolicy; discard: DiscardPolicy; num_replicas: number } {
  return {
    max_age: nanos(BOARD_STREAM_LIMITS.maxAgeS * 1000),
    max_bytes: BOARD_STREAM_LIMITS.maxBytes,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
  };
}

/** How long a followed board's own stream may take to say its last sequence across the link. */
const ORIGIN_INFO_TIMEOUT_MS = 2000;

/** How long one pull of a followed board's stream waits before it is renewed. */
const FOLLOW_PULL_EXPIRES_MS = 2500;

/** The server has no JetStream for this account (no responders on the JetStream API, or "not enabled"). */
function isNoJetStream(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof natsErrors.RequestError && e.isNoResponders()) return true;
    if (e instanceof natsErrors.NoRespondersError) return true;
    if (e.name === 'JetStreamNotEnabled') return true;
    if (e instanceof JetStreamApiError && (e.code === 10039 || e.code === 10076)) return true;
  }
  return false;
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms))),
  ]);
}

/** Connects to NATS and returns the bus; `BusError('unavailable')` when the server cannot be reached. */
export async function connectNatsBus(options: NatsBusOptions): Promise<EventBus> {
  const servers = typeof options.url === 'string' ? [options.url] : [...options.url];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new ValidationError('url', `must name at least one NATS server, got ${describeValue(options.url)}`);
  }
  const connectTimeoutMs = positiveTimeoutMs('connectTimeoutMs', options.connectTimeoutMs ?? 5000);
  const reconnectTimeWaitMs = positiveTimeoutMs('reconnectTimeWaitMs', options.reconnectTimeWaitMs ?? 1000);
  const jetStreamTimeoutMs = positiveTimeoutMs('jetStreamTimeoutMs', options.jetStreamTimeoutMs ?? 5000);
  let creds: Uint8Array | undefined;
  if (options.credsFile !== undefined) {
    try {
      creds = readFileSync(options.credsFile);
    } catch (err) {
      throw new ValidationError('nats.credsFile', `cannot read ${describeValue(options.credsFile)}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}`);
    }
  }
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: options.name,
      token: options.token,
      user: options.user,
      pass: options.pass,
      ...(creds ? { authenticator: credsAuthenticator(creds) } : {}),
      ...(options.tls ? { tls: { ...options.tls } } : {}),
      timeout: connectTimeoutMs,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: reconnectTimeWaitMs,
      waitOnFirstConnect: false,
    });
  } catch (err) {
    // A refused login names what to give, whichever way the service is configured.
    const auth = /authorization violation|authentication/i.test(describeError(err))
      ? ` (the server wants credentials: nats.user + nats.pass, nats.token or nats.credsFile — FULCRUM_NATS__USER / FULCRUM_NATS__PASS, --nats.user / --nats.pass${options.user !== undefined ? `; user ${describeValue(options.user)} was refused` : ''})`
      : '';
    throw new BusError('unavailable', `cannot connect to NATS at ${servers.join(', ')}: ${describeError(err)}${auth}`, { cause: err });
  }
  const transport = new NatsTransport(nc, servers.join(', '), jetStreamTimeoutMs, options.logger ?? stderrBusLogger);
  return new TypedBus(transport, options);
}

class NatsTransport implements Transport {
  readonly backend = 'nats' as const;
  readonly #nc: NatsConnection;
  readonly #where: string;
  readonly #timeoutMs: number;
  readonly #logger: BusLogger;
  readonly #js: JetStreamClient;
  readonly #listeners = new Set<(status: BusStatus) => void>();
  readonly #streams = new Map<string, Promise<void>>();
  readonly #mirrors = new Map<string, Promise<void>>();
  #jsm: Promise<JetStreamManager> | undefined;
  #jsInfo: Promise<{ domain?: string | undefined } | undefined> | undefined;
  #warnedNoJetStream = false;
  #status: BusStatus = 'connected';
  #closing = false;

  constructor(nc: NatsConnection, where: string, timeoutMs: number, logger: BusLogger) {
    this.#nc = nc;
    this.#where = where;
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
    this.#js = jetstream(nc, { timeout: timeoutMs });
    void this.#watchStatus();
    void nc.closed().then((err) => {
      if (err) this.#logger.warn({ nats: where, err: describeError(err) }, 'bus: NATS connection closed with an error');
      this.#setStatus('closed');
    });
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect') {
        this.#logger.warn({ nats: this.#where }, 'bus: NATS connection lost; reconnecting');
        this.#setStatus('reconnecting');
      } else if (s.type === 'reconnect') {
        this.#logger.info({ nats: this.#where }, 'bus: NATS reconnected');
        this.#setStatus('connected');
      }
    }
  }

  #setStatus(status: BusStatus): void {
    if (this.#status === status || this.#status === 'closed') return;
    this.#status = status;
    for (const listener of this.#listeners) listener(status);
  }

  status(): BusStatus {
    return this.#status;
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Fail fast instead of letting nats.js buffer the operation until a reconnect. */
  #check(what: string): void {
    if (this.#closing || this.#status === 'closed' || this.#nc.isClosed()) throw new BusError('closed', 'the bus is closed');
    if (this.#status !== 'connected') {
      throw new BusError('unavailable', `NATS at ${this.#where} is unreachable (reconnecting); ${what} failed, retry later`);
    }
  }

  #map(err: unknown, what: string): BusError {
    if (err instanceof BusError) return err;
    if (err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError) {
      return new BusError('closed', `the bus is closed; ${what} failed`, { cause: err });
    }
    if (err instanceof natsErrors.TimeoutError) {
      return new BusError('unavailable', `${what}: no answer from NATS at ${this.#where} within ${this.#timeoutMs} ms`, { cause: err });
    }
    if (err instanceof natsErrors.RequestError && err.isNoResponders()) {
      return new BusError('unavailable', `${what}: JetStream is not available at ${this.#where}`, { cause: err });
    }
    return new BusError('unavailable', `${what}: ${describeError(err)}`, { cause: err });
  }

  /** Resolves once the server has processed everything sent so far (bounded). */
  #confirm(what: string): Promise<void> {
    if (this.#status !== 'connected') {
      return Promise.reject(new BusError('unavailable', `NATS at ${this.#where} is unreachable; ${what} will start after the reconnect`));
    }
    return withTimeout(this.#nc.flush(), this.#timeoutMs, () => new BusError('unavailable', `NATS did not confirm ${what} within ${this.#timeoutMs} ms`)).catch(
      (err: unknown) => {
        throw this.#map(err, what);
      },
    );
  }

  async publish(subject: string, data: Uint8Array): Promise<void> {
    this.#check(`publish on ${subject}`);
    try {
      this.#nc.publish(subject, data);
    } catch (err) {
      throw this.#map(err, `publish on ${subject}`);
    }
  }

  subscribe(pattern: string, queue: string | undefined, sink: MessageSink): TransportSubscription {
    if (this.#closing || this.#nc.isClosed()) throw new BusError('closed', 'the bus is closed');
    const sub = this.#nc.subscribe(pattern, queue === undefined ? {} : { queue });
    const ended = (async () => {
      try {
        for await (const m of sub) {
          const msg: Msg = m;
          sink.message({
            subject: msg.subject,
            data: msg.data,
            respond: msg.reply ? (data: Uint8Array) => void msg.respond(data) : undefined,
          });
        }
        const closedWith = await sub.closed;
        sink.end(closedWith instanceof Error ? closedWith : undefined);
      } catch (err) {
        sink.end(err as Error);
      }
    })();
    return {
      ready: this.#confirm(`the subscription to ${pattern}`),
      unsubscribe: () => {
        if (!sub.isClosed()) sub.unsubscribe();
      },
      drain: async () => {
        if (!sub.isClosed()) {
          // Draining needs the server; while it is gone, stop at once rather than wait for it.
          if (this.#status === 'connected') {
            await withTimeout(sub.drain(), this.#timeoutMs, () => new Error('drain timed out')).catch(() => sub.unsubscribe());
          } else {
            sub.unsubscribe();
          }
        }
        await ended;
      },
    };
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    this.#check(`request on ${subject}`);
    try {
      const reply = await this.#nc.request(subject, data, { timeout: timeoutMs });
      return reply.data;
    } catch (err) {
      if (err instanceof natsErrors.TimeoutError) throw new BusError('timeout', `no reply on ${subject} within ${timeoutMs} ms`, { cause: err });
      if (err instanceof natsErrors.RequestError && err.isNoResponders()) {
        throw new BusError('no-responders', `nobody serves ${subject}`, { cause: err });
      }
      throw this.#map(err, `request on ${subject}`);
    }
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.#nc, { timeout: this.#timeoutMs }).catch((err: unknown) => {
      this.#jsm = undefined;
      throw this.#map(err, 'JetStream');
    });
    return this.#jsm;
  }

  /** This connection's JetStream and its domain; undefined when the server has none (asked once). */
  jetStream(): Promise<{ domain?: string | undefined } | undefined> {
    this.#check('JetStream info');
    this.#jsInfo ??= (async () => {
      try {
        const info = await (await this.#manager()).getAccountInfo();
        return { domain: info.domain || undefined };
      } catch (err) {
        if (isNoJetStream(err)) return undefined;
        throw err;
      }
    })().catch((err: unknown) => {
      this.#jsInfo = undefined;
      throw this.#map(err, 'JetStream info');
    });
    return this.#jsInfo;
  }

  /** Runs `make` once per key (shared by concurrent callers); a failure is forgotten, so the next call tries again. */
  #oncePerKey(cache: Map<string, Promise<void>>, key: string, what: string, make: () => Promise<void>): Promise<void> {
    let ready = cache.get(key);
    if (!ready) {
      ready = make().catch((err: unknown) => {
        cache.delete(key);
        throw this.#map(err, what);
      });
      cache.set(key, ready);
    }
    return ready;
  }

  /** Creates the board's durable stream unless it exists (once per process, retried after a failure). */
  #ensureStream(board: string): Promise<void> {
    return this.#oncePerKey(this.#streams, board, `the durable stream of ${board}`, async () => {
      const jsm = await this.#manager();
      const name = boardStreamName(board);
      try {
        await jsm.streams.info(name);
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
        try {
          await jsm.streams.add({ name, description: `Fulcrum durable events of board ${board}`, subjects: boardStreamSubjects(board), ...boardStreamLimits() });
        } catch (addErr) {
          if (addErr instanceof JetStreamApiError && addErr.code === 10065) {
            throw new BusError(
              'unavailable',
              `another stream already holds subjects of ${name} (${boardStreamSubjects(board).join(', ')}); an older Fulcrum's FULCRUM_PROFILES_${board}? remove it (nats stream rm FULCRUM_PROFILES_${board}) and retry`,
              { cause: addErr },
            );
          }
          throw addErr;
        }
      }
    });
  }

  /**
   * The board's own stream, which only the board creates (on its first durable publish): a reader
   * never makes one, so a name announced by anyone on the bus reserves no storage here.
   */
  async #existingStream(board: string): Promise<void> {
    if (!(await this.#hasStream(board))) {
      throw new BusError('unavailable', `board ${board} has no durable stream ${boardStreamName(board)} on NATS at ${this.#where} (a board makes it with its first announcement)`);
    }
  }

  async #hasStream(board: string): Promise<boolean> {
    try {
      await (await this.#manager()).streams.info(boardStreamName(board));
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return false;
      throw err;
    }
  }

  /**
   * Makes this connection's JetStream hold a mirror of the board's stream that lives in JetStream
   * domain `domain` (the board's leaf server): the server itself pulls what the board stored,
   * from the first event, and catches up by itself after the link comes back.
   */
  #ensureMirror(board: string, domain: string): Promise<void> {
    return this.#oncePerKey(this.#mirrors, `${board}\u0000${domain}`, `the mirror of board ${board}'s stream`, async () => {
      const jsm = await this.#manager();
      const name = boardStreamName(board);
      const api = `$JS.${domain}.API`;
      try {
        const info = await jsm.streams.info(name);
        const mirror = info.config.mirror;
        if (!mirror) {
          this.#logger.warn({ stream: name, domain }, 'bus: the board announces its own JetStream domain but this server holds a plain stream of that name (the board used to connect here); reading that one, not a mirror');
        } else if (mirror.external?.api !== api) {
          throw new BusError('unavailable', `stream ${name} here mirrors ${mirror.external?.api ?? 'this domain'}, not the board's domain ${domain} (${api}); remove it (nats stream rm ${name}) to mirror the board again`);
        }
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
        // Only a stream the board really has in that domain is mirrored: an announcement naming a
        // board or domain that does not exist reserves no storage here.
        const origin = await jetstreamManager(this.#nc, { domain, timeout: this.#timeoutMs, checkAPI: false });
        try {
          await withTimeout(origin.streams.info(name), ORIGIN_INFO_TIMEOUT_MS, () => new Error(`no answer within ${ORIGIN_INFO_TIMEOUT_MS} ms`));
        } catch (originErr) {
          throw new BusError('unavailable', `board ${board}'s JetStream domain ${domain} holds no stream ${name} that this server can reach (${describeError(originErr)}); not mirroring it`, { cause: originErr });
        }
        await jsm.streams.add({
          name,
          description: `Fulcrum durable events of board ${board}, mirrored from its JetStream domain ${domain}`,
          mirror: { name, external: { api, deliver: '' } },
          ...boardStreamLimits(),
        });
        this.#logger.info({ stream: name, domain }, 'bus: mirroring the board\'s durable events');
      }
    });
  }

  async publishDurable(board: string, subject: string, data: Uint8Array, msgId: string | undefined): Promise<PublishAck> {
    this.#check(`publish on ${subject}`);
    if ((await this.jetStream()) === undefined) {
      if (!this.#warnedNoJetStream) {
        this.#warnedNoJetStream = true;
        this.#logger.warn({ nats: this.#where }, 'bus: NATS has no JetStream here; durable events (profiles, arrival rates, plans applied) go out at most once (run nats-server with -js)');
      }
      await this.publish(subject, data);
      return { durable: false };
    }
    await this.#ensureStream(board);
    try {
      const ack = await this.#js.publish(subject, data, msgId === undefined ? { timeout: this.#timeoutMs } : { msgID: msgId, timeout: this.#timeoutMs });
      return { durable: true, sequence: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      if (err instanceof natsErrors.TimeoutError) {
        throw new BusError('unavailable', `JetStream did not acknowledge the publish on ${subject} within ${this.#timeoutMs} ms; it may or may not be stored (retry with the same msgId)`, { cause: err });
      }
      throw this.#map(err, `publish on ${subject}`);
    }
  }

  /**
   * A subscription reading one JetStream consumer: `open` makes it (undefined: nothing to read, end
   * at once); `deliver` hands each message to the sink and says whether to stop there. Stopping,
   * draining, readiness and errors are handled here, once, for replays and followed boards.
   */
  #consumerSubscription(
    what: string,
    sink: MessageSink,
    open: () => Promise<{ consumer: Consumer; options?: ConsumeOptions } | undefined>,
    deliver: (m: JsMsg, stopped: () => boolean) => boolean | Promise<boolean>,
  ): TransportSubscription {
    this.#check(what);
    let stopped = false;
    let messages: ConsumerMessages | undefined;
    let resolveReady!: () => void;
    let rejectReady!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    const ended = (async () => {
      try {
        const opened = await open();
        if (stopped || !opened) {
          resolveReady();
          sink.end();
          return;
        }
        messages = await opened.consumer.consume(opened.options);
        resolveReady();
        if (stopped) messages.stop();
        for await (const m of messages) {
          if (stopped || (await deliver(m, () => stopped))) break;
        }
        messages.stop();
        sink.end();
      } catch (err) {
        const error = this.#map(err, what);
        rejectReady(error);
        messages?.stop();
        sink.end(stopped ? undefined : error);
      }
    })();
    const stop = (): void => {
      stopped = true;
      messages?.stop();
    };
    return {
      ready,
      unsubscribe: stop,
      drain: async () => {
        stop();
        await ended;
      },
    };
  }

  followBoard(board: string, domain: string | undefined, from: 'last-per-kind' | 'all' | number, sink: MessageSink): TransportSubscription {
    let behindOrigin: (seq: number) => Promise<number> = async () => 0;
    return this.#consumerSubscription(
      `following board ${board}`,
      sink,
      async () => {
        const js = await this.jetStream();
        if (js === undefined) throw new BusError('unavailable', `NATS at ${this.#where} has no JetStream; cannot follow board ${board}'s durable events`);
        if (domain !== undefined && domain !== js.domain) {
          await this.#ensureMirror(board, domain);
          behindOrigin = this.#originTracker(board, domain);
        } else {
          await this.#existingStream(board);
        }
        const start =
          from === 'last-per-kind'
            ? { deliver_policy: DeliverPolicy.LastPerSubject }
            : from === 'all'
              ? { deliver_policy: DeliverPolicy.All }
              : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from };
        const consumer = await this.#js.consumers.get(boardStreamName(board), { ...start, filter_subjects: `${SUBJECT_PREFIX}.${board}.>` });
        // Short pulls: a pull left waiting on a server that restarted, or on a mirror still catching
        // up, is renewed within FOLLOW_PULL_EXPIRES_MS instead of the 30 s default.
        return { consumer, options: { expires: FOLLOW_PULL_EXPIRES_MS } };
      },
      async (m, stopped) => {
        const pending = m.info.pending > 0 ? m.info.pending : await behindOrigin(m.seq);
        if (stopped()) return true;
        sink.message({ subject: m.subject, data: m.data, sequence: m.seq, pending });
        return false;
      },
    );
  }

  /**
   * A mirror that has delivered all it holds may still be behind the board (catching up after the
   * link came back): how many events the board's own stream holds beyond `seq`, asked across the
   * link when the mirror runs dry (what the mirror holds is all there is while the board is out
   * of reach).
   */
  #originTracker(board: string, domain: string): (seq: number) => Promise<number> {
    let originLast = 0;
    const origin = jetstreamManager(this.#nc, { domain, timeout: this.#timeoutMs, checkAPI: false });
    origin.catch(() => undefined);
    return async (seq) => {
      if (seq >= originLast) {
        try {
          originLast = (await withTimeout((await origin).streams.info(boardStreamName(board)), ORIGIN_INFO_TIMEOUT_MS, () => new Error('timeout'))).state.last_seq;
        } catch {
          // Out of reach: nothing more to count now.
        }
      }
      return Math.max(0, originLast - seq);
    };
  }

  replay(board: string, subject: string, fromSequence: number, follow: boolean, sink: MessageSink): TransportSubscription {
    return this.#consumerSubscription(
      `replay of ${subject}`,
      sink,
      async () => {
        // A replay that follows waits for the board's events (its stream is made for them); one that
        // does not reads what is stored, and of a board that stored nothing makes no stream.
        if (follow) await this.#ensureStream(board);
        else if (!(await this.#hasStream(board))) return undefined;
        const consumer = await this.#js.consumers.get(boardStreamName(board), {
          ...(fromSequence > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSequence } : { deliver_policy: DeliverPolicy.All }),
          filter_subjects: subject,
        });
        // What is stored now (this kind, from fromSequence): a replay that does not follow ends there.
        if (!follow && (await consumer.info(true)).num_pending === 0) return undefined;
        return { consumer };
      },
      (m) => {
        sink.message({ subject: m.subject, data: m.data, sequence: m.seq });
        return !follow && m.info.pending === 0;
      },
    );
  }

  async keyValue(name: string, history: number): Promise<RawKeyValue> {
    this.#check(`opening bucket ${name}`);
    let kv: KV;
    try {
      kv = await new Kvm(this.#js).create(name, { history, timeout: this.#timeoutMs });
    } catch (err) {
      throw this.#map(err, `opening bucket ${name}`);
    }
    return new NatsKeyValue(name, kv, this, this.#timeoutMs);
  }

  /** @internal for NatsKeyValue */
  guard(what: string): void {
    this.#check(what);
  }

  /** @internal for NatsKeyValue */
  fail(err: unknown, what: string): BusError {
    return this.#map(err, what);
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#nc.isClosed()) return;
    try {
      await withTimeout(this.#nc.drain(), this.#timeoutMs, () => new Error('drain timed out'));
    } catch {
      await this.#nc.close().catch(() => undefined);
    }
    this.#setStatus('closed');
  }
}

class NatsKeyValue implements RawKeyValue {
  readonly name: string;
  readonly #kv: KV;
  readonly #transport: NatsTransport;
  readonly #timeoutMs: number;

  constructor(name: string, kv: KV, transport: NatsTransport, timeoutMs: number) {
    this.name = name;
    this.#kv = kv;
    this.#transport = transport;
    this.#timeoutMs = timeoutMs;
  }

  async #run<T>(what: string, op: () => Promise<T>): Promise<T> {
    const label = `${what} in bucket ${this.name}`;
    this.#transport.guard(label);
    try {
      return await withTimeout(op(), this.#timeoutMs, () => new BusError('unavailable', `${label}: no answer from NATS within ${this.#timeoutMs} ms`));
    } catch (err) {
      throw this.#transport.fail(err, label);
    }
  }

  get(key: string): Promise<RawKvEntry | undefined> {
    return this.#run(`get ${key}`, async () => {
      const e = await this.#kv.get(key);
      if (!e || e.operation !== 'PUT') return undefined;
      return { key, value: e.value, revision: e.revision, updatedAt: e.created };
    });
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.#run(`put ${key}`, () => this.#kv.put(key, value, { timeout: this.#timeoutMs }));
  }

  create(key: string, value: Uint8Array): Promise<number | undefined> {
    return this.#run(`create ${key}`, async () => {
      try {
        return await this.#kv.create(key, value);
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) return undefined;
        throw err;
      }
    });
  }

  delete(key: string): Promise<void> {
    return this.#run(`delete ${key}`, () => this.#kv.delete(key));
  }

  keys(filter: string): Promise<string[]> {
    return this.#run('keys', async () => {
      const keys: string[] = [];
      for await (const k of await this.#kv.keys(filter)) keys.push(k);
      return keys;
    });
  }

  watch(filter: string, updatesOnly: boolean, sink: MessageSink<RawKvChange>): TransportSubscription {
    this.#transport.guard(`watch in bucket ${this.name}`);
    let stopped = false;
    let iterator: { stop(): void } | undefined;
    let resolveReady!: () => void;
    let rejectReady!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    const ended = (async () => {
      try {
        const it = await this.#kv.watch({ key: filter, include: updatesOnly ? KvWatchInclude.UpdatesOnly : KvWatchInclude.LastValue });
        iterator = it;
        resolveReady();
        if (stopped) it.stop();
        for await (const e of it) {
          if (stopped) break;
          const put = e.operation === 'PUT';
          sink.message({ key: e.key, revision: e.revision, operation: put ? 'put' : 'delete', value: put ? e.value : undefined, updatedAt: e.created });
        }
        sink.end();
      } catch (err) {
        const error = this.#transport.fail(err, `watch in bucket ${this.name}`);
        rejectReady(error);
        sink.end(stopped ? undefined : error);
      }
    })();
    const stop = (): void => {
      stopped = true;
      iterator?.stop();
    };
    return {
      ready,
      unsubscribe: stop,
      drain: async () => {
        stop();
        await ended;
      },
    };
  }
}
