/**
 * @fulcrum/proto/internal — the public face plus what the services use among themselves: the
 * peer protocol's conversions (executor measurement runs, device-controller info), the enum and
 * grid conversions, `withinField` and `UNBOUNDED`.
 */
export * from './index.js';
export {
  UNBOUNDED,
  withinField,
  workloadKindToProto,
  workloadKindFromProto,
  optionalWorkloadKindFromProto,
  powerSemanticsToProto,
  powerSemanticsFromProto,
  optionalPowerModeFromProto,
  gridToProto,
  gridFromProto,
  measurementRunToProto,
  measurementRunFromProto,
  measurementOutcomeToProto,
  measurementOutcomeFromProto,
  deviceInfoToProto,
  deviceInfoFromProto,
} from './convert.js';
export type { MeasurementRun, MeasurementOutcome, DeviceBackendKind, DeviceInfo } from './convert.js';
