/**
 * @fulcrum/devices — device backends behind one interface (`DeviceBackend`: what a power mode,
 * workload, kind and batch size cost in time per minibatch and mean power): the virtual Jetson (a
 * calibrated, physically motivated model with seeded noise and noise-free ground truth) and
 * profile tables (the CSV of SPEC §3).
 *
 * Main entry points:
 * - `createVirtualDevice(device, { noise, seed })` (`virtualDeviceIds()`), or
 *   `createBackend({ type: 'virtual' | 'table', … })`;
 * - profile tables: `loadProfileTable` / `readProfileCsv`, `createTableBackend`, `ProfileTable`,
 *   `writeProfileCsv` / `exportProfiles` (a virtual device's table as CSV);
 * - `toMeasurement` (ms and W to core's seconds and watts), `defaultTrainBatchSize`.
 *
 * The device model's physics, workload costs and calibration are in `@fulcrum/devices/internal`.
 */
export { BACKEND_TYPES, NotInTableError, isNotInTableError, defaultTrainBatchSize, toMeasurement } from './backend.js';
export type { BackendType, DeviceBackend, ProfileQuery, ProfileSample, MeasureOptions, GroundTruthTable } from './backend.js';
export { createBackend } from './create.js';
export type { BackendConfig } from './create.js';
export { VirtualDevice, createVirtualDevice } from './virtual.js';
export { SyntheticFamilyDevice, familyShape, parseFamilyDevice } from './synthetic-family.js';
export type { SyntheticFamilyOptions, FamilyShape } from './synthetic-family.js';
export type { VirtualDeviceOptions } from './virtual.js';
export type { VirtualWorkloadSpec, MinibatchCostLine, ComputeClass } from './user-workloads.js';
export { virtualDeviceIds } from './device-physics.js';
export { DEFAULT_NOISE, DEFAULT_SEED, REFERENCE_SAMPLES, SYSTEMATIC_VARIANCE_SHARE } from './noise.js';
export { ProfileTable, TableBackend, createTableBackend, DuplicateRowError } from './profile-table.js';
export type { ProfileRow, ProfileTableSummary, TableBackendOptions } from './profile-table.js';
export {
  PROFILE_CSV_COLUMNS,
  PROFILE_CSV_HEADER,
  DEFAULT_EXPORT_BATCH_SIZES,
  ProfileCsvError,
  ProfileFileError,
  isProfileCsvError,
  writeProfileCsv,
  exportProfiles,
  readProfileCsv,
  loadProfileTable,
  loadProfileTableSetting,
} from './profiles-csv.js';
export type { ExportOptions, ExportSummary, ReadOptions } from './profiles-csv.js';
export { GridIndex } from './grid-index.js';
