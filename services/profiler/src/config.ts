/**
 * The profiler's configuration (flags > env > file > defaults through `@fulcrum/runtime`'s
 * `loadConfig`): the shared `grpc` and `metrics` sections, NATS, the profile store, the two peers
 * it drives (device-controller and executor), the software stack and the measurement protocol.
 */
import { z } from 'zod';
import { DEFAULT_GRPC_PORTS, grpcConfigSchema, loadConfig, metricsConfigSchema, type LoadConfigOptions, type LoadedConfig } from '@fulcrum/runtime';
import { DEFAULT_SQLITE_PATH } from '@fulcrum/store';

/** How to reach one gRPC peer: address, bearer token, TLS, deadline and retry. */
export const peerConfigSchema = (defaultPort: number) =>
  z.object({
    /** `host:port`. */
    address: z.string().min(1).default(`127.0.0.1:${defaultPort}`),
    /** Bearer token sent on every call (the peer's `grpc.token`). */
    token: z.string().min(8).optional(),
    /** Use TLS; with `tlsCa` the peer's certificate must be signed by that CA (else the system roots). */
    tls: z.boolean().default(false),
    tlsCa: z.string().optional(),
    /** Client certificate and key, for peers that require mutual TLS. */
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    /** Deadline of one call, seconds (a measurement run may take minutes on a board). */
    timeoutS: z.number().positive().default(120),
  });
export type PeerConfig = z.output<ReturnType<typeof peerConfigSchema>>;

/** Bounded retry with exponential backoff on UNAVAILABLE (a peer restarting), never a hang. */
export const retryConfigSchema = z.object({
  /** Tries in all, the first included. */
  attempts: z.number().int().min(1).max(20).default(4),
  initialDelayMs: z.number().int().min(1).default(200),
  maxDelayMs: z.number().int().min(1).default(2000),
});
export type RetryConfig = z.output<typeof retryConfigSchema>;

/** SPEC §4's measurement protocol; a request's zero fields take these defaults. */
export const protocolConfigSchema = z.object({
  /** Warm-up minibatches w per (workload, batch size), run but not measured. */
  warmupMinibatches: z.number().int().min(0).default(5),
  /** Measured minibatches n per (workload, batch size). */
  measuredMinibatches: z.number().int().min(1).default(20),
  /** Wait after a mode switch before measuring, seconds (the controller waits it out). */
  settleS: z.number().min(0).default(10),
  /** Telemetry sampling interval asked of the controller, milliseconds. */
  telemetryIntervalMs: z.number().int().min(1).default(50),
  /** Fewer power samples than this inside the measured window triggers the fallback (README). */
  minPowerSamples: z.number().int().min(1).default(3),
});
export type ProtocolConfig = z.output<typeof protocolConfigSchema>;

export const profilerConfigSchema = z.object({
  grpc: grpcConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  nats: z
    .object({
      /** NATS URL; unset: events go over an in-process bus (the embedded default). */
      url: z.string().optional(),
    })
    .prefault({}),
  store: z
    .object({
      /** `sqlite` (embedded default, a file) or `kv` (JetStream KV on `nats.url`, shared by boards and optimizers). */
      backend: z.enum(['sqlite', 'kv']).default('sqlite'),
      /** SQLite file (`:memory:` works); relative to the working directory. */
      path: z.string().min(1).default(DEFAULT_SQLITE_PATH),
      /** KV bucket name (default `fulcrum-profiles`). */
      bucket: z.string().min(1).optional(),
    })
    .prefault({}),
  controller: peerConfigSchema(DEFAULT_GRPC_PORTS['device-controller']).prefault({}),
  executor: peerConfigSchema(DEFAULT_GRPC_PORTS.executor).prefault({}),
  /** Software stack part of every profile key; unset: what the controller's GetDeviceInfo reports. */
  softwareStack: z.string().min(1).max(256).optional(),
  protocol: protocolConfigSchema.prefault({}),
  retry: retryConfigSchema.prefault({}),
});

export type ProfilerConfig = z.output<typeof profilerConfigSchema>;
export type ProfilerConfigInput = z.input<typeof profilerConfigSchema>;

/** Loads the profiler's config from flags, env (`FULCRUM_…`) and a file. */
export function loadProfilerConfig(options: LoadConfigOptions = {}): LoadedConfig<ProfilerConfig> {
  return loadConfig(profilerConfigSchema, options);
}
