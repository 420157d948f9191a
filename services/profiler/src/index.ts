/**
 * @fulcrum/profiler — the profiler as a library and as a gRPC service.
 *
 * Main entry points:
 * - `Profiler` (`profile`, `getProfiles`): the SPEC §4 measurement protocol (switch, settle, warm
 *   up, measure time and power) over a `DeviceControllerPort` and an `ExecutorPort` (over gRPC:
 *   `grpcDeviceController`, `grpcExecutor`), the profile store, profile.completed events;
 * - `startProfilerService(config, deps)` with `profilerConfigSchema` / `loadProfilerConfig`.
 *
 * `@fulcrum/profiler/testing` has test doubles of the peers (a virtual controller and executor
 * over gRPC); the gRPC adapter, the metrics and the power windowing are in
 * `@fulcrum/profiler/internal`.
 */
export { MAX_PROFILE_WINDOWS, Profiler, combineWindows } from './profiler.js';
export type { ProfileOutcome, ProfileCost, ProfilerOptions } from './profiler.js';
// The request, query and page types are core's: ProfileRequest, ProfileWorkload, ProfilesQuery, ProfilesPage (@fulcrum/core).
export { ModeDriftError, NoPowerSamplesError } from './power.js';
export { grpcDeviceController, grpcExecutor } from './peers.js';
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
export { profilerConfigSchema, protocolConfigSchema, loadProfilerConfig } from './config.js';
export type { ProfilerConfig, ProfilerConfigInput, ProtocolConfig } from './config.js';
export { startProfilerService } from './service.js';
export type { ProfilerServiceDeps, RunningProfilerService } from './service.js';
