export { ValidationError, isValidationError, describeValue, requirePositive, requireNonNegative, requirePositiveInteger } from './errors.js';
export { POWER_MODE_KNOBS, formatPowerMode, powerModeKey, parsePowerMode, samePowerMode, dominatesOrEquals } from './power-mode.js';
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
export { WORKLOADS, WORKLOAD_KINDS, workloadIds, getWorkload, parseWorkloadKind } from './workloads.js';
export type { WorkloadDescriptor, WorkloadKind } from './workloads.js';
export {
  POWER_SEMANTICS,
  streamUtilization,
  totalUtilization,
  worstCaseLatencyS,
  trainThroughputSamplesPerS,
  powerDrawW,
  evaluate,
  assertOperatingPoint,
  compareEvaluations,
} from './model.js';
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
export { DEFAULT_CANDIDATE_BATCH_SIZES, parsePowerSemantics, validateBatchSizes, validateProblem } from './problem.js';
export type { InferenceStream, Problem, ProblemInput } from './problem.js';
export { bestBatchSizes, describeBinding } from './plan.js';
export type { InferenceLookup, BatchChoice } from './plan.js';
export type { ProfileResult, RunPlan } from './records.js';
