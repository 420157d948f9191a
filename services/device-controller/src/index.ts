/**
 * @fulcrum/device-controller — the device-controller as a library and a gRPC service.
 *
 * Main entry points:
 * - `startDeviceControllerService` (gRPC + /metrics + the bus) with its config
 *   (`deviceControllerServiceConfig`, `loadDeviceControllerServiceConfig`);
 * - `DeviceControllerNode`, the same controller without gRPC: a virtual, table or jetson board,
 *   the executor's activity followed and power published on a bus, telemetry as an async
 *   iterable, mode switches with domain errors (`DeviceControlError`), restore on close;
 * - the backends an embedder picks: `ModelControlBackend` (virtual and table boards) and
 *   `JetsonBackend`, and `JetsonController` (the Jetson lifecycle: crash recovery, drift check,
 *   restore on stop) with `openKnobDriver` for `fulcrum device … --backend jetson`.
 *
 * The rest (sysfs and knob internals, the helper's protocol, fake sysfs trees, the gRPC adapter)
 * is in `@fulcrum/device-controller/internal`.
 */
export { startDeviceControllerService } from './service.js';
export { DeviceControllerNode } from './node.js';
export {
  deviceControllerConfigSchema,
  deviceControllerNodeConfigSchema,
  deviceControllerServiceConfig,
  deviceControllerServiceConfigSchema,
  loadDeviceControllerConfig,
  loadDeviceControllerServiceConfig,
} from './config.js';
export { createDeviceControllerMetrics } from './metrics.js';
export { DeviceControlError } from './errors.js';
export { ModelControlBackend } from './model-backend.js';
export { JetsonBackend } from './backend.js';
export { JetsonController, openKnobDriver } from './controller.js';
export { PowerCapError } from './power-cap.js';
export { KnobMismatchError, KnobWriteError } from './knobs.js';
export { HelperError } from './helper/client.js';
export { DiscoveryError } from './discover.js';
export { SysfsError } from './sysfs-io.js';

export type { DeviceControllerService, DeviceControllerServiceOptions } from './service.js';
export type { DeviceControllerInfo, DeviceControllerNodeOptions, TelemetryOptions, TelemetryReading } from './node.js';
export type {
  DeviceControllerConfig,
  DeviceControllerNodeConfig,
  DeviceControllerNodeConfigInput,
  DeviceControllerServiceConfig,
  DeviceControllerServiceConfigInput,
} from './config.js';
export type { DeviceControllerMetrics } from './metrics.js';
export type { DeviceControlErrorKind } from './errors.js';
export type { DeviceControlBackend, DeviceControlInfo, JetsonBackendOptions, ModeSwitch, SetModeOptions, TelemetrySample } from './backend.js';
export type { ModelActivity, ModelControlBackendOptions } from './model-backend.js';
export type { JetsonControllerOptions } from './controller.js';
export type { JetsonKnobDriver, RestoreResult } from './driver.js';
export type { JetsonBoard } from './discover.js';
export type { BoardIdentity } from './board.js';
export type { BoardPower, RailReading } from './power.js';
