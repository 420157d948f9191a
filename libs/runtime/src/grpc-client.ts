import { credentials, status, InterceptingCall, type ChannelCredentials, type Interceptor, type ServiceError, type ClientOptions } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isServiceError } from './grpc-errors.js';

export interface GrpcClientSecurity {
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string | undefined;
  /** Use TLS; `caFile` pins the server's CA (else the system roots). */
  readonly tls?: { readonly caFile?: string | undefined; readonly certFile?: string | undefined; readonly keyFile?: string | undefined } | undefined;
}

/** Adds the bearer token to every call (works over plaintext loopback as well as TLS). */
export function bearerTokenInterceptor(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/** Channel credentials and client options for a generated client's constructor. */
export function clientSecurity(security: GrpcClientSecurity = {}): { credentials: ChannelCredentials; options: ClientOptions } {
  const tls = security.tls;
  const creds = tls
    ? credentials.createSsl(
        tls.caFile ? readFileSync(tls.caFile) : null,
        tls.keyFile ? readFileSync(tls.keyFile) : null,
        tls.certFile ? readFileSync(tls.certFile) : null,
      )
    : credentials.createInsecure();
  return { credentials: creds, options: security.token ? { interceptors: [bearerTokenInterceptor(security.token)] } : {} };
}

/** Calls a generated unary method as a promise, with a deadline so a dead peer cannot hang it. */
export function unaryCall<Res>(
  invoke: (options: { deadline: Date }, callback: (err: ServiceError | null, res?: Res) => void) => unknown,
  timeoutMs = 10_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke({ deadline: new Date(Date.now() + timeoutMs) }, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  readonly attempts?: number;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Which failures are worth another try; default: gRPC UNAVAILABLE. */
  readonly retryable?: (err: unknown) => boolean;
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  readonly signal?: AbortSignal;
}

export const isUnavailable = (err: unknown): boolean => isServiceError(err) && err.code === status.UNAVAILABLE;

/** Retries `fn` with exponential backoff and jitter while it fails with a retryable error. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const retryable = options.retryable ?? isUnavailable;
  let delayMs = options.initialDelayMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !retryable(err)) throw err;
      const wait = Math.min(delayMs, options.maxDelayMs ?? 5000) * (0.5 + Math.random() / 2);
      options.onRetry?.(err, attempt, wait);
      await sleep(wait, undefined, options.signal ? { signal: options.signal } : undefined);
      delayMs *= 2;
    }
  }
}
