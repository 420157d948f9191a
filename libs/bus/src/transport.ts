/**
 * The small byte-level surface each backend (NATS, in-process) implements. Everything typed —
 * subjects, payload validation, subscriptions, statistics — is shared on top of it
 * (`bus.ts`), so both backends behave the same by construction.
 * @internal
 */
import type { BusBackend, BusStatus, PublishAck } from './types.js';

export interface RawMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Position in the durable stream (replays only). */
  readonly sequence?: number | undefined;
  /** Messages after this one the consumer has not delivered yet (followBoard only). */
  readonly pending?: number | undefined;
  /** Present when the sender waits for a reply. */
  readonly respond?: ((data: Uint8Array) => void) | undefined;
}

/** Where a transport delivers; `end` is called exactly once, when delivery stops for good. */
export interface MessageSink<T = RawMessage> {
  message(message: T): void;
  end(error?: Error): void;
}

export interface TransportSubscription {
  /** Resolves once the other side knows about the subscription (NATS: the server acknowledged it). */
  readonly ready: Promise<void>;
  /** Stop now; the sink's `end` follows. */
  unsubscribe(): void;
  /** Stop after what is already on its way has been delivered; resolves after the sink's `end`. */
  drain(): Promise<void>;
}

export interface RawKvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
  readonly updatedAt: Date;
}

export interface RawKvChange {
  readonly key: string;
  readonly revision: number;
  readonly operation: 'put' | 'delete';
  /** Present for `put`. */
  readonly value?: Uint8Array | undefined;
  readonly updatedAt: Date;
}

export interface RawKeyValue {
  readonly name: string;
  get(key: string): Promise<RawKvEntry | undefined>;
  put(key: string, value: Uint8Array): Promise<number>;
  /** The new revision, or undefined when the key already holds a value. */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  delete(key: string): Promise<void>;
  keys(filter: string): Promise<string[]>;
  /** Current values first (unless `updatesOnly`), then every change. */
  watch(filter: string, updatesOnly: boolean, sink: MessageSink<RawKvChange>): TransportSubscription;
}

export interface Transport {
  readonly backend: BusBackend;
  status(): BusStatus;
  onStatus(listener: (status: BusStatus) => void): () => void;
  publish(subject: string, data: Uint8Array): Promise<void>;
  subscribe(pattern: string, queue: string | undefined, sink: MessageSink): TransportSubscription;
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Publish into the board's durable stream; resolves once stored. */
  publishDurable(board: string, subject: string, data: Uint8Array, msgId: string | undefined): Promise<PublishAck>;
  /** Read the board's durable stream from `fromSequence`; ends when caught up unless `follow`. */
  replay(board: string, subject: string, fromSequence: number, follow: boolean, sink: MessageSink): TransportSubscription;
  /** Follow every durable event of a board (see `EventBus.followBoard`). */
  followBoard(board: string, domain: string | undefined, from: 'last-per-kind' | 'all' | number, sink: MessageSink): TransportSubscription;
  jetStream(): Promise<{ domain?: string | undefined } | undefined>;
  keyValue(bucket: string, history: number): Promise<RawKeyValue>;
  close(): Promise<void>;
}
