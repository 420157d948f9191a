/**
 * The executor service's configuration (flags > env > file > defaults, `@fulcrum/runtime`'s
 * loadConfig): runtime's shared `grpc`, `metrics`, `nats`, `logLevel` sections and the
 * device-controller as a peer section, plus the runner (simulated device or host PyTorch) and the
 * interleaving runtime's limits.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { workloadsConfigSchema } from '@fulcrum/workloads';
import { DEFAULT_SEED } from '@fulcrum/devices';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from '@fulcrum/runtime';
import { DEFAULT_GRPC_PORTS, boardSchema, grpcConfigSchema, logLevelSchema, metricsConfigSchema, natsConfigSchema, peerConfigSchema } from '@fulcrum/runtime/internal';
import { DEFAULT_MAX_QUEUE_DEPTH, MAX_QUEUE_DEPTH, MAX_QUEUE_DEPTH_REASON } from './executor.js';

/** Where checkpoints go by default: $XDG_STATE_HOME/fulcrum/checkpoints, else ~/.local/state/fulcrum/checkpoints. */
export function defaultCheckpointDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state'), 'fulcrum', 'checkpoints');
}

/** The largest `executor.maxQueueDepth`, requests per stream: the Executor's own limit. */
export { MAX_QUEUE_DEPTH };

/** The interleaving runtime's limits (the config's `executor` section; `ExecutorNode`'s `limits`). */
export const executorLimitsSchema = z.object({
  /** Publish telemetry (queues, latency, throughput) this often, wall seconds; 0 = never. */
  telemetryIntervalS: z.number().min(0).default(1),
  /**
   * Requests one stream may hold waiting; the next is shed. At most MAX_QUEUE_DEPTH (the
   * Executor's limit, where the reason is written down).
   */
  maxQueueDepth: z.number().int().positive().max(MAX_QUEUE_DEPTH, MAX_QUEUE_DEPTH_REASON).default(DEFAULT_MAX_QUEUE_DEPTH),
  expiredRequests: z.enum(['serve', 'reject']).default('serve'),
  /** Shortest gap between two activity publishes, ms. */
  activityIntervalMs: z.number().int().min(0).default(50),
  /** Re-publish the activity this often, ms (the controller expires a silent one); 0 = never. */
  activityHeartbeatMs: z.number().int().min(0).default(1000),
  /** Before a measurement's first minibatch, wait this long after announcing it, ms. */
  measurementLeadMs: z.number().int().min(0).default(10),
  /**
   * After the arrival rates moved, wait this long (wall seconds) for the optimizer's new plan; then,
   * if none came and the running plan brought its front, re-plan locally from the front.
   */
  localReplanAfterS: z.number().positive().default(30),
  /** Announce the board on `fulcrum.<board>.board.announce` this often, s (and at start); 0 = at start only. */
  announceIntervalS: z.number().min(0).default(10),
  /** Warm-up + measured minibatches one RunMeasurement may ask for. */
  maxMeasurementMinibatches: z.number().int().positive().default(10_000),
  /**
   * Wall-clock limit of one measurement, s, waiting for the GPU included: past it the measurement
   * stops (DEADLINE_EXCEEDED) and the running plan's minibatches go on. Its caller's cancellation
   * or deadline, and the executor's shutdown, stop it too.
   */
  maxMeasurementS: z.number().positive().max(3600).default(120),
  /** On close, serve what is queued for at most this long, ms; the rest get `shutdown`. */
  drainTimeoutMs: z.number().int().min(0).default(5000),
});

export type ExecutorLimits = z.output<typeof executorLimitsSchema>;

/**
 * The executor service's configuration (flags > env > file > defaults, @fulcrum/runtime). Env
 * names: `runner` → FULCRUM_RUNNER, `timeScale` → FULCRUM_TIME_SCALE, `controller.address` →
 * FULCRUM_CONTROLLER__ADDRESS, `nats.url` → FULCRUM_NATS__URL, `grpc.port` → FULCRUM_GRPC__PORT.
 */
export const executorServiceConfigSchema = z.object({
  logLevel: logLevelSchema,
  /** This board's id (SPEC §1): the bus subjects' `<board>` and the metrics' `board` label; default the host name. */
  board: boardSchema,
  /**
   * host:port an optimizer elsewhere reaches this executor's gRPC at, as announced on
   * `board.announce`; default the listening address (the host name when listening on 0.0.0.0).
   */
  advertiseAddress: z.string().min(1).optional(),
  /**
   * Device model id: the problems' device, and the simulated model (orin-agx, agx-xavier). Unset: a
   * table backend's own device (a different one is refused), else orin-agx.
   */
  device: z.string().min(1).optional(),
  grpc: grpcConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  nats: natsConfigSchema.prefault({}),
  runner: z.enum(['simulated', 'host']).default('simulated'),
  /** simulated: device seconds per host second (100: a 200 ms minibatch sleeps 2 ms). */
  timeScale: z.number().positive().default(1),
  /** simulated: the device model, `virtual` or a profile `table` (`profiles`). */
  backend: z.enum(['virtual', 'table']).default('virtual'),
  profiles: z.string().min(1).optional(),
  /** simulated: relative noise of minibatch times; default the model's (2.5% virtual, 0 table). */
  noise: z.number().min(0).max(1).optional(),
  seed: z.number().int().default(DEFAULT_SEED),
  /** The mode assumed without a controller until a plan sets one (CORES,CPU,GPU,EMC or a preset); default MAXN. */
  initialMode: z.string().min(1).optional(),
  /** Reported with measurements; default `fulcrum-virtual-<device>-seed<seed>`, `fulcrum-table-<file>`, `python-torch-<version>-<cpu|cuda>`. */
  softwareStack: z.string().min(1).optional(),
  /** The device-controller (runtime's peer section); `address` unset: no controller, the plan's mode is used as is. */
  controller: peerConfigSchema({ port: DEFAULT_GRPC_PORTS['device-controller'], timeoutS: 2, attempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 })
    .extend({
      address: z.string().min(1).optional(),
      /** Settle time asked of the controller when a plan switches the mode, s. */
      settleS: z.number().min(0).default(0),
    })
    .prefault({}),
  host: z
    .object({
      /** Python with torch; default FULCRUM_PYTHON or /usr/bin/python3. */
      python: z.string().min(1).optional(),
      threads: z.number().int().min(1).default(1),
      device: z.enum(['cpu', 'auto']).default('auto'),
      /** Serve inference with onnxruntime-node where a workload folder has infer.onnx (else its Python infer). */
      onnx: z.boolean().default(true),
    })
    .prefault({}),
  /** Workload folders joining the built-in ones (also FULCRUM_WORKLOADS); the host runner runs only these. */
  workloads: workloadsConfigSchema,
  /** host: training checkpoints (atomic; resumed after a worker crash or an executor restart). */
  checkpoints: z
    .object({
      enabled: z.boolean().default(true),
      /** Default $XDG_STATE_HOME/fulcrum/checkpoints (~/.local/state/fulcrum/checkpoints). */
      dir: z.string().min(1).optional(),
      /** Save every this many training steps; 0 = not by steps. */
      everySteps: z.number().int().min(0).default(100),
      /** Save every this many seconds; 0 = not by time. */
      everyS: z.number().min(0).default(60),
    })
    .prefault({}),
  executor: executorLimitsSchema.prefault({}),
});

export type ExecutorServiceConfig = z.output<typeof executorServiceConfigSchema>;
export type ExecutorServiceConfigInput = z.input<typeof executorServiceConfigSchema>;

export function loadExecutorServiceConfig(options: LoadConfigOptions = {}): LoadedConfig<ExecutorServiceConfig> {
  return loadConfig(executorServiceConfigSchema, options);
}

/** A config from code: defaults filled, checked (throws a ZodError on bad values). */
export function executorServiceConfig(input: ExecutorServiceConfigInput = {}): ExecutorServiceConfig {
  return executorServiceConfigSchema.parse(input);
}
