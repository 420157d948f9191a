/**
 * @fulcrum/devices/internal — the public face plus the virtual device's model (physics per
 * device, workload costs and constants, calibration against measurements), query checks, the grid
 * index, and the Pareto front helper, for sibling packages, scripts and tests.
 */
export * from './index.js';
export { describeQuery, validateQuery, resolveGrid } from './backend.js';
export { validateNoise, validateSeed } from './virtual.js';
export { formatProfileRow } from './profiles-csv.js';
export { gridIndex } from './grid-index.js';
export { CompiledWorkpiece, TRAINING_LAUNCH_FACTOR } from './physics.js';
export type { DevicePhysics, WorkloadConstants, Workpiece, ModelOutput } from './physics.js';
export { ORIN_AGX_PHYSICS, AGX_XAVIER_PHYSICS, DEVICE_PHYSICS, getDevicePhysics } from './device-physics.js';
export { WORKLOAD_COSTS, TRAINING_COST_FACTOR, getWorkloadCost, minibatchCost } from './workload-costs.js';
export type { WorkloadCost } from './workload-costs.js';
export { countResNet, countVgg16, countBert } from './analytical.js';
export type { LayerCount } from './analytical.js';
export { workloadConstants, BORROWED, LOAD_MS_PER_SAMPLE } from './workload-constants.js';
export type { Borrowing } from './workload-constants.js';
export {
  COMPUTE_CLASSES,
  CALIBRATED_OPERATORS,
  CALIBRATED_CLASSES,
  INTENSITY_BATCH_SIZES,
  checkUserWorkload,
  chooseBorrowing,
  lineCost,
  userWorkloadConstants,
} from './user-workloads.js';
export type { UserWorkload, BorrowChoice } from './user-workloads.js';
export {
  CALIBRATION_TOLERANCE,
  CALIBRATION_MIN_BATCH,
  calibrationReport,
  loadCalibrationMeasurements,
  fitCalibration,
} from './calibration.js';
export type { CalibrationReport, CalibrationRow, CalibrationMeasurement, CalibrationFit } from './calibration.js';
export { paretoFront } from './pareto.js';
