/**
 * @fulcrum/executor/internal — the public face plus what the CLI, the bench, sibling services and
 * tests use: simulation (event-driven and time-scaled), arrival processes, re-planning from
 * profiled fronts, the host run, the scheduling policy and the executor's measurements, the
 * service's parts (gRPC adapter, metrics, engine from config, the gate, activity, controller link)
 * and the bus adapter's builders.
 */
export * from './index.js';
export { EXECUTOR_SERVICE_NAME, executorGrpcImplementation, statusToProto } from './grpc.js';
export { openEngine } from './service.js';
export { executorLimitsSchema } from './config.js';
export { GatedRunner, MinibatchGate } from './service-runner.js';
export type { MeasurementRequest, MeasurementResult } from './service-runner.js';
export { ActivityPublisher, IDLE as IDLE_ACTIVITY } from './activity.js';
export type { ActivityPublisherOptions } from './activity.js';
export { DeviceControllerLink } from './controller-link.js';
export type { ControllerLinkOptions } from './controller-link.js';
export { busErrorCode, inferenceReply, planAppliedEvent } from './bus-adapter.js';
export type { InferenceHandler, PlanAppliedDetails, BusEventSinkOptions } from './bus-adapter.js';
export { grpcStatusName, INFERENCE_FAILURE_CODES } from './errors.js';

export { InterleavingScheduler, Fifo } from './policy.js';
export type { QueuedRequest, TimeEstimates, Decision, DecisionReason, SchedulerStream } from './policy.js';
export { LatencyRecorder, RateMeter, Ewma, Timeline } from './stats.js';
export type { TimelinePoint } from './stats.js';
export { RateWatcher, withRates } from './replan.js';
export type { RateWatchOptions, RateCheck } from './replan.js';
export { DEFAULT_MAX_SIMULATED_MINIBATCHES, SimulationLimitError, simulate } from './simulate.js';
export type { SimulationOptions, SimulationReport, SimulatedStreamReport } from './simulate.js';
export { seededRandom, streamArrivals, mergeArrivals, traceArrivals, constantRates, parseRateTrace, parseArrivalTimes } from './arrivals.js';
export type { Arrival, RateSegment, RateTrace, ArrivalProcess } from './arrivals.js';
export { runScaled } from './scaled-run.js';
export type { ScaledRunOptions } from './scaled-run.js';
export { runOnHost } from './host-run.js';
export type { HostRunOptions, HostRunReport, HostRunStream, HostRunStreamReport, HostRunTraining, TimeStats } from './host-run.js';
export { profiledModes, tableTimeSource } from './profile-table.js';
export { backendTimeSource, backendModes } from './devices-adapter.js';
export { alsFront } from './strategies-adapter.js';
export type { AlsFront } from './strategies-adapter.js';
export { PYTHON_WORKER_SCRIPT, defaultPython } from './runners/python.js';
export type { WorkerInfo } from './runners/python.js';
export type { ClassOutput } from './runners/onnx.js';
