/**
 * The device-controller's configuration (flags > env > file > defaults through `@fulcrum/runtime`'s
 * `loadConfig`), in three layers:
 *
 * * `deviceControllerConfigSchema` — the Jetson library, the helper and the CLI's jetson commands
 *   (`sysfsRoot`, `jetson.*`, `helper.*`, `logLevel`);
 * * `deviceControllerNodeConfigSchema` — a running controller node (node.ts): that plus the board
 *   (`device`, `backend`, `profiles`, `hardCapW`, `noise`, `seed`, `initialMode`, `softwareStack`)
 *   and `telemetry.*`;
 * * `deviceControllerServiceConfigSchema` — the service (service.ts): that plus runtime's shared
 *   `grpc`, `metrics` and `nats` sections.
 *
 * Env names follow runtime's rule: `sysfsRoot` → FULCRUM_SYSFS_ROOT, `jetson.helperSocket` →
 * FULCRUM_JETSON__HELPER_SOCKET, `helper.socketGroup` → FULCRUM_HELPER__SOCKET_GROUP, `backend` →
 * FULCRUM_BACKEND, `hardCapW` → FULCRUM_HARD_CAP_W, `grpc.port` → FULCRUM_GRPC__PORT, `nats.url` →
 * FULCRUM_NATS__URL, `telemetry.publishIntervalMs` → FULCRUM_TELEMETRY__PUBLISH_INTERVAL_MS.
 */
import { z } from 'zod';
import { workloadsConfigSchema } from '@fulcrum/workloads';
import { DEFAULT_SEED } from '@fulcrum/devices';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from '@fulcrum/runtime';
import { boardSchema, grpcConfigSchema, logLevelSchema, metricsConfigSchema, natsConfigSchema } from '@fulcrum/runtime/internal';

/** The controller library, the helper and the CLI's jetson commands. */
export const deviceControllerConfigSchema = z.object({
  logLevel: logLevelSchema,
  /** Every board path is resolved under this directory: `/` on a board, a fake tree in tests. */
  sysfsRoot: z.string().min(1).default('/'),
  jetson: z.object({
    /** Talk to the privileged helper on this socket; unset: write the knobs in-process (needs root). */
    helperSocket: z.string().min(1).optional(),
    /** Where the original state is kept (in-process mode); default `<sysfsRoot>/run/fulcrum/jetson-state.json`. */
    stateFile: z.string().min(1).optional(),
    cpuGovernor: z.enum(['performance', 'keep']).default('performance'),
    gpuGovernor: z.enum(['performance', 'keep']).default('performance'),
    /** Telemetry sampling interval, ms (INA3221 rails, temperatures, clocks); 0 = off. */
    telemetryIntervalMs: z.number().int().min(0).default(1000),
    /** `auto`: INA3221 hwmon when the board has it, else tegrastats. */
    powerSource: z.enum(['auto', 'ina3221', 'tegrastats']).default('auto'),
    tegrastatsCommand: z.string().min(1).default('tegrastats'),
    /** Rails to sum for the board total; default: the board's own (Orin AGX: VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0). */
    totalRails: z.array(z.string().min(1)).optional(),
    /** Hard power cap, watts: modes known (from `profile`) to draw more are refused; 0 = none. */
    powerCapW: z.number().min(0).default(0),
    /** Profile table (SPEC §3 CSV) giving the known power of modes. */
    profile: z.string().min(1).optional(),
    /** How often to check that nothing else (jetson_clocks, nvpmodel) moved the pinned knobs, ms; 0 = never. */
    driftCheckIntervalMs: z.number().int().min(0).default(5000),
    /** Re-apply the mode when the check finds it moved (else only report it). */
    reassertOnDrift: z.boolean().default(false),
    /** Apply this mode at start (CORES,CPU_MHZ,GPU_MHZ,EMC_MHZ). */
    initialMode: z.string().min(1).optional(),
  }),
  helper: z.object({
    socketPath: z.string().min(1).default('/run/fulcrum/jetson-helper.sock'),
    /** Octal file mode of the socket. */
    socketMode: z.string().regex(/^0?[0-7]{3}$/u).default('0660'),
    /** Group (name or numeric id) given the socket: the controller's user must be in it. */
    socketGroup: z.string().min(1).optional(),
    stateFile: z.string().min(1).optional(),
  }),
});

export type DeviceControllerConfig = z.output<typeof deviceControllerConfigSchema>;

export function loadDeviceControllerConfig(options: LoadConfigOptions = {}): LoadedConfig<DeviceControllerConfig> {
  return loadConfig(deviceControllerConfigSchema, options);
}

/** A running controller node (`DeviceControllerNode`): the library's keys plus the board and its telemetry. */
export const deviceControllerNodeConfigSchema = deviceControllerConfigSchema.extend({
  /** This board's id (SPEC §1): the bus subjects' `<board>` and the metrics' `board` label; default the host name. */
  board: boardSchema,
  /**
   * Device model id: for `virtual`, the model (orin-agx, agx-xavier); reported in GetDeviceInfo.
   * Unset: a table board's own device (a different one is refused), else orin-agx.
   */
  device: z.string().min(1).optional(),
  backend: z.enum(['virtual', 'table', 'jetson']).default('virtual'),
  /** SPEC §3 profile CSV: the board for `table`; known power per mode for the cap on `jetson` (unless `jetson.profile`). */
  profiles: z.string().min(1).optional(),
  /** Hard power cap, watts: modes whose known power is above it are refused (FAILED_PRECONDITION); 0 = none. */
  hardCapW: z.number().min(0).default(0),
  /** Relative noise of virtual/table power samples; default the model's (2.5% virtual, 0 table). */
  noise: z.number().min(0).max(1).optional(),
  seed: z.number().int().default(DEFAULT_SEED),
  /** virtual/table: the mode the board is in at start (CORES,CPU,GPU,EMC or a preset name); default MAXN. jetson: see jetson.initialMode. */
  initialMode: z.string().min(1).optional(),
  /** Reported in GetDeviceInfo; default `fulcrum-virtual-<device>-seed<seed>`, `fulcrum-table-<file>`, `jetson-<board>`. */
  softwareStack: z.string().min(1).optional(),
  /** virtual: user workload folders (also FULCRUM_WORKLOADS) the board's power model follows, from their cost: or ONNX graph. */
  workloads: workloadsConfigSchema,
  telemetry: z
    .object({
      /** StreamTelemetry interval when the request says 0, ms. */
      defaultIntervalMs: z.number().int().min(1).default(1000),
      /** Shortest StreamTelemetry interval served, ms (shorter requests are raised to it). */
      minIntervalMs: z.number().int().min(1).default(5),
      /** Publish power on `fulcrum.<board>.power` this often, ms; 0 = never. */
      publishIntervalMs: z.number().int().min(0).default(1000),
      /** virtual/table: an executor activity not refreshed for this long counts as idle, ms; 0 = never. */
      activityTimeoutMs: z.number().int().min(0).default(5000),
    })
    .prefault({}),
  jetson: deviceControllerConfigSchema.shape.jetson.prefault({}),
  helper: deviceControllerConfigSchema.shape.helper.prefault({}),
});

export type DeviceControllerNodeConfig = z.output<typeof deviceControllerNodeConfigSchema>;
export type DeviceControllerNodeConfigInput = z.input<typeof deviceControllerNodeConfigSchema>;

/** The service: the node's keys plus runtime's shared `grpc`, `metrics` and `nats` sections. */
export const deviceControllerServiceConfigSchema = deviceControllerNodeConfigSchema.extend({
  grpc: grpcConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  nats: natsConfigSchema.prefault({}),
});

export type DeviceControllerServiceConfig = z.output<typeof deviceControllerServiceConfigSchema>;
export type DeviceControllerServiceConfigInput = z.input<typeof deviceControllerServiceConfigSchema>;

/** flags > env > file > defaults (@fulcrum/runtime `loadConfig`). */
export function loadDeviceControllerServiceConfig(options: LoadConfigOptions = {}): LoadedConfig<DeviceControllerServiceConfig> {
  return loadConfig(deviceControllerServiceConfigSchema, options);
}

/** A config from code: defaults filled, checked (throws a ZodError on bad values). */
export function deviceControllerServiceConfig(input: DeviceControllerServiceConfigInput = {}): DeviceControllerServiceConfig {
  return deviceControllerServiceConfigSchema.parse(input);
}
