/**
 * @fulcrum/device-controller/internal — the public face plus what the package's own tests, its
 * siblings' tests and the CLI use: board discovery and knob internals, the state file, the
 * sensors and tegrastats, the privileged helper (protocol, server, client), fake sysfs trees, the
 * board choice, the gRPC adapter and the metrics' source.
 */
export * from './index.js';
export { identifyBoard, parseDtStrings, readBoardIdentity } from './board.js';
export { discoverJetson, hzToMhz, khzToMhz } from './discover.js';
export { applyMode, describeKnobs, modeMismatches, readKnobState, readKnobs, restoreKnobs, writablePaths } from './knobs.js';
export { StateFile, defaultStateFilePath } from './state-file.js';
export { LocalKnobDriver, Serializer } from './driver.js';
export { checkPowerCap, loadProfilePower, parseProfilePower } from './power-cap.js';
export { JetsonSensors, boardTotal, findIna3221Channels, findThermalZones, readRails, startSampler } from './power.js';
export { parseTegrastatsLine, startTegrastats, tegrastatsTotal } from './tegrastats.js';
export { deviceSpecOf } from './backend.js';
export { RealSysfsIo, cleanSysfsText, parseCpuList, parseNumberList } from './sysfs-io.js';
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
export { HelperClient } from './helper/client.js';
export * as paths from './paths.js';
export { coveringGrid, presetMode, virtualIdlePowerW } from './model-backend.js';
export { MAX_SETTLE_S, modelActivity } from './node.js';
export { openBoard } from './open-board.js';
export { isDeviceControlError, toDeviceControlError } from './errors.js';
export { DEVICE_CONTROLLER_SERVICE_NAME, deviceControllerGrpcImplementation, grpcStatusOf } from './grpc.js';

export type { CpuCluster, EmcControl, GpuDevfreq } from './discover.js';
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
export type { LocalKnobDriverOptions, SavedStateSummary } from './driver.js';
export type { KnownPowerW, ProfilePower } from './power-cap.js';
export type { Ina3221Channel, JetsonSensorsOptions, Sampler, SensorReading, ThermalZone } from './power.js';
export type { TegrastatsProcess, TegrastatsRail, TegrastatsReading } from './tegrastats.js';
export type { SysfsErrorCode, SysfsIo } from './sysfs-io.js';
export type { FakeBoardId, FakeRail, FakeRules, FakeSysfsMarker, FakeSysfsTree, FakeWrite, GenerateFakeSysfsOptions } from './fake-sysfs.js';
export type { HelperErrorBody, HelperErrorCode, HelperOp, HelperRequest, HelperResponse } from './helper/protocol.js';
export type { JetsonHelper, JetsonHelperOptions } from './helper/server.js';
export type { HelperClientOptions } from './helper/client.js';
export type { Board } from './open-board.js';
export type { DeviceControllerMetricsSource } from './metrics.js';
