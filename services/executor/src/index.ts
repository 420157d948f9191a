export { Executor } from './executor.js';
export { ScaledClock, RealClock } from './clock.js';
export { InferenceError, isInferenceError, grpcStatusName, WorkerCrashedError, INFERENCE_ERROR_CODES } from './errors.js';
export { InterleavingScheduler, Fifo } from './policy.js';
export { LatencyRecorder, RateMeter, Ewma, Timeline } from './stats.js';
export { RateWatcher, withRates, planFromFront, FrontReplanner } from './replan.js';
export { simulate } from './simulate.js';
export { seededRandom, streamArrivals, mergeArrivals, traceArrivals, constantRates, parseRateTrace, parseArrivalTimes } from './arrivals.js';
export { SimulatedRunner, fixedTimes } from './runners/simulated.js';

export type { InferOutcome, ExecutorOptions } from './executor.js';
export type { Clock } from './clock.js';
export type { InferenceErrorCode } from './errors.js';
export type { QueuedRequest, TimeEstimates, Decision, DecisionReason, SchedulerStream } from './policy.js';
export type { TimelinePoint } from './stats.js';
export type { RateWatchOptions, RateCheck, ProfiledMode, FrontPlan } from './replan.js';
export type { SimulationOptions, SimulationReport, SimulatedStreamReport } from './simulate.js';
export type { Arrival, RateSegment, RateTrace, ArrivalProcess } from './arrivals.js';
export type { MinibatchTimeSource } from './runners/simulated.js';
export type {
  ExecutorProblem,
  ExecutorPlan,
  TrainingResult,
  InferenceBatchResult,
  MinibatchRunner,
  ReplanRequest,
  Replanner,
  LatencySummary,
  StreamStatus,
  ExecutorState,
  ExecutorStatus,
  ExecutorEvent,
  ExecutorEventSink,
} from './types.js';
export { PythonWorker, PYTHON_WORKER_SCRIPT, defaultPython } from './runners/python.js';
export { OnnxRunner } from './runners/onnx.js';
export { composeRunners } from './runners/compose.js';
export type { PythonWorkerOptions, ModelSpec, WorkerInfo } from './runners/python.js';
export type { OnnxRunnerOptions, OnnxStreamModel, ClassOutput } from './runners/onnx.js';
export { profiledModes, tableTimeSource } from './profile-table.js';
export { runOnHost } from './host-run.js';
export type { HostRunOptions, HostRunReport, HostRunStream, HostRunStreamReport, TimeStats } from './host-run.js';
export { runScaled } from './scaled-run.js';
export type { ScaledRunOptions } from './scaled-run.js';
export { serveInference, busEventSink, busErrorCode } from './bus-adapter.js';
export { backendTimeSource, backendModes } from './devices-adapter.js';
export { alsFront } from './strategies-adapter.js';
export type { AlsFront } from './strategies-adapter.js';
export { ActivityPublisher, IDLE as IDLE_ACTIVITY } from './activity.js';
export type { ActivityPublisherOptions } from './activity.js';
export { DeviceControllerLink } from './controller-link.js';
export type { ControllerLinkOptions } from './controller-link.js';
export { GatedRunner, MinibatchGate, SimulatedEngine, HostEngine } from './service-runner.js';
export type { MinibatchEngine, HostEngineOptions, MeasurementRequest, MeasurementResult } from './service-runner.js';
export { executorServiceConfig, executorServiceConfigSchema, executorLimitsSchema, loadExecutorServiceConfig } from './config.js';
export type { ExecutorServiceConfig, ExecutorServiceConfigInput, ExecutorLimits } from './config.js';
export { createExecutorServiceMetrics } from './metrics.js';
export type { ExecutorServiceMetrics } from './metrics.js';
export { ExecutorNode } from './node.js';
export type { ExecutorNodeOptions, ModeController, AppliedPlan, ExecutorNodeState, ExecutorNodeStatus, ConstraintViolation } from './node.js';
export { openEngine, startExecutorService } from './service.js';
export type { ExecutorService, ExecutorServiceOptions } from './service.js';
export { EXECUTOR_SERVICE_NAME, executorGrpcImplementation, statusToProto } from './grpc.js';
export { inferenceReply, planAppliedEvent } from './bus-adapter.js';
export type { InferenceHandler, PlanAppliedDetails, BusEventSinkOptions } from './bus-adapter.js';
