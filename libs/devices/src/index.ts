// @fulcrum/devices — device backends behind one interface: the virtual Jetson (a calibrated,
// physically motivated model) and profile tables (CSV, SPEC §3).
export { BACKEND_TYPES, NotInTableError, isNotInTableError, describeQuery, defaultTrainBatchSize, toMeasurement, validateQuery, resolveGrid } from './backend.js';
export type { BackendType, DeviceBackend, ProfileQuery, ProfileSample, MeasureOptions, GroundTruthTable } from './backend.js';
export { createBackend } from './create.js';
export type { BackendConfig } from './create.js';
export { VirtualDevice, createVirtualDevice, validateNoise, validateSeed } from './virtual.js';
export type { VirtualDeviceOptions } from './virtual.js';
export { ProfileTable, TableBackend, createTableBackend, DuplicateRowError } from './profile-table.js';
export type { ProfileRow, ProfileTableSummary, TableBackendOptions } from './profile-table.js';
export {
  PROFILE_CSV_COLUMNS,
  PROFILE_CSV_HEADER,
  DEFAULT_EXPORT_BATCH_SIZES,
  ProfileCsvError,
  isProfileCsvError,
  formatProfileRow,
  writeProfileCsv,
  exportProfiles,
  readProfileCsv,
  loadProfileTable,
} from './profiles-csv.js';
export type { ExportOptions, ExportSummary, ReadOptions } from './profiles-csv.js';
export { GridIndex, gridIndex } from './grid-index.js';
export { DEFAULT_NOISE, DEFAULT_SEED } from './noise.js';
export { CompiledWorkpiece, TRAINING_LAUNCH_FACTOR } from './physics.js';
export type { DevicePhysics, WorkloadConstants, Workpiece, ModelOutput } from './physics.js';
export { ORIN_AGX_PHYSICS, AGX_XAVIER_PHYSICS, DEVICE_PHYSICS, virtualDeviceIds, getDevicePhysics } from './device-physics.js';
export { WORKLOAD_COSTS, TRAINING_COST_FACTOR, getWorkloadCost, minibatchCost } from './workload-costs.js';
export type { WorkloadCost } from './workload-costs.js';
export { workloadConstants, BORROWED, LOAD_MS_PER_SAMPLE } from './workload-constants.js';
export type { Borrowing } from './workload-constants.js';
export {
  CALIBRATION_TOLERANCE,
  CALIBRATION_MIN_BATCH,
  calibrationReport,
  loadCalibrationMeasurements,
  fitCalibration,
} from './calibration.js';
export type { CalibrationReport, CalibrationRow, CalibrationMeasurement, CalibrationFit } from './calibration.js';
export { paretoFront } from './pareto.js';
