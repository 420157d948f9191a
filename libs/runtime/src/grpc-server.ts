import { ValidationError } from '@fulcrum/core';
import { fileErrorReason } from '@fulcrum/core/internal';
import {
  Server,
  ServerCredentials,
  status,
  type Metadata,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type handleUnaryCall,
  type handleServerStreamingCall,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader';
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { toGrpcError } from './grpc-errors.js';

export interface TlsFiles {
  /** PEM certificate chain. */
  readonly certFile: string;
  /** PEM private key. */
  readonly keyFile: string;
  /** PEM CA bundle; when set, clients must present a certificate it signed. */
  readonly clientCaFile?: string | undefined;
}

export interface GrpcServiceBinding {
  /** Fully qualified name for health checks, e.g. `fulcrum.device.v1.DeviceController`. */
  readonly name: string;
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

export interface GrpcServerOptions {
  readonly services: readonly GrpcServiceBinding[];
  /** Default `127.0.0.1`. Anything but loopback needs both `tls` and `token`. */
  readonly host?: string | undefined;
  /** 0 picks a free port. */
  readonly port?: number | undefined;
  /** When set, every call to the services above must carry `authorization: Bearer <token>`. */
  readonly token?: string | undefined;
  readonly tls?: TlsFiles | undefined;
  /** A FileDescriptorSet for server reflection (see `@fulcrum/proto` `loadDescriptorSet`). */
  readonly descriptorSet?: Buffer | undefined;
  readonly logger?: Logger | undefined;
  /**
   * Serve beyond loopback without TLS and token — only for a private network you trust
   * (e.g. the compose bridge network). Off by default.
   */
  readonly allowPlaintextNetwork?: boolean | undefined;
  /** Server streams open at once across the services (default DEFAULT_MAX_SERVER_STREAMS); one more is RESOURCE_EXHAUSTED. */
  readonly maxStreams?: number | undefined;
}

/** Server streams one gRPC server keeps open at once unless configured (`grpc.maxStreams`). */
export const DEFAULT_MAX_SERVER_STREAMS = 1024;

const REFUSAL_WARN_INTERVAL_MS = 10_000;

/**
 * `server` as seen by a service that registers itself (health, reflection): each of its streaming
 * handlers goes through the same gate as Fulcrum's own, so a client without a token cannot hold
 * unbounded Watch or reflection streams either.
 */
function gatedServer(server: Server, streams: StreamGate): Server {
  return {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const gated: UntypedServiceImplementation = {};
      // Handlers are keyed by the method's name or its original (lower camel) name, as grpc-js takes them.
      const defs = Object.values(definition);
      for (const [method, handler] of Object.entries(implementation)) {
        const def = definition[method] ?? defs.find((d) => d.originalName === method);
        gated[method] = def?.responseStream
          ? (((call: ServerWritableStream<unknown, unknown>) => {
              if (!streams.refuse(call, def.path)) (handler as (call: unknown) => void)(call);
            }) as never)
          : handler;
      }
      server.addService(definition, gated);
    },
  } as unknown as Server;
}

/** Counts the server streams open; `enter` refuses one past the limit. */
class StreamGate {
  open = 0;
  /** Refused since the last warning (at most one warning per REFUSAL_WARN_INTERVAL_MS: a flood of refusals must not flood the log). */
  #refused = 0;
  #warnedAt = -Infinity;
  constructor(
    readonly limit: number,
    private readonly logger?: Logger | undefined,
  ) {}

  /** Refuses a stream past the limit with RESOURCE_EXHAUSTED (true), or counts it until it ends (false). */
  refuse(call: ServerWritableStream<unknown, unknown>, method: string): boolean {
    if (this.enter(call)) return false;
    this.#refused++;
    const now = performance.now();
    if (now - this.#warnedAt >= REFUSAL_WARN_INTERVAL_MS) {
      this.logger?.warn({ method, open: this.open, limit: this.limit, refused: this.#refused }, 'server streams refused: grpc.maxStreams are open');
      this.#warnedAt = now;
      this.#refused = 0;
    }
    call.emit('error', { code: status.RESOURCE_EXHAUSTED, details: `this service has ${this.limit} streams open (grpc.maxStreams); retry when one ends` });
    return true;
  }

  /** Counts the call until it ends (finished, cancelled, failed or closed); false when the limit is reached. */
  enter(call: ServerWritableStream<unknown, unknown>): boolean {
    if (this.open >= this.limit) return false;
    this.open++;
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      this.open--;
      for (const e of ['finish', 'cancelled', 'close', 'error'] as const) call.off(e, leave);
    };
    for (const e of ['finish', 'cancelled', 'close', 'error'] as const) call.once(e, leave);
    return true;
  }
}

export interface RunningGrpcServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** `host:port`, ready for a client. */
  readonly address: string;
  setServing(service: string, serving: ServingStatus): void;
  /** Stops accepting calls, lets running ones finish for `graceMs`, then cancels them. */
  shutdown(graceMs?: number): Promise<void>;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

/** Constant-time bearer-token check. */
export function hasBearerToken(metadata: Metadata, token: string): boolean {
  const header = metadata.get('authorization')[0];
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const UNAUTHENTICATED = { code: status.UNAUTHENTICATED, details: 'missing or invalid bearer token (send "authorization: Bearer <token>")' };

/** A request the generated decoder refused (e.g. a uint64 over 2⁵³, which ts-proto's numbers cannot hold). */
class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/**
 * The definition with each request decoder made total: grpc-js answers INTERNAL when a decoder
 * throws; here the failure reaches the guard, which answers INVALID_ARGUMENT saying why.
 */
function decodingDefinition(definition: ServiceDefinition): ServiceDefinition {
  const out: Record<string, unknown> = {};
  for (const [method, def] of Object.entries(definition)) {
    out[method] = {
      ...def,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return def.requestDeserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(String((err as Error)?.message ?? err).slice(0, 200));
        }
      },
    };
  }
  return out as ServiceDefinition;
}

function undecodable(request: unknown): { code: status; details: string } | undefined {
  return request instanceof UndecodableRequest ? { code: status.INVALID_ARGUMENT, details: `the request cannot be decoded: ${request.reason}` } : undefined;
}

/** Wraps every handler with the token check and the error mapping. */
function guard(binding: GrpcServiceBinding, token: string | undefined, logger: Logger | undefined, streams: StreamGate): UntypedServiceImplementation {
  const guarded: UntypedServiceImplementation = {};
  for (const [method, def] of Object.entries(binding.definition)) {
    const handler = binding.implementation[method];
    if (!handler) throw new Error(`${binding.name}: no implementation for ${method}`);
    if (def.requestStream) throw new Error(`${binding.name}.${method}: client-streaming methods are not supported`);
    if (def.responseStream) {
      guarded[method] = ((call: ServerWritableStream<unknown, unknown>) => {
        if (token && !hasBearerToken(call.metadata, token)) return void call.emit('error', UNAUTHENTICATED);
        const bad = undecodable(call.request);
        if (bad) return void call.emit('error', bad);
        if (streams.refuse(call, def.path)) return;
        try {
          (handler as handleServerStreamingCall<unknown, unknown>)(call);
        } catch (err) {
          logger?.error({ err, method: def.path }, 'handler threw');
          call.emit('error', toGrpcError(err));
        }
      }) as handleServerStreamingCall<unknown, unknown>;
    } else {
      guarded[method] = ((call: ServerUnaryCall<unknown, unknown>, callback: Parameters<handleUnaryCall<unknown, unknown>>[1]) => {
        if (token && !hasBearerToken(call.metadata, token)) return callback(UNAUTHENTICATED);
        const bad = undecodable(call.request);
        if (bad) return callback(bad);
        try {
          (handler as handleUnaryCall<unknown, unknown>)(call, callback);
        } catch (err) {
          logger?.error({ err, method: def.path }, 'handler threw');
          callback(toGrpcError(err));
        }
      }) as handleUnaryCall<unknown, unknown>;
    }
  }
  return guarded;
}

/**
 * An AbortSignal that aborts when the server call is cancelled: the client cancelled it, its
 * deadline passed, or the server is shutting down. Pass it on to the work the call started (a
 * peer call, a measurement) so that work stops with its caller. `dispose` detaches the listener.
 */
export function callSignal(call: { once(event: 'cancelled', fn: () => void): unknown; off(event: 'cancelled', fn: () => void): unknown; readonly cancelled?: boolean }): { readonly signal: AbortSignal; dispose(): void } {
  const abort = new AbortController();
  const onCancel = (): void => abort.abort(new Error('the call was cancelled (its client went away or its deadline passed)'));
  if (call.cancelled) onCancel();
  else call.once('cancelled', onCancel);
  return { signal: abort.signal, dispose: () => void call.off('cancelled', onCancel) };
}

/**
 * A unary handler from an async function: resolves → OK, throws → the mapped status
 * (ValidationError → INVALID_ARGUMENT naming the field).
 */
export function unary<Req, Res>(fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res, logger?: Logger): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => callback(null, res),
        (err: unknown) => {
          const mapped = toGrpcError(err);
          if (mapped.code === status.INTERNAL) logger?.error({ err, method: call.getPath() }, 'call failed');
          callback(mapped);
        },
      );
  };
}

/** A server-streaming handler from an async generator; ends the stream when it returns. */
export function serverStream<Req, Res>(fn: (request: Req, call: ServerWritableStream<Req, Res>) => AsyncIterable<Res>, logger?: Logger): handleServerStreamingCall<Req, Res> {
  return (call) => {
    void (async () => {
      try {
        for await (const message of fn(call.request, call)) {
          if (call.cancelled) return;
          // Wait for the client to read, or for the call to go: a cancelled call never drains, and
          // waiting on 'drain' alone held the handler (and its generator) forever.
          if (!call.write(message)) await drainedOrGone(call);
        }
        call.end();
      } catch (err) {
        const mapped = toGrpcError(err);
        if (mapped.code === status.INTERNAL) logger?.error({ err, method: call.getPath() }, 'stream failed');
        if (!call.cancelled) call.emit('error', mapped);
      }
    })();
  };
}

/** Resolves on 'drain', or when the call is cancelled, closed or fails, whichever comes first. */
export function drainedOrGone(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  if (call.cancelled || call.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      call.off('error', done);
      resolve();
    };
    call.once('drain', done);
    call.once('cancelled', done);
    call.once('close', done);
    call.once('error', done);
  });
}

function credentials(tls: TlsFiles | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const ca = tls.clientCaFile ? readSetting(tls.clientCaFile, 'grpc.tlsClientCa') : null;
  return ServerCredentials.createSsl(ca, [{ cert_chain: readSetting(tls.certFile, 'grpc.tlsCert'), private_key: readSetting(tls.keyFile, 'grpc.tlsKey') }], ca !== null);
}

/** A file a setting names; one that cannot be read is a ValidationError naming the setting. */
function readSetting(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ValidationError(field, `cannot read ${path}: ${fileErrorReason(err)}`);
  }
}

/**
 * Starts a gRPC server with the given services, standard health checking (`grpc.health.v1`)
 * and, given a descriptor set, server reflection. Health and reflection need no token, so
 * probes and `grpcurl list` work; every Fulcrum method does when a token is configured.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && !(options.tls && options.token)) {
    if (!options.allowPlaintextNetwork) {
      throw new ValidationError(
        'grpc.host',
        `refusing to listen on ${host}: serving beyond loopback needs both TLS (cert and key) and a bearer token ` +
          '(or grpc.allowPlaintextNetwork for a private network you trust)',
      );
    }
    const missing = [options.tls ? undefined : 'TLS', options.token ? undefined : 'a bearer token'].filter(Boolean).join(' or ');
    options.logger?.warn({ host, tls: Boolean(options.tls), auth: Boolean(options.token) }, `serving gRPC beyond loopback without ${missing} (grpc.allowPlaintextNetwork)`);
  }
  const maxStreams = options.maxStreams ?? DEFAULT_MAX_SERVER_STREAMS;
  if (!(Number.isInteger(maxStreams) && maxStreams >= 1)) throw new ValidationError('grpc.maxStreams', `must be a whole number ≥ 1, got ${maxStreams}`);
  const streams = new StreamGate(maxStreams, options.logger);
  const server = new Server();
  const health = new HealthImplementation({ '': 'SERVING' });
  health.addToServer(gatedServer(server, streams));
  if (options.descriptorSet) new ReflectionService(loadFileDescriptorSetFromBuffer(options.descriptorSet)).addToServer(gatedServer(server, streams));
  for (const binding of options.services) {
    server.addService(decodingDefinition(binding.definition), guard(binding, options.token, options.logger, streams));
    health.setStatus(binding.name, 'SERVING');
  }
  const bindHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${bindHost}:${options.port ?? 0}`, credentials(options.tls), (err, boundPort) => (err ? reject(bindError(err, bindHost, options.port ?? 0)) : resolve(boundPort))),
  );
  options.logger?.info({ host, port, services: options.services.map((s) => s.name), tls: Boolean(options.tls), auth: Boolean(options.token) }, 'gRPC server listening');
  let stopped: Promise<void> | undefined;
  return {
    server,
    host,
    port,
    address: `${bindHost}:${port}`,
    setServing: (service, serving) => health.setStatus(service, serving),
    shutdown: (graceMs = 5000) =>
      (stopped ??= new Promise<void>((resolve) => {
        for (const s of options.services) health.setStatus(s.name, 'NOT_SERVING');
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      })),
  };
}

/** The gRPC port could not be bound: says why in words (in use, not permitted), the grpc-js error as `cause`. */
export class GrpcBindError extends Error {
  override readonly name = 'GrpcBindError';
  constructor(
    readonly address: string,
    reason: string,
    cause: unknown,
  ) {
    super(`cannot listen on ${address}: ${reason}`, { cause });
  }
}

function bindError(err: Error, host: string, port: number): GrpcBindError {
  const text = err.message;
  const reason = /EADDRINUSE/.test(text)
    ? 'the port is in use (another process listens there; pick another port, or 0 for any free one)'
    : /EACCES/.test(text)
      ? 'not permitted (ports below 1024 need privileges)'
      : /EADDRNOTAVAIL|ENOTFOUND|EAI_/.test(text)
        ? 'no such address on this host'
        : text;
  return new GrpcBindError(`${host}:${port}`, reason, err);
}
