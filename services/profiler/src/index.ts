/**
 * @fulcrum/profiler — the profiler as a library (`Profiler`: the SPEC §4 measurement protocol over
 * a device-controller port and an executor port, the profile store, profile.completed events) and
 * as a gRPC service (`startProfilerService`). `@fulcrum/profiler/testing` has test doubles of the
 * peers (a virtual controller and executor over gRPC).
 */
export { Profiler, validateProfileInput } from './profiler.js';
export { windowPower, modesMatch, ModeDriftError, NoPowerSamplesError } from './power.js';
export { grpcDeviceController, grpcExecutor } from './peers.js';
export { createProfilerMetrics } from './metrics.js';
export { profilerConfigSchema, protocolConfigSchema, loadProfilerConfig } from './config.js';
export { startProfilerService } from './service.js';
export { PROFILER_SERVICE_NAME, profilerGrpcImplementation } from './grpc.js';

export type { ProfileInput, ProfileWorkloadInput, ProfileOutcome, ProfileCost, ProfilesQuery, ProfilesPage, ProfilerOptions } from './profiler.js';
export type { WindowPower, WindowPowerOptions, PowerMethod } from './power.js';
export type {
  ControllerDeviceInfo,
  PowerSample,
  TelemetryStream,
  DeviceControllerPort,
  MeasurementRun,
  MeasurementOutcome,
  ExecutorPort,
  GrpcPeerOptions,
} from './peers.js';
export type { ProfilerMetrics } from './metrics.js';
export type { ProfilerConfig, ProfilerConfigInput, ProtocolConfig } from './config.js';
export type { ProfilerServiceDeps, RunningProfilerService } from './service.js';
