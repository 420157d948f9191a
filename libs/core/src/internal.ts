/**
 * @fulcrum/core/internal — the public face plus what sibling packages and tests use: argument
 * checks that name the field, the model's raw terms, and the parsers of user-typed values.
 */
export * from './index.js';
export { describeValue, requirePositive, requireNonNegative, requirePositiveInteger } from './errors.js';
export { dominatesOrEquals } from './power-mode.js';
export { requireWindowWeightsSquared, windowWeightsSquaredOf, remeasureMinibatchesOf } from './records.js';
export { parseWorkloadKind, requireName } from './workloads.js';
export { streamUtilization, totalUtilization, worstCaseLatencyS, trainThroughputSamplesPerS, powerDrawW } from './model.js';
export { parsePowerSemantics, validateBatchSizes } from './problem.js';
export { fileErrorReason, makeFolders } from './folders.js';
