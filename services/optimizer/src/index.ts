/**
 * @fulcrum/optimizer — the optimizer as a library (`Optimizer`: GMD, ALS and the baselines of
 * @fulcrum/strategies over a remote profiler, stored-profile fronts and re-plans, plan
 * application, arrival-rate re-planning) and as a gRPC service (`startOptimizerService`).
 */
export { Optimizer } from './optimizer.js';
export { optimizerConfigSchema, loadOptimizerConfig } from './config.js';
export { grpcProfiler, grpcPlanExecutor, allProfiles } from './ports.js';
export { RemoteProfileBackend, resolveStrategy } from './strategies.js';
export { PlanRegistry, buildPlan, samePlan } from './plans.js';
export { movedProblem } from './replan-rule.js';
export { createOptimizerMetrics } from './metrics.js';
export { startOptimizerService } from './service.js';
export { OPTIMIZER_SERVICE_NAME, optimizerGrpcImplementation, solveEventToProto } from './grpc.js';

export type {
  SolveCost,
  SolveInput,
  SolveEvent,
  ModeProfiledEvent,
  SolveCompletedEvent,
  ReplanInput,
  ReplanOutcome,
  ParetoFront,
  OptimizerOptions,
  ArrivalReplanRule,
} from './optimizer.js';
export type { OptimizerConfig, OptimizerConfigInput } from './config.js';
export type { ProfilerPort, PlanExecutorPort, GrpcPortOptions, ProfilesPage } from './ports.js';
export type { ModeRecord, ProfileProtocolOverrides } from './strategies.js';
export type { OptimizerPlan, PlanRecord } from './plans.js';
export type { RateMove, RateRule } from './replan-rule.js';
export type { OptimizerMetrics } from './metrics.js';
export type { OptimizerServiceDeps, RunningOptimizerService } from './service.js';
