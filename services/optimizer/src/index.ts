/**
 * @fulcrum/optimizer — the optimizer as a library and as a gRPC service.
 *
 * Main entry points:
 * - `Optimizer` (`solve`: GMD, ALS and the baselines of @fulcrum/strategies over a remote
 *   profiler, yielding `SolveEvent`s and returning the plan; `paretoFront`, `replan`, plan
 *   application, arrival-rate re-planning with `watchArrivals`), over a `ProfilerPort` and a
 *   `PlanExecutorPort` (over gRPC: `grpcProfiler`, `grpcPlanExecutor`);
 * - `startOptimizerService(config, deps)` with `optimizerConfigSchema` / `loadOptimizerConfig`.
 *
 * The gRPC adapter, the plan registry, the re-plan rule, the remote profile backend and the
 * metrics are in `@fulcrum/optimizer/internal`.
 */
export { Optimizer } from './optimizer.js';
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
export type { OptimizerPlan } from './plans.js';
export type { RateMove } from './replan-rule.js';
export type { ProfileProtocolOverrides } from './strategies.js';
export { grpcProfiler, grpcPlanExecutor } from './ports.js';
export type { ProfilerPort, PlanExecutorPort, GrpcPortOptions } from './ports.js';
export { optimizerConfigSchema, loadOptimizerConfig } from './config.js';
export type { OptimizerConfig, OptimizerConfigInput } from './config.js';
export { startOptimizerService } from './service.js';
export type { OptimizerServiceDeps, RunningOptimizerService } from './service.js';
