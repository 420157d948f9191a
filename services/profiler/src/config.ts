/**
 * The profiler's configuration (flags > env > file > defaults through `@fulcrum/runtime`'s
 * `loadConfig`): the shared `grpc` and `metrics` sections, NATS, the profile store, the two peers
 * it drives (device-controller and executor), the software stack and the measurement protocol.
 */
import { z } from 'zod';
import { workloadsConfigSchema } from '@fulcrum/workloads';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from '@fulcrum/runtime';
import { DEFAULT_GRPC_PORTS, grpcConfigSchema, metricsConfigSchema, natsConfigSchema, peerConfigSchema } from '@fulcrum/runtime/internal';
import { DEFAULT_SQLITE_PATH } from '@fulcrum/store';

/** SPEC §4's measurement protocol; a request's zero fields take these defaults. */
export const protocolConfigSchema = z.object({
  /** Warm-up minibatches w per (workload, batch size), run but not measured. */
  warmupMinibatches: z.number().int().min(0).default(5),
  /** Measured minibatches n per (workload, batch size). */
  measuredMinibatches: z.number().int().min(1).default(20),
  /**
   * Measured minibatches n of a re-measure's window (a request with `remeasure`): longer than a
   * first window, since a re-measure is asked for where a margin decides (SPEC §4). Unset:
   * 4 × `measuredMinibatches` (80 by default).
   */
  remeasureMinibatches: z.number().int().min(1).optional(),
  /**
   * Most seconds a re-measure's warm-up and window of one item may take at its stored minibatch
   * time: a slow model's re-measure gets fewer minibatches (never fewer than a first window's).
   */
  remeasureWindowS: z.number().positive().default(60),
  /** Wait after a mode switch before measuring, seconds (the controller waits it out). */
  settleS: z.number().min(0).default(10),
  /** Telemetry sampling interval asked of the controller, milliseconds. */
  telemetryIntervalMs: z.number().int().min(1).default(50),
  /** Fewer power samples than this inside the measured window triggers the fallback (README). */
  minPowerSamples: z.number().int().min(1).default(3),
  /** Tries of one measurement, the first included, when it is unusable (the mode drifted, no power samples, telemetry lost). */
  measureAttempts: z.number().int().min(1).max(20).default(4),
});
export type ProtocolConfig = z.output<typeof protocolConfigSchema>;

export const profilerConfigSchema = z.object({
  grpc: grpcConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  nats: natsConfigSchema.prefault({}),
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
  /** The device-controller and the executor it drives (a measurement run may take minutes on a board). */
  controller: peerConfigSchema({ port: DEFAULT_GRPC_PORTS['device-controller'] }).prefault({}),
  executor: peerConfigSchema({ port: DEFAULT_GRPC_PORTS.executor }).prefault({}),
  /**
   * The profile table (SPEC §3 CSV) of the board, when it is a table of a device and workloads of
   * one's own: requests may then name its workloads (only the names are taken from it; every
   * measurement still runs on the executor). Unset: built-in workload names only.
   */
  profiles: z.string().min(1).optional(),
  /** Workload folders joining the built-in ones (also FULCRUM_WORKLOADS): their names may be profiled, their content hash is in their keys' stack. */
  workloads: workloadsConfigSchema,
  /** Software stack part of every profile key; unset: what the controller's GetDeviceInfo reports. */
  softwareStack: z.string().min(1).max(256).optional(),
  protocol: protocolConfigSchema.prefault({}),
  /**
   * profile.completed events kept while NATS is away, published when it is back; past it the
   * oldest are dropped (their results stay in the store and in every GetProfiles answer).
   */
  maxUnpublishedEvents: z.number().int().positive().default(10_000),
});

export type ProfilerConfig = z.output<typeof profilerConfigSchema>;
export type ProfilerConfigInput = z.input<typeof profilerConfigSchema>;

/** Loads the profiler's config from flags, env (`FULCRUM_…`) and a file. */
export function loadProfilerConfig(options: LoadConfigOptions = {}): LoadedConfig<ProfilerConfig> {
  return loadConfig(profilerConfigSchema, options);
}
