/**
 * Shared delivery machinery: turns what a transport hands over into decoded messages for a
 * handler (one at a time, in order) or an async iterator, and keeps the counts. A payload that
 * does not decode is logged, counted and skipped — it never reaches user code and never ends
 * the subscription.
 * @internal
 */
import type { MessageSink, TransportSubscription } from './transport.js';
import type { BusLogger, Subscription, SubscriptionStats } from './types.js';

export class Delivery<Raw, M> implements MessageSink<Raw>, Subscription<M> {
  readonly subject: string;
  ready: Promise<void> = Promise.resolve();
  readonly closed: Promise<void>;

  #transport: TransportSubscription | undefined;
  readonly #decode: (raw: Raw) => M;
  readonly #handler: ((message: M) => void | Promise<void>) | undefined;
  readonly #logger: BusLogger & { reject?(obj: object, msg: string): void };
  readonly #onClosed: () => void;

  #received = 0;
  #delivered = 0;
  #rejected = 0;
  #handlerErrors = 0;
  #lastRejection: string | undefined;

  /** Handler mode: the tail of the chain of handler calls. */
  #chain: Promise<void> = Promise.resolve();
  /** Iterator mode: messages waiting for `next()`, and a `next()` waiting for a message. */
  #queue: M[] = [];
  #waiting: { resolve: (r: IteratorResult<M>) => void; reject: (e: Error) => void } | undefined;
  #iterating = false;

  /** No more messages are accepted (unsubscribed, drained or ended by the transport). */
  #stopped = false;
  /** Unsubscribed: drop what is still queued. */
  #dropped = false;
  #ended = false;
  #endError: Error | undefined;
  #resolveClosed!: () => void;

  constructor(options: {
    subject: string;
    decode: (raw: Raw) => M;
    handler?: ((message: M) => void | Promise<void>) | undefined;
    logger: BusLogger & { reject?(obj: object, msg: string): void };
    onClosed: () => void;
  }) {
    this.subject = options.subject;
    this.#decode = options.decode;
    this.#handler = options.handler;
    this.#logger = options.logger;
    this.#onClosed = options.onClosed;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** Connects the transport side; call once, right after subscribing. */
  attach(transport: TransportSubscription): void {
    this.#transport = transport;
    this.ready = transport.ready;
    // A caller that never awaits `ready` must not get an unhandled rejection.
    this.ready.catch(() => undefined);
    if (this.#stopped) transport.unsubscribe();
  }

  /** Fails the subscription before a transport exists (e.g. the bus is closed). */
  failNow(error: Error): void {
    this.ready = Promise.reject(error);
    this.ready.catch(() => undefined);
    this.#stopped = true;
    this.end(error);
  }

  message(raw: Raw): void {
    if (this.#stopped) return;
    this.#received++;
    let message: M;
    try {
      message = this.#decode(raw);
    } catch (err) {
      this.#rejected++;
      this.#lastRejection = (err as Error).message;
      (this.#logger.reject ?? this.#logger.warn).call(this.#logger, { subject: this.subject, err: (err as Error).message }, 'bus: rejected a malformed message');
      return;
    }
    const handler = this.#handler;
    if (handler) {
      this.#chain = this.#chain.then(async () => {
        if (this.#dropped) return;
        this.#delivered++;
        try {
          await handler(message);
        } catch (err) {
          this.#handlerErrors++;
          this.#logger.warn({ subject: this.subject, err: (err as Error)?.message ?? String(err) }, 'bus: subscription handler failed');
        }
      });
      return;
    }
    this.#delivered++;
    if (this.#waiting) {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting.resolve({ value: message, done: false });
    } else {
      this.#queue.push(message);
    }
  }

  end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopped = true;
    this.#endError = error;
    if (error) this.#logger.warn({ subject: this.subject, err: error.message }, 'bus: subscription ended with an error');
    if (this.#waiting && (this.#queue.length === 0 || this.#dropped)) {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (error) waiting.reject(error);
      else waiting.resolve({ value: undefined, done: true });
    }
    void this.#chain.then(() => {
      this.#onClosed();
      this.#resolveClosed();
    });
  }

  stats(): SubscriptionStats {
    return {
      received: this.#received,
      delivered: this.#delivered,
      rejected: this.#rejected,
      handlerErrors: this.#handlerErrors,
      lastRejection: this.#lastRejection,
    };
  }

  unsubscribe(): void {
    if (this.#stopped && this.#dropped) return;
    this.#stopped = true;
    this.#dropped = true;
    this.#queue = [];
    if (this.#transport) this.#transport.unsubscribe();
    else this.end();
  }

  async drain(): Promise<void> {
    // Still accepting: the transport flushes what is on its way, then calls `end`.
    if (!this.#stopped) {
      if (this.#transport) await this.#transport.drain();
      else this.end();
    }
    await this.closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<M> {
    if (this.#handler) throw new Error(`bus: the subscription to ${this.subject} has a handler; it cannot also be iterated`);
    if (this.#iterating) throw new Error(`bus: the subscription to ${this.subject} is already being iterated`);
    this.#iterating = true;
    return {
      next: () => {
        const value = this.#queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.#ended) {
          return this.#endError ? Promise.reject(this.#endError) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }));
      },
      return: () => {
        this.unsubscribe();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
