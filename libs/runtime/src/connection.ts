/**
 * One connection to a Fulcrum service, the way every caller talks to a peer: address, bearer
 * token, TLS, a deadline on every call, keepalive, and bounded retry with backoff while the peer
 * is away — declared once here. The profiler (to the device-controller and executor), the
 * optimizer (to the profiler and executor), the executor (to the device-controller) and the CLI
 * (to the optimizer) all use it.
 *
 *   const ctl = new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: '10.0.0.5:50051', token });
 *   const res = await ctl.unary('GetPowerMode', (c, md, o, cb) => c.getPowerMode({}, md, o, cb));
 *   ctl.close();
 *
 * A retry starts over on a fresh channel: a channel whose peer went away backs off before it
 * redials and fails calls at once meanwhile, even after the peer is back. When the peer stays
 * away the caller gets one error shape, gRPC UNAVAILABLE naming the peer and its address; other
 * failures (INVALID_ARGUMENT with its ErrorDetail trailer, FAILED_PRECONDITION, …) pass through
 * unchanged.
 */
import { Metadata, status, type CallOptions, type ChannelCredentials, type Client, type ClientOptions, type ServiceError } from '@grpc/grpc-js';
import { z } from 'zod';
import { isValidationError } from '@fulcrum/core';
import type { Logger } from 'pino';
import { clientSecurity, withRetry } from './grpc-client.js';
import { GrpcStatusError, isServiceError } from './grpc-errors.js';

/** A generated client's constructor (`device.DeviceControllerClient`, `optimizer.OptimizerClient`, …). */
export type GrpcClientConstructor<C extends Client> = new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>) => C;

export interface ConnectionOptions {
  /** What the peer is (`device-controller`, `profiler`, …): named in errors, logs and metrics. */
  readonly peer: string;
  /** `host:port`. */
  readonly address: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string | undefined;
  /** Use TLS (the system roots unless `tlsCa`); `tlsCa` or `tlsCert` imply it. */
  readonly tls?: boolean | undefined;
  /** PEM CA that signed the peer's certificate. */
  readonly tlsCa?: string | undefined;
  /** Client certificate and key, for peers that require mutual TLS. */
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  /** Deadline of one call, ms. Default 10 000. */
  readonly timeoutMs?: number | undefined;
  /** HTTP/2 keepalive ping interval during calls, ms (a dead link fails a long call instead of hanging it); 0: off. Default 60 000. */
  readonly keepaliveMs?: number | undefined;
  /** Tries per call, the first included. Default 4. */
  readonly attempts?: number | undefined;
  /** First backoff, ms (doubles each try, with jitter). Default 200. */
  readonly initialBackoffMs?: number | undefined;
  /** Longest backoff, ms; also how far apart the channel redials. Default 2000. */
  readonly maxBackoffMs?: number | undefined;
  /** Status codes worth another try. Default UNAVAILABLE only (a deadline is not retried: the peer may still be working). */
  readonly retryOn?: readonly status[] | undefined;
  /** Wait for the connection within the deadline instead of failing at once while it is down. Default false. */
  readonly waitForReady?: boolean | undefined;
  readonly logger?: Logger | undefined;
  /** After each failed try (metrics): the method and the error. */
  readonly onFailure?: ((method: string, err: unknown) => void) | undefined;
  /** Before each retry (metrics, progress): the failed try's number and the wait before the next, ms. */
  readonly onRetry?: ((method: string, err: unknown, attempt: number, delayMs: number) => void) | undefined;
}

/** A unary method of a generated client, called with metadata, options and a callback. */
export type UnaryInvoke<C, Res> = (client: C, metadata: Metadata, options: CallOptions, callback: (err: ServiceError | null, res?: Res) => void) => unknown;

/** UNAVAILABLE, CANCELLED (a peer shutting down cancels the calls it serves) or a deadline passed: the peer is away. */
export function isPeerGone(err: unknown): boolean {
  return isServiceError(err) && (err.code === status.UNAVAILABLE || err.code === status.CANCELLED || err.code === status.DEADLINE_EXCEEDED);
}

/** grpc-js's details without its empty trailer, with a hint where the cause is a known misconfiguration. */
function describeFailure(details: string): string {
  const text = details.replace(/\s*Resolution note:\s*$/u, '').trim();
  if (/wrong version number|WRONG_VERSION_NUMBER|packet length too long/i.test(text)) return `${text} (TLS to a server that speaks plaintext? drop TLS, or give the server a certificate)`;
  if (/Connection dropped|Protocol error|malformed/i.test(text)) return `${text} (plaintext to a server that requires TLS?)`;
  return text;
}

/** The error of a call its caller cancelled: CANCELLED naming the peer and method (not retried, not "unavailable"). */
function cancelledBy(signal: AbortSignal, peer: string, method: string): GrpcStatusError {
  const why = signal.reason instanceof Error && signal.reason.name !== 'AbortError' ? `: ${signal.reason.message}` : '';
  return new GrpcStatusError(status.CANCELLED, `${method} to ${peer} cancelled by its caller${why}`);
}

export class GrpcConnection<C extends Client> {
  readonly peer: string;
  readonly address: string;
  readonly timeoutMs: number;
  private readonly credentials: ChannelCredentials;
  private readonly channelOptions: Partial<ClientOptions>;
  private readonly retryOn: ReadonlySet<status>;
  private current: C;
  private closed = false;

  /** Reads TLS files now: a missing or unreadable file throws here, before any call. */
  constructor(
    private readonly Ctor: GrpcClientConstructor<C>,
    private readonly options: ConnectionOptions,
  ) {
    this.peer = options.peer;
    this.address = options.address;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const tls = options.tls || options.tlsCa || options.tlsCert ? { caFile: options.tlsCa, certFile: options.tlsCert, keyFile: options.tlsKey } : undefined;
    const security = clientSecurity({ token: options.token, tls });
    const maxBackoffMs = options.maxBackoffMs ?? 2000;
    const keepaliveMs = options.keepaliveMs ?? 60_000;
    this.credentials = security.credentials;
    this.channelOptions = {
      ...security.options,
      // A restarted peer is found within the backoff, not grpc's default of up to 2 minutes.
      'grpc.initial_reconnect_backoff_ms': Math.min(100, maxBackoffMs),
      'grpc.max_reconnect_backoff_ms': maxBackoffMs,
      ...(keepaliveMs > 0 ? { 'grpc.keepalive_time_ms': keepaliveMs, 'grpc.keepalive_timeout_ms': 20_000 } : {}),
    };
    this.retryOn = new Set(options.retryOn ?? [status.UNAVAILABLE]);
    this.current = new Ctor(this.address, this.credentials, this.channelOptions);
  }

  /** The generated client on the current channel (for calls this class has no helper for). */
  get client(): C {
    return this.current;
  }

  /** Fresh call metadata (with wait-for-ready when configured). */
  metadata(): Metadata {
    return new Metadata(this.options.waitForReady ? { waitForReady: true } : {});
  }

  /** Drops the channel and opens a new one. */
  reconnect(): void {
    if (this.closed) return;
    this.current.close();
    this.current = new this.Ctor(this.address, this.credentials, this.channelOptions);
  }

  /** Is `err` worth another try under this connection's policy? */
  isRetryable(err: unknown): boolean {
    return isServiceError(err) && this.retryOn.has(err.code);
  }

  /**
   * Runs `fn` (one try: a unary call, a whole server stream) and tries again on a fresh channel
   * with backoff while it fails with a retryable status, up to `attempts`; then throws
   * `unavailable()`'s error. Other errors pass through at once.
   */
  async retrying<T>(method: string, fn: (client: C, attempt: number) => Promise<T>): Promise<T> {
    let tries = 0;
    try {
      return await withRetry(
        (attempt) => {
          tries = attempt;
          return fn(this.current, attempt).catch((err: unknown) => {
            this.options.onFailure?.(method, err);
            throw err;
          });
        },
        {
          attempts: this.options.attempts ?? 4,
          initialDelayMs: this.options.initialBackoffMs ?? 200,
          maxDelayMs: this.options.maxBackoffMs ?? 2000,
          retryable: (err) => this.isRetryable(err),
          onRetry: (err, attempt, delayMs) => {
            this.options.onRetry?.(method, err, attempt, delayMs);
            this.reconnect();
            this.options.logger?.warn({ peer: this.peer, address: this.address, method, attempt, delayMs: Math.round(delayMs), err: isServiceError(err) ? err.details : String(err) }, `${this.peer} unavailable; retrying`);
          },
        },
      );
    } catch (err) {
      throw this.unavailable(err, method, tries);
    }
  }

  /**
   * One unary call with the deadline (`timeoutMs` + `extraMs`), retried per the policy. `signal`
   * cancels the call in flight (the peer sees its call cancelled and stops its work) and any
   * further try: the call fails with CANCELLED, not retried.
   */
  unary<Res>(method: string, invoke: UnaryInvoke<C, Res>, call: { readonly timeoutMs?: number; readonly extraMs?: number; readonly signal?: AbortSignal | undefined } = {}): Promise<Res> {
    const timeoutMs = (call.timeoutMs ?? this.timeoutMs) + (call.extraMs ?? 0);
    const signal = call.signal;
    return this.retrying(
      method,
      (client) =>
        new Promise<Res>((resolve, reject) => {
          if (signal?.aborted) return reject(cancelledBy(signal, this.peer, method));
          const pending = invoke(client, this.metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
            signal?.removeEventListener('abort', onAbort);
            if (err && err.code === status.CANCELLED && signal?.aborted) reject(cancelledBy(signal, this.peer, method));
            else if (err) reject(err);
            else resolve(res as Res);
          }) as { cancel?: () => void } | undefined;
          function onAbort(): void {
            pending?.cancel?.();
          }
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
    );
  }

  /**
   * Reads a peer's answer (`fn`: a conversion from `@fulcrum/proto`): an answer that breaks the
   * contract (a ValidationError) becomes INTERNAL naming the peer, the method and the field.
   */
  decode<T>(method: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isValidationError(err)) throw new GrpcStatusError(status.INTERNAL, `${this.peer} at ${this.address} answered ${method} with a bad ${err.field}: ${err.reason}`);
      throw err;
    }
  }

  /**
   * A peer that stayed away as UNAVAILABLE naming it (`device-controller at 10.0.0.5:50051 is
   * unavailable (GetPowerMode, 3 attempts): …`); anything else unchanged.
   */
  unavailable(err: unknown, method?: string, attempts?: number): unknown {
    if (!isPeerGone(err)) return err;
    const e = err as ServiceError;
    // A status this connection retries means "away"; otherwise say what happened.
    const what = this.isRetryable(e) || e.code === status.UNAVAILABLE ? 'is unavailable' : e.code === status.DEADLINE_EXCEEDED ? 'did not answer in time' : 'went away during the call';
    const where = method ? ` (${method}${attempts ? `, ${attempts} attempt${attempts === 1 ? '' : 's'}` : ''})` : '';
    return new GrpcStatusError(status.UNAVAILABLE, `${this.peer} at ${this.address} ${what}${where}: ${describeFailure(e.details || e.message)}`);
  }

  close(): void {
    this.closed = true;
    this.current.close();
  }
}

/**
 * The config section for one peer (`profiler.controller`, `executor.controller`,
 * `optimizer.profiler`, …): how to reach it and how hard to try. Env names follow the section,
 * e.g. `FULCRUM_CONTROLLER__ADDRESS`, `FULCRUM_CONTROLLER__ATTEMPTS`.
 */
export function peerConfigSchema(defaults: { readonly port: number; readonly timeoutS?: number; readonly attempts?: number; readonly initialBackoffMs?: number; readonly maxBackoffMs?: number }) {
  return z.object({
    /** `host:port`. */
    address: z.string().min(1).default(`127.0.0.1:${defaults.port}`),
    /** Bearer token sent on every call (the peer's `grpc.token`). */
    token: z.string().min(8).optional(),
    /** Use TLS; with `tlsCa` the peer's certificate must be signed by that CA (else the system roots). */
    tls: z.boolean().default(false),
    tlsCa: z.string().min(1).optional(),
    /** Client certificate and key, for peers that require mutual TLS. */
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** Deadline of one call, seconds. */
    timeoutS: z.number().positive().default(defaults.timeoutS ?? 120),
    /** Tries per call while the peer is unavailable, the first included. */
    attempts: z.number().int().min(1).max(20).default(defaults.attempts ?? 4),
    /** First backoff between tries, ms (doubles, with jitter). */
    initialBackoffMs: z.number().int().min(1).default(defaults.initialBackoffMs ?? 200),
    /** Longest backoff, ms. */
    maxBackoffMs: z.number().int().min(1).default(defaults.maxBackoffMs ?? 2000),
  });
}
export type PeerConfig = z.output<ReturnType<typeof peerConfigSchema>>;

/** Connection options from a peer config section. */
export function connectionOptions(peer: string, config: PeerConfig): ConnectionOptions {
  return {
    peer,
    address: config.address,
    token: config.token,
    tls: config.tls,
    tlsCa: config.tlsCa,
    tlsCert: config.tlsCert,
    tlsKey: config.tlsKey,
    timeoutMs: config.timeoutS * 1000,
    attempts: config.attempts,
    initialBackoffMs: config.initialBackoffMs,
    maxBackoffMs: config.maxBackoffMs,
  };
}
