/**
 * Calling another Fulcrum service: channel credentials and options from a peer's config section,
 * a deadline on every call, bounded retry with backoff while the peer is UNAVAILABLE, and one
 * error shape when it stays away (gRPC `UNAVAILABLE` naming the peer), so a dead peer never hangs
 * a caller.
 */
import { Metadata, status, type ChannelCredentials, type ClientOptions, type ServiceError } from '@grpc/grpc-js';
import { GrpcStatusError, clientSecurity, isServiceError, unaryCall, withRetry } from '@fulcrum/runtime';
import type { Logger } from 'pino';
import type { PeerConfig, RetryConfig } from './config.js';

/** Reconnect quickly after a peer restarts (grpc-js backs off up to 120 s by default). */
const CHANNEL_OPTIONS: Partial<ClientOptions> = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

/** Credentials and client options for a generated client's constructor, from a peer section. */
export function peerChannel(peer: Pick<PeerConfig, 'token' | 'tls' | 'tlsCa' | 'tlsCert' | 'tlsKey'>): { credentials: ChannelCredentials; options: Partial<ClientOptions> } {
  const { credentials, options } = clientSecurity({
    token: peer.token,
    tls: peer.tls || peer.tlsCa || peer.tlsCert ? { caFile: peer.tlsCa, certFile: peer.tlsCert, keyFile: peer.tlsKey } : undefined,
  });
  return { credentials, options: { ...CHANNEL_OPTIONS, ...options } };
}

/** What a gRPC peer call needs besides the call itself. */
export interface PeerCallContext {
  /** `device-controller`, `executor`, `profiler`: used in messages and metrics. */
  readonly peer: string;
  readonly address: string;
  readonly retry: RetryConfig;
  readonly logger?: Logger | undefined;
  /** Called once per retry (metrics). */
  readonly onRetry?: ((peer: string) => void) | undefined;
  /**
   * Called before each retry to start over on a fresh channel: a channel whose peer went away
   * backs off before reconnecting and fails calls at once meanwhile, even after the peer is back.
   */
  readonly reconnect?: (() => void) | undefined;
}

/** A generated client that can be replaced by a fresh one (a new channel) after its peer went away. */
export function reconnectingClient<C extends { close(): void }>(make: () => C): { readonly current: C; reconnect(): void; close(): void } {
  let client = make();
  return {
    get current() {
      return client;
    },
    reconnect() {
      client.close();
      client = make();
    },
    close() {
      client.close();
    },
  };
}

/**
 * UNAVAILABLE; CANCELLED (a peer shutting down cancels the calls it was serving — this client never
 * cancels its own unary calls); or a deadline that passed because the peer went silent.
 */
export function isPeerGone(err: unknown): boolean {
  return isServiceError(err) && (err.code === status.UNAVAILABLE || err.code === status.CANCELLED || err.code === status.DEADLINE_EXCEEDED);
}

/**
 * The error a caller gets when a peer stays away after the retries: UNAVAILABLE naming the peer.
 * Other failures (INVALID_ARGUMENT from the peer, FAILED_PRECONDITION, …) pass through unchanged,
 * with their ErrorDetail trailer.
 */
export function peerUnavailable(ctx: Pick<PeerCallContext, 'peer' | 'address'>, err: unknown): unknown {
  if (!isPeerGone(err)) return err;
  const e = err as ServiceError;
  const what = e.code === status.DEADLINE_EXCEEDED ? 'did not answer in time' : e.code === status.CANCELLED ? 'went away during the call' : 'is unavailable';
  return new GrpcStatusError(status.UNAVAILABLE, `${ctx.peer} at ${ctx.address} ${what}: ${e.details || e.message}`);
}

/** One unary call with a deadline, retried with backoff while the peer is UNAVAILABLE. */
export async function callPeer<Res>(
  ctx: PeerCallContext,
  method: string,
  timeoutMs: number,
  invoke: (metadata: Metadata, options: { deadline: Date }, callback: (err: ServiceError | null, res?: Res) => void) => unknown,
): Promise<Res> {
  try {
    return await withRetry(() => unaryCall<Res>((options, callback) => invoke(new Metadata(), options, callback), timeoutMs), {
      attempts: ctx.retry.attempts,
      initialDelayMs: ctx.retry.initialDelayMs,
      maxDelayMs: ctx.retry.maxDelayMs,
      // A deadline is not retried: the peer may still be working on it (a long measurement).
      retryable: (err) => isServiceError(err) && (err.code === status.UNAVAILABLE || err.code === status.CANCELLED),
      onRetry: (err, attempt, delayMs) => {
        ctx.onRetry?.(ctx.peer);
        ctx.reconnect?.();
        ctx.logger?.warn({ peer: ctx.peer, address: ctx.address, method, attempt, delayMs: Math.round(delayMs), err: (err as ServiceError).details }, 'peer unavailable; retrying');
      },
    });
  } catch (err) {
    throw peerUnavailable(ctx, err);
  }
}
