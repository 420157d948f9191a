/**
 * What every Fulcrum service shares: the gRPC and metrics sections of its config, default
 * ports, and one start/stop routine (gRPC server + /metrics + /healthz + graceful shutdown).
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { isLoopbackHost, startGrpcServer, type GrpcServiceBinding, type RunningGrpcServer } from './grpc-server.js';
import { ValidationError, describeValue } from '@fulcrum/core/internal';
import { TOKEN_RULE, boardIdFrom } from '@fulcrum/core';
import { hostname } from 'node:os';
import { loadDescriptorSet } from '@fulcrum/proto';
import { CleanupStack, SHUTDOWN_LIMITS, closeWithin } from './cleanup.js';
import { LOG_LEVELS, serviceLogger } from './logging.js';
import { createMetricsRegistry, startHttpEndpoints, type RunningHttpEndpoints } from './http-endpoints.js';

export const SERVICE_NAMES = ['device-controller', 'executor', 'profiler', 'optimizer'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Default gRPC ports; metrics listen on the gRPC port + 1000 (so 51051 … 51054). */
export const DEFAULT_GRPC_PORTS: Readonly<Record<ServiceName, number>> = {
  'device-controller': 50051,
  executor: 50052,
  profiler: 50053,
  optimizer: 50054,
};

/** The `grpc` section of a service's config (`FULCRUM_GRPC__PORT`, `--grpc.port`, …). */
export const grpcConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port (tests, the embedded default). */
  port: z.number().int().min(0).max(65535).optional(),
  /** Bearer token every caller must send; unset: no auth (loopback only). */
  token: z.string().min(8).optional(),
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  /** CA of client certificates; set it to require mutual TLS. */
  tlsClientCa: z.string().optional(),
  /** Listen beyond loopback without TLS and token: only on a private network you trust (compose). */
  allowPlaintextNetwork: z.boolean().optional(),
  /**
   * Server streams (Solve, StreamTelemetry, WatchStatus, …) open at once on this service; one more
   * is RESOURCE_EXHAUSTED until one ends. Each holds a handler and its buffers while it lasts.
   * Unset: DEFAULT_MAX_SERVER_STREAMS (1024).
   */
  maxStreams: z.number().int().min(1).max(100_000).optional(),
});
export type GrpcConfig = z.output<typeof grpcConfigSchema>;

/** This host's default board id (SPEC §1): its host name as a subject token (`boardIdFrom`). */
export function defaultBoardId(host: string = hostname()): string {
  return boardIdFrom(host);
}

/**
 * The `board` key of the device-controller and executor: this board's id, the token of its NATS
 * subjects and the `board` label of its metrics (distinct from the device model). Default the host name.
 */
export const boardSchema = z
  .string()
  .regex(TOKEN_RULE, "must be 1–64 letters, digits, '-' or '_', starting with a letter or digit")
  .optional()
  .transform((b) => b ?? defaultBoardId());

/** `logLevel`: one of the logger's levels (`FULCRUM_LOG_LEVEL`, `--logLevel`). */
export const logLevelSchema = z.enum(LOG_LEVELS).default('info');

/**
 * The `nats` section: the NATS URL and how to authenticate; unset URL: an in-process bus (the
 * embedded default). Outside loopback a connection needs credentials (`token`, `user` + `pass`, or
 * `credsFile`) unless `trusted` says the network is private: anyone on an open bus could forge the
 * events Fulcrum acts on (deploy/nats has a server config with one user per role).
 */
export const natsConfigSchema = z
  .object({
    /** e.g. `nats://127.0.0.1:4222` (comma-separated for a cluster); unset: events go over an in-process bus shared by what runs in this process. */
    url: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional(),
    /** A NATS credentials file (JWT + nkey seed, `nsc generate creds`). */
    credsFile: z.string().min(1).optional(),
    /** TLS: the CA that signed the server's certificate; and a client certificate + key where the server asks for one. */
    tlsCa: z.string().min(1).optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** Connect beyond loopback without credentials: only on a private network you trust. */
    trusted: z.boolean().default(false),
  })
  .superRefine((n, ctx) => {
    if ((n.user === undefined) !== (n.pass === undefined)) ctx.addIssue({ code: 'custom', path: [n.user === undefined ? 'user' : 'pass'], message: 'user and pass go together' });
    if ((n.tlsCert === undefined) !== (n.tlsKey === undefined)) ctx.addIssue({ code: 'custom', path: [n.tlsCert === undefined ? 'tlsCert' : 'tlsKey'], message: 'tlsCert and tlsKey go together' });
    const ways = [n.token !== undefined, n.user !== undefined, n.credsFile !== undefined].filter(Boolean).length;
    if (ways > 1) ctx.addIssue({ code: 'custom', path: ['token'], message: 'give one of token, user + pass, credsFile' });
  });
export type NatsConfig = z.output<typeof natsConfigSchema>;

/** The hosts of a NATS URL list (`nats://h:4222`, `tls://h`, `h:4222`, comma-separated). */
export function natsHosts(url: string): string[] {
  return url
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '')
    .map((u) => {
      let url: URL;
      try {
        url = new URL(/^[a-z]+:\/\//i.test(u) ? u : `nats://${u}`);
      } catch {
        throw new ValidationError('nats.url', `is not a NATS URL: ${describeValue(u)} (e.g. nats://127.0.0.1:4222)`);
      }
      if (!['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol)) {
        throw new ValidationError('nats.url', `${describeValue(u)}: a NATS URL starts with nats://, tls://, ws:// or wss://, not ${url.protocol}//`);
      }
      return url.hostname.replace(/^\[|\]$/g, '');
    });
}

/**
 * What a service passes to the bus for its `nats` section (`createEventBus`'s NATS options).
 * Refuses (ValidationError naming `nats.url`) a server beyond loopback without credentials unless
 * `nats.trusted`; warns when credentials would cross a network in the clear.
 */
export function natsBusOptions(
  nats: NatsConfig,
  logger?: { warn(obj: object, msg: string): void },
): { natsUrl?: string[]; token?: string; user?: string; pass?: string; credsFile?: string; tls?: { caFile?: string; certFile?: string; keyFile?: string } } {
  if (!nats.url) return {};
  const urls = nats.url.split(',').map((u) => u.trim()).filter((u) => u !== '');
  const remote = natsHosts(nats.url).filter((h) => !isLoopbackHost(h));
  const authenticated = Boolean(nats.token || nats.user || nats.credsFile);
  const tls = nats.tlsCa || nats.tlsCert || urls.some((u) => u.startsWith('tls://'));
  if (remote.length > 0 && !authenticated) {
    if (!nats.trusted) {
      throw new ValidationError(
        'nats.url',
        `${describeValue(remote[0])} is beyond loopback and no credentials are set: set nats.token, nats.user + nats.pass or nats.credsFile (deploy/nats), or nats.trusted=true on a private network you trust`,
      );
    }
    logger?.warn({ hosts: remote }, 'connecting to NATS beyond loopback without credentials (nats.trusted)');
  } else if (remote.length > 0 && !tls) {
    logger?.warn({ hosts: remote }, 'NATS credentials cross the network in the clear; use tls:// and nats.tlsCa');
  }
  return {
    natsUrl: urls,
    ...(nats.token ? { token: nats.token } : {}),
    ...(nats.user ? { user: nats.user, pass: nats.pass! } : {}),
    ...(nats.credsFile ? { credsFile: nats.credsFile } : {}),
    ...(nats.tlsCa || nats.tlsCert ? { tls: { ...(nats.tlsCa ? { caFile: nats.tlsCa } : {}), ...(nats.tlsCert ? { certFile: nats.tlsCert, keyFile: nats.tlsKey! } : {}) } } : {}),
  };
}

/** The `metrics` section: where /metrics and /healthz listen; port -1 turns them off. */
export const metricsConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(-1).max(65535).optional(),
});
export type MetricsConfig = z.output<typeof metricsConfigSchema>;

export interface StartServiceOptions {
  readonly name: ServiceName;
  readonly grpc: GrpcConfig;
  readonly metrics?: MetricsConfig | undefined;
  readonly bindings: readonly GrpcServiceBinding[];
  /** The service's logger (`serviceLogger(parent, name)`): its lines already carry `{ service }`, so nothing here adds it again. */
  readonly logger: Logger;
  readonly registry?: Registry | undefined;
  readonly descriptorSet?: Buffer | undefined;
  readonly healthy?: () => boolean;
  /** Runs after the servers stop accepting calls (close buses, stores, workers). */
  readonly onClose?: () => Promise<void> | void;
}

export interface RunningService {
  readonly name: ServiceName;
  /** `host:port` of the gRPC server. */
  readonly address: string;
  readonly port: number;
  /** `http://host:port` of /metrics and /healthz, unless turned off. */
  readonly metricsUrl: string | undefined;
  readonly registry: Registry;
  readonly grpc: RunningGrpcServer;
  /** Graceful: stop accepting, let calls finish for `graceMs`, then `onClose`. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

export function grpcListenPort(name: ServiceName, grpc: GrpcConfig): number {
  return grpc.port ?? DEFAULT_GRPC_PORTS[name];
}

export async function startService(options: StartServiceOptions): Promise<RunningService> {
  const derived = options.metrics?.port === undefined;
  const metricsPort = options.metrics?.port ?? (options.grpc.port === 0 ? 0 : grpcListenPort(options.name, options.grpc) + 1000);
  // Checked before anything listens.
  if (metricsPort > 65535) throw new ValidationError('metrics.port', `${metricsPort} (the gRPC port + 1000) is past 65535: set metrics.port (or -1 for none)`);
  const registry = options.registry ?? createMetricsRegistry(options.name);
  const grpc = await startGrpcServer({
    services: options.bindings,
    host: options.grpc.host,
    port: grpcListenPort(options.name, options.grpc),
    token: options.grpc.token,
    tls: options.grpc.tlsCert && options.grpc.tlsKey ? { certFile: options.grpc.tlsCert, keyFile: options.grpc.tlsKey, clientCaFile: options.grpc.tlsClientCa } : undefined,
    descriptorSet: options.descriptorSet,
    logger: options.logger,
    allowPlaintextNetwork: options.grpc.allowPlaintextNetwork,
    maxStreams: options.grpc.maxStreams,
  });
  let http: RunningHttpEndpoints | undefined;
  if (metricsPort >= 0) {
    try {
      http = await startHttpEndpoints({ host: options.metrics?.host, port: metricsPort, registry, healthy: options.healthy, logger: options.logger });
    } catch (err) {
      await grpc.shutdown(0);
      // A port in use is a setting to change, said in one line naming it (as for the gRPC port).
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new ValidationError('metrics.port', `${metricsPort}${derived ? ' (the gRPC port + 1000)' : ''} is in use: set metrics.port to a free one (or -1 for none)`);
      }
      throw err;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    name: options.name,
    address: grpc.address,
    port: grpc.port,
    metricsUrl: http?.url,
    registry,
    grpc,
    close: (graceMs = 5000) =>
      (closing ??= (async () => {
        options.logger.info('shutting down');
        await grpc.shutdown(graceMs);
        await http?.close();
        await options.onClose?.();
        options.logger.info('stopped');
      })()),
  };
}

/**
 * For a service run as a process: on the first SIGTERM or SIGINT, close it gracefully, then exit
 * 0 (1 when closing failed, e.g. a board that could not be restored, or took more than `limitS`).
 */
export function closeOnSignals(service: { close(): Promise<void> }, logger: Logger, limitS: number = SHUTDOWN_LIMITS.totalS): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    // Bounded: a close that hangs still ends the process (exit 1, saying so).
    closeWithin('the service', () => service.close(), limitS).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

/** What every service's start function takes besides its config (each adds its own peers, bus, store). */
export interface ServiceOptions {
  /** The parent logger; the service logs through a child with `{ service }`. */
  readonly logger: Logger;
  /** Where its metrics go; default a registry of its own (`service` label). */
  readonly registry?: Registry | undefined;
  /** Close on SIGTERM/SIGINT, then exit. Default false: the caller owns signals. */
  readonly handleSignals?: boolean | undefined;
}

/** What a service is built on: its logger, its metrics registry and the stack its parts close on. */
export interface ServiceScope {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly cleanup: CleanupStack;
  /**
   * Serves the gRPC binding (with health, reflection, token and TLS) on the config's `grpc`
   * section and /metrics + /healthz on its `metrics` section. Closing the result stops serving,
   * then runs `onClose` (default: closes the cleanup stack).
   */
  serve(binding: GrpcServiceBinding, options?: { readonly healthy?: () => boolean; readonly onClose?: () => Promise<void> | void }): Promise<RunningService>;
}

/**
 * The one way every service starts: a logger (`{ service: name }`), a registry and a cleanup
 * stack for `build`, which opens the service's parts (deferring each close on the stack) and
 * serves them with `scope.serve`. When `build` fails, what it opened is closed, last first, and
 * the error is rethrown; when it succeeds, SIGTERM/SIGINT close the service if `handleSignals` is set.
 */
export async function openService<S extends { close(): Promise<void> }>(
  name: ServiceName,
  config: { readonly grpc: GrpcConfig; readonly metrics?: MetricsConfig | undefined; readonly board?: string | undefined },
  options: ServiceOptions,
  build: (scope: ServiceScope) => Promise<S>,
): Promise<S> {
  const logger = serviceLogger(options.logger, name);
  // A board-side service labels every metric with its board (SPEC §1), so one Prometheus tells boards apart.
  const registry = options.registry ?? createMetricsRegistry(name, config.board ? { board: config.board } : {});
  const cleanup = new CleanupStack(logger);
  const scope: ServiceScope = {
    logger,
    registry,
    cleanup,
    serve: (binding, serveOptions = {}) =>
      startService({
        name,
        grpc: config.grpc,
        metrics: config.metrics,
        bindings: [binding],
        logger,
        registry,
        descriptorSet: loadDescriptorSet(),
        ...(serveOptions.healthy ? { healthy: serveOptions.healthy } : {}),
        onClose: serveOptions.onClose ?? (() => cleanup.closeAll()),
      }),
  };
  let service: S;
  try {
    service = await build(scope);
  } catch (err) {
    await cleanup.closeAll();
    throw err;
  }
  if (options.handleSignals) closeOnSignals(service, logger);
  return service;
}
