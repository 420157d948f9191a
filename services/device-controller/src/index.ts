/**
 * @fulcrum/device-controller — the device-controller as a library: the real Jetson backend
 * (board discovery from sysfs, ordered knob writes with read-back, INA3221 power, tegrastats
 * fallback), the privileged helper and its client, the controller lifecycle (crash recovery,
 * restore on stop, power cap), and a fake sysfs tree for tests and trials.
 */
export { identifyBoard, parseDtStrings, readBoardIdentity } from './board.js';
export { DiscoveryError, discoverJetson, hzToMhz, khzToMhz } from './discover.js';
export {
  KnobMismatchError,
  KnobWriteError,
  applyMode,
  describeKnobs,
  modeMismatches,
  readKnobState,
  readKnobs,
  restoreKnobs,
  writablePaths,
} from './knobs.js';
export { StateFile, defaultStateFilePath } from './state-file.js';
export { LocalKnobDriver, Serializer } from './driver.js';
export { PowerCapError, checkPowerCap, loadProfilePower, parseProfilePower } from './power-cap.js';
export { JetsonSensors, boardTotal, findIna3221Channels, findThermalZones, readRails, startSampler } from './power.js';
export { parseTegrastatsLine, startTegrastats, tegrastatsTotal } from './tegrastats.js';
export { JetsonBackend, deviceSpecOf } from './backend.js';
export { JetsonController, openKnobDriver } from './controller.js';
export { deviceControllerConfigSchema, loadDeviceControllerConfig } from './config.js';
export { RealSysfsIo, SysfsError, cleanSysfsText, parseCpuList, parseNumberList } from './sysfs-io.js';
export {
  FAKE_BOARDS,
  FAKE_SYSFS_MARKER,
  FAKE_SYSFS_WRITE_LOG,
  FakeKernelIo,
  clearFakeWriteLog,
  generateFakeSysfs,
  openSysfs,
  readFakeWriteLog,
  setFakeRules,
} from './fake-sysfs.js';
export { HELPER_OPS, HELPER_PROTOCOL_VERSION, MAX_REQUEST_BYTES, ProtocolError, parseRequest } from './helper/protocol.js';
export { startJetsonHelper } from './helper/server.js';
export { HelperClient, HelperError } from './helper/client.js';
export * as paths from './paths.js';
export { ModelControlBackend, coveringGrid, presetMode, virtualIdlePowerW } from './model-backend.js';
export {
  DEVICE_CONTROLLER_SERVICE_NAME,
  deviceControllerServiceConfig,
  deviceControllerServiceConfigSchema,
  loadDeviceControllerServiceConfig,
  startDeviceControllerService,
} from './grpc-service.js';

export type { BoardIdentity } from './board.js';
export type { CpuCluster, EmcControl, GpuDevfreq, JetsonBoard } from './discover.js';
export type {
  EmcState,
  GovernorPolicy,
  KnobMismatch,
  KnobName,
  KnobOptions,
  KnobReadout,
  ModeSwitchResult,
  PolicyState,
  RawKnobState,
  WriteRecord,
} from './knobs.js';
export type { SavedKnobState, StateFileRead } from './state-file.js';
export type { JetsonKnobDriver, LocalKnobDriverOptions, RestoreResult, SavedStateSummary } from './driver.js';
export type { KnownPowerW, ProfilePower } from './power-cap.js';
export type { BoardPower, Ina3221Channel, JetsonSensorsOptions, RailReading, Sampler, SensorReading, ThermalZone } from './power.js';
export type { TegrastatsProcess, TegrastatsRail, TegrastatsReading } from './tegrastats.js';
export type { DeviceControlBackend, DeviceControlInfo, JetsonBackendOptions, ModeSwitch, TelemetrySample } from './backend.js';
export type { JetsonControllerOptions } from './controller.js';
export type { DeviceControllerConfig } from './config.js';
export type { SysfsErrorCode, SysfsIo } from './sysfs-io.js';
export type { FakeBoardId, FakeRail, FakeRules, FakeSysfsMarker, FakeSysfsTree, FakeWrite, GenerateFakeSysfsOptions } from './fake-sysfs.js';
export type { HelperErrorBody, HelperErrorCode, HelperOp, HelperRequest, HelperResponse } from './helper/protocol.js';
export type { JetsonHelper, JetsonHelperOptions } from './helper/server.js';
export type { HelperClientOptions } from './helper/client.js';
export type { ModelActivity, ModelControlBackendOptions } from './model-backend.js';
export type {
  DeviceControllerService,
  DeviceControllerServiceConfig,
  DeviceControllerServiceConfigInput,
  DeviceControllerServiceOptions,
} from './grpc-service.js';
