/**
 * The optimizer's configuration (flags > env > file > defaults, `@fulcrum/runtime`'s loadConfig):
 * the shared `grpc` and `metrics` sections, NATS, the profiler it profiles through, the executor it
 * may apply plans on, strategy defaults and the automatic re-plan rule.
 */
import { z } from 'zod';
import { workloadsConfigSchema } from '@fulcrum/workloads';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from '@fulcrum/runtime';
import { DEFAULT_GRPC_PORTS, grpcConfigSchema, metricsConfigSchema, natsConfigSchema, peerConfigSchema } from '@fulcrum/runtime/internal';

export const optimizerConfigSchema = z.object({
  grpc: grpcConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  /** Unset: an in-process bus (arrival-rate events only reach it when the bus is shared). */
  nats: natsConfigSchema.prefault({}),
  /** The profiler service every Solve profiles through (a profiling call may take minutes on a board). */
  profiler: peerConfigSchema({ port: DEFAULT_GRPC_PORTS.profiler, timeoutS: 600 }).prefault({}),
  /** The executor plans are applied on when `apply` is set. */
  executor: peerConfigSchema({ port: DEFAULT_GRPC_PORTS.executor })
    .extend({
      /** Apply every feasible plan (Solve, Replan, automatic re-plans) on the executor with ApplyPlan. */
      apply: z.boolean().default(false),
      /**
       * Hosts whose announced executors may get `executor.token` over plaintext: host names,
       * `*.domain` wildcards, IP ranges (`10.0.0.0/8`). A board's announcement names its executor's
       * address; with a token and no TLS, only loopback, the configured `address` and these hosts
       * are dialled (SPEC §1). At most 256 entries.
       */
      boardHosts: z.array(z.string().min(1)).max(256).default([]),
    })
    .prefault({}),
  defaults: z
    .object({
      /** Strategy when a request leaves it unspecified (a registry name: gmd, als-100, random-15, …). */
      strategy: z.string().min(1).default('gmd'),
      /** Device when a problem leaves it empty. */
      device: z.string().min(1).default('orin-agx'),
      /** Base seed of the strategies' random choices when a request gives 0. */
      seed: z.number().int().min(1).default(1),
    })
    .prefault({}),
  /**
   * A profile table (SPEC §3 CSV) of the board the profiler measures, when that board is a table of
   * a device and workloads of one's own: problems may then name its device (grid: the smallest
   * covering the table's modes) and workloads (bT: the table's training batch size). Only the
   * names are taken from it; every measurement still comes from the profiler. Unset: built-in names only.
   */
  profiles: z.string().min(1).optional(),
  /** Workload folders joining the built-in ones (also FULCRUM_WORKLOADS): problems may name them. */
  workloads: workloadsConfigSchema,
  /** Relative measurement noise: the margins (z × this) of modes whose profiles carry no standard errors. */
  noiseFraction: z.number().min(0).max(0.5).default(0.025),
  /** Safety margins from measured uncertainty (SPEC §4): z·√(SE² + s²/w) of each mode's measurements. */
  margins: z
    .object({
      /** One-sided probability that a plan's constraints hold on the truth; z = Φ⁻¹(p) (0.975: z = 1.96). */
      targetProbability: z
        .number()
        .gt(0.5, { message: 'must be a one-sided probability in (0.5, 1), e.g. 0.975 (z = 1.96)' })
        .lt(1, { message: 'must be a one-sided probability in (0.5, 1), e.g. 0.975 (z = 1.96)' })
        .default(0.975),
      /**
       * s: the relative error one measurement window's own samples cannot show — on a real board
       * mostly thermal drift between windows. The default 0.01 (1 % per window) is an assumption,
       * not a measurement; 0 trusts the windows' standard errors alone. Re-measures shrink it as 1/√w.
       */
      systematicFraction: z.number().min(0, { message: 'must be a relative error ≥ 0 (0.01: 1 % per window)' }).max(0.5).default(0.01),
      /**
       * Let GMD and ALS re-measure a profiled mode where a margin decides (a fresh window through the
       * profiler's `remeasure`, at most 3 per Solve). false: every mode is measured once. Either way
       * a problem solved before is answered with no profiling (SPEC §4).
       */
      remeasure: z.boolean().default(true),
    })
    .prefault({}),
  /** Only stored profiles of this software stack are used for fronts and re-plans; unset: the newest stack seen. */
  softwareStack: z.string().min(1).optional(),
  replan: z
    .object({
      /** Re-plan when `fulcrum.<device>.arrivals.rate` reports a rate that moved (for a plan this optimizer made). */
      auto: z.boolean().default(true),
      /** Relative change of a stream's rate against the rate its plan was made for that triggers a re-plan. */
      rateThreshold: z.number().positive().default(0.2),
      /** …and by more than this many standard deviations of the windowed Poisson estimate √(λ/W); 0: off. */
      noiseSigmas: z.number().min(0).default(4),
      /** At most one automatic re-plan per device in this many seconds. */
      minIntervalS: z.number().min(0).default(5),
      /** Let automatic re-plans profile new modes when the stored ones cannot answer. */
      allowProfiling: z.boolean().default(false),
    })
    .prefault({}),
});

export type OptimizerConfig = z.output<typeof optimizerConfigSchema>;
export type OptimizerConfigInput = z.input<typeof optimizerConfigSchema>;

export function loadOptimizerConfig(options: LoadConfigOptions = {}): LoadedConfig<OptimizerConfig> {
  return loadConfig(optimizerConfigSchema, options);
}
