/**
 * @fulcrum/optimizer/internal — the public face plus the service's parts, for tests and sibling
 * packages: the gRPC adapter (`optimizerGrpcImplementation`, `solveEventToProto`), the plan
 * registry, the arrival-rate re-plan rule, the remote profile backend and strategy resolution,
 * paging through a profiler, and the metrics.
 */
export * from './index.js';
export { allProfiles } from './ports.js';
export { RemoteProfileBackend, resolveStrategy } from './strategies.js';
export type { ModeRecord } from './strategies.js';
export { PlanRegistry, buildPlan, samePlan } from './plans.js';
export { CACHE_LIMITS } from './optimizer.js';
export type { PlanRecord } from './plans.js';
export { movedProblem } from './replan-rule.js';
export type { RateRule } from './replan-rule.js';
export { createOptimizerMetrics } from './metrics.js';
export type { OptimizerMetrics } from './metrics.js';
export { OPTIMIZER_SERVICE_NAME, optimizerGrpcImplementation, solveEventToProto } from './grpc.js';
