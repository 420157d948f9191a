/**
 * @fulcrum/core — the domain vocabulary every Fulcrum package speaks, and the SPEC §2 model.
 *
 * Main entry points:
 * - power modes (`PowerMode`, `formatPowerMode`, `parsePowerMode`) on a device's grids
 *   (`DEVICES`, `getDevice`, `getGrid`, `enumerateModes`) and the workloads (`getWorkload`), or
 *   any catalog of them (`Catalog`: `BUILTIN_CATALOG`, extended with a user's by `catalogWith`);
 * - a problem (`validateProblem`: training workload, inference streams with rates and latency
 *   budgets, a power budget), the model's verdict on an operating point (`evaluate`), and the
 *   best batch sizes on one mode (`bestBatchSizes`);
 * - `ValidationError`, which names the offending field, and the records the services exchange
 *   (`ProfileResult`, `RunPlan`).
 *
 * Argument checks and the model's raw terms are in `@fulcrum/core/internal`, for sibling packages.
 */
export { ValidationError, isValidationError } from './errors.js';
export { POWER_MODE_KNOBS, formatPowerMode, powerModeKey, parsePowerMode, samePowerMode } from './power-mode.js';
export type { PowerMode, PowerModeKnob } from './power-mode.js';
export {
  ORIN_AGX,
  AGX_XAVIER,
  ORIN_NANO,
  DEVICES,
  deviceIds,
  getDevice,
  gridNames,
  getGrid,
  gridSize,
  enumerateModes,
  assertOnGrid,
  isOnGrid,
  getPreset,
  maxMode,
} from './devices.js';
export type { DeviceSpec, PowerModeGrid, PowerPreset } from './devices.js';
export { WORKLOADS, WORKLOAD_KINDS, NAME_RULE, TOKEN_RULE, requireToken, boardIdFrom, workloadIds, getWorkload } from './workloads.js';
export { BUILTIN_CATALOG, catalogWith, userWorkload } from './catalog.js';
export type { Catalog } from './catalog.js';
export type { WorkloadDescriptor, WorkloadKind } from './workloads.js';
export { POWER_SEMANTICS, evaluate, assertOperatingPoint, compareEvaluations } from './model.js';
export type {
  PowerSemantics,
  Measurement,
  StreamOperatingPoint,
  OperatingPoint,
  PowerBudget,
  ConstraintKind,
  ConstraintCheck,
  StreamEvaluation,
  Evaluation,
} from './model.js';
export { DEFAULT_CANDIDATE_BATCH_SIZES, PROBLEM_LIMITS, requireArrivalRatePerS, requireBatchSize, requireLatencyBudgetS, requirePowerBudgetW, validateProblem } from './problem.js';
export type { InferenceStream, Problem, ProblemInput } from './problem.js';
export { bestBatchSizes, describeBinding } from './plan.js';
export type { InferenceLookup, BatchChoice } from './plan.js';
export { LOCAL_FRONT_STRATEGY } from './records.js';
export type { ProfileResult, MeasurementUncertainty, RunPlan, ProfileKey, ProfileFilter, ProfilesQuery, ProfilesPage, ProfileWorkload, ProfileRequest } from './records.js';
export { WORKLOAD_STACK_SEPARATOR, workloadStack, stackBase, stackTag } from './records.js';
export { seededRandom } from './random.js';
export { meanAndStandardError } from './stats.js';
