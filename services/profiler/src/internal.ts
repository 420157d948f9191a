/**
 * @fulcrum/profiler/internal — the public face plus the service's parts, for tests and sibling
 * services: the gRPC adapter (`profilerGrpcImplementation`), the metrics, the power windowing and
 * the input checks.
 */
export * from './index.js';
export { validateProfileInput } from './profiler.js';
export { windowPower, modesMatch } from './power.js';
export type { WindowPower, WindowPowerOptions, PowerMethod } from './power.js';
export { createProfilerMetrics } from './metrics.js';
export type { ProfilerMetrics } from './metrics.js';
export { PROFILER_SERVICE_NAME, profilerGrpcImplementation } from './grpc.js';
