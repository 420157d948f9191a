/**
 * @fulcrum/executor — the interleaving runtime that goes on the board: one training job and K
 * latency-bound inference streams time-sliced on one GPU at minibatch granularity.
 *
 * Main entry points:
 * - `ExecutorNode`: a running executor node without gRPC (engine, device-controller, plans one at
 *   a time, measurements, counted inference, status, drain on close) for a Node program to embed;
 *   `SimulatedEngine` / `HostEngine` run its minibatches;
 * - `startExecutorService` (+ `executorServiceConfig`, `loadExecutorServiceConfig`): the same node
 *   served over gRPC, /metrics and the bus;
 * - `Executor`: the interleaving loop alone, over any `MinibatchRunner` (`PythonWorker`,
 *   `OnnxRunner`, `SimulatedRunner`, `composeRunners`), with `serveInference` / `busEventSink`
 *   for the bus;
 * - `FrontReplanner`: re-plans from a set of profiled modes when arrival rates move, for a program
 *   with no optimizer (an `Executor`'s `replanner`);
 * - the types of its plans, status and events, and `InferenceError` (`isInferenceError`).
 *
 * Simulation, arrivals, the rate watcher, the host run, the gRPC adapter and the
 * service's parts (metrics, the gate, activity) are in `@fulcrum/executor/internal`.
 */
export { ExecutorNode } from './node.js';
export { createExecutorServiceMetrics } from './metrics.js';
export type { ExecutorServiceMetrics, RunningPlanTargets } from './metrics.js';
export type { ExecutorNodeOptions, ModeController, AppliedPlan, ExecutorNodeState, ExecutorNodeStatus, ConstraintViolation } from './node.js';
export { SimulatedEngine, HostEngine } from './service-runner.js';
export type { MinibatchEngine, EngineQuery, EngineResult, HostEngineOptions, HostCheckpoints } from './service-runner.js';
export { workloadStackTag } from './service-runner.js';
export { startExecutorService } from './service.js';
export type { ExecutorService, ExecutorServiceOptions } from './service.js';
export { defaultCheckpointDir, executorServiceConfig, executorServiceConfigSchema, loadExecutorServiceConfig } from './config.js';
export type { ExecutorServiceConfig, ExecutorServiceConfigInput, ExecutorLimits } from './config.js';

export { Executor, MAX_QUEUE_DEPTH } from './executor.js';
export type { InferOutcome, ExecutorOptions } from './executor.js';
export { ScaledClock, RealClock } from './clock.js';
export type { Clock } from './clock.js';
export { PythonWorker, workerWorkloadOf } from './runners/python.js';
export type { PythonWorkerOptions, WorkerWorkload, CheckpointOptions, WorkerInfo } from './runners/python.js';
export { OnnxRunner } from './runners/onnx.js';
export type { OnnxRunnerOptions, OnnxStreamModel, OnnxModelInfo } from './runners/onnx.js';
export { OnnxModelError, openOnnxModel } from './runners/onnx.js';
export { SimulatedRunner, fixedTimes } from './runners/simulated.js';
export type { MinibatchTimeSource } from './runners/simulated.js';
export { composeRunners } from './runners/compose.js';
export { serveInference, busEventSink } from './bus-adapter.js';
export { FrontReplanner, planFromFront } from './replan.js';
export type { ProfiledMode, FrontPlan } from './replan.js';

export { InferenceError, isInferenceError, WorkerCrashedError, WorkloadStepError } from './errors.js';
export type { InferenceFailureCode } from './errors.js';
export type {
  ExecutorProblem,
  ExecutorPlan,
  ExecutorStatus,
  ExecutorState,
  StreamStatus,
  LatencySummary,
  ExecutorEvent,
  ExecutorEventSink,
  MinibatchRunner,
  TrainingResult,
  InferenceBatchResult,
  Replanner,
  ReplanRequest,
} from './types.js';
