import type { PowerMode, RunPlan } from '@fulcrum/core';

/** What the executor needs of the problem (core's `Problem` fits it): bT and each stream's λ and L. */
export interface ExecutorProblem {
  /** bT, samples per training minibatch. */
  readonly trainBatchSize: number;
  readonly streams: ReadonlyArray<{
    readonly name: string;
    /** λ the plan was made for, requests/s (measured rates are compared against it). */
    readonly arrivalRatePerS: number;
    /** L, seconds from arrival to result. */
    readonly latencyBudgetS: number;
  }>;
}

/**
 * The plan the executor runs: batch sizes per stream (and the mode, for the device and the
 * simulated runner), plus what the planner predicted. The predictions seed the deadline rule until
 * the executor has measured the minibatch times itself.
 */
/** What the executor runs: core's `RunPlan` (mode, batch size per stream, predictions). */
export type ExecutorPlan = RunPlan;

/** One training minibatch, timed by the worker itself. */
export interface TrainingResult {
  /** The step itself (GPU time), seconds. */
  readonly timeS: number;
  /** Data loading before the step (the workload's train_batch), seconds; not part of timeS. */
  readonly loadS?: number | undefined;
  readonly loss?: number | undefined;
  /** The worker's training step count after this step (continues across checkpoints). */
  readonly step?: number | undefined;
  /** Scalar metrics train_step returned (loss included). */
  readonly metrics?: Readonly<Record<string, number>> | undefined;
}

/** One inference minibatch: one output per input, in order, timed by the worker itself. */
export interface InferenceBatchResult {
  readonly timeS: number;
  readonly outputs: readonly unknown[];
  /**
   * Per sample, why its input was refused (wrong size, names the model lacks): that sample ran on
   * a generated one, so the minibatch kept its size, and its request fails with `invalid-input`
   * while the others get their results. Absent: every input was usable.
   */
  readonly invalid?: ReadonlyArray<string | undefined>;
}

/**
 * Runs minibatches, one at a time (the executor never overlaps two calls). Python/PyTorch,
 * onnxruntime-node and the simulated runner implement it; `composeRunners` joins a training runner
 * with per-stream inference runners.
 */
export interface MinibatchRunner {
  /** e.g. "python-torch", "onnxruntime", "simulated". */
  readonly name: string;
  runTraining(batchSize: number): Promise<TrainingResult>;
  /** `inputs[i]` is the request's input (undefined: the runner makes one, for load tests). */
  runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult>;
  /** Switch to a power mode (simulated runner: changes its minibatch times; real host: no-op). */
  setMode?(mode: PowerMode | undefined): void | Promise<void>;
  close(): Promise<void>;
}

/** Asks the optimizer for a new plan when measured arrival rates move (see `Replanner`). */
export interface ReplanRequest {
  readonly reason: 'rate-change';
  /** The problem with each stream's λ replaced by the measured rate. */
  readonly problem: ExecutorProblem;
  readonly currentPlan: ExecutorPlan;
  readonly measuredRatesPerS: Readonly<Record<string, number>>;
}

export interface Replanner {
  /** The plan to run for the moved rates; undefined: nothing to apply here (someone else re-planned, or it applied the plan itself). */
  replan(request: ReplanRequest): Promise<ExecutorPlan | undefined> | ExecutorPlan | undefined;
  /** Whether it can answer now (default true); the executor asks only then. */
  ready?(): boolean;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50S: number;
  readonly p99S: number;
  /** Exact (not bucketed). */
  readonly maxS: number;
  readonly meanS: number;
}

export interface StreamStatus {
  readonly stream: string;
  readonly batchSize: number;
  readonly latencyBudgetS: number;
  /** λ of the problem the running plan answers. */
  readonly plannedRatePerS: number;
  readonly arrivalRatePerS: number;
  readonly queueDepth: number;
  readonly maxQueueDepth: number;
  readonly accepted: number;
  readonly completed: number;
  readonly failed: Readonly<Record<string, number>>;
  /** Results delivered after their budget. */
  readonly late: number;
  /** Minibatches run and how many of them were partial (deadline rule, drain). */
  readonly minibatches: number;
  readonly partialMinibatches: number;
  /** Since the plan was applied. */
  readonly latency: LatencySummary;
  /** Since the executor started. */
  readonly latencyTotal: LatencySummary;
  /** Mean measured tI of this stream's minibatches at its plan batch size, seconds (0 if none yet). */
  readonly measuredInferTimeS: number;
}

export type ExecutorState = 'idle' | 'running' | 'draining' | 'stopped';

export interface ExecutorStatus {
  readonly state: ExecutorState;
  /** Executor clock, seconds since start (virtual seconds for a scaled or simulated clock). */
  readonly nowS: number;
  readonly plan: ExecutorPlan | undefined;
  readonly planAppliedAtS: number | undefined;
  readonly plansApplied: number;
  readonly streams: readonly StreamStatus[];
  /** Since the plan was applied. */
  readonly trainThroughputSamplesPerS: number;
  readonly trainMinibatches: number;
  readonly trainMinibatchesTotal: number;
  readonly trainFailures: number;
  readonly measuredTrainTimeS: number;
  /**
   * Mean data loading time before each training step (the workload's train_batch), s; 0 where the
   * runner does not report it. Not part of measuredTrainTimeS: a slow loader shows up here.
   */
  readonly measuredTrainLoadS: number;
  /** The last training loss the worker reported. */
  readonly trainLoss?: number;
  /** The worker's training step count (continues from a checkpoint after a restart). */
  readonly trainStep?: number;
  /** Share of time since the plan was applied that inference minibatches took. */
  readonly utilization: number;
  readonly workerCrashes: number;
  /** Wall-clock cost of one scheduling decision, microseconds. */
  readonly decisionOverheadUs: { readonly count: number; readonly p50: number; readonly p99: number; readonly max: number };
}

export type ExecutorEvent =
  | { readonly type: 'plan.applied'; readonly atS: number; readonly plan: ExecutorPlan; readonly problem: ExecutorProblem }
  | {
      readonly type: 'arrivals.rate';
      readonly atS: number;
      readonly windowS: number;
      readonly ratesPerS: Readonly<Record<string, number>>;
      readonly plannedRatesPerS: Readonly<Record<string, number>>;
      /** The executor waits for a new plan for these rates (its own rule fired). */
      readonly replanRequested?: boolean;
    }
  | { readonly type: 'telemetry'; readonly atS: number; readonly status: ExecutorStatus }
  | { readonly type: 'replan.requested'; readonly atS: number; readonly request: ReplanRequest }
  | { readonly type: 'replan.failed'; readonly atS: number; readonly error: string }
  | { readonly type: 'worker.crashed'; readonly atS: number; readonly runner: string; readonly error: string; readonly failedRequests: number };

/** Where the executor publishes what it measures (NATS through @fulcrum/bus, a log, a test array). */
export interface ExecutorEventSink {
  publish(event: ExecutorEvent): void;
}
