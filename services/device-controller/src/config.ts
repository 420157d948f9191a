import { z } from 'zod';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from '@fulcrum/runtime';

/**
 * Configuration of the controller, the helper and the CLI's jetson commands (flags > env > file >
 * defaults, @fulcrum/runtime). Env names follow runtime's rule: `sysfsRoot` → FULCRUM_SYSFS_ROOT,
 * `jetson.helperSocket` → FULCRUM_JETSON__HELPER_SOCKET, `helper.socketGroup` →
 * FULCRUM_HELPER__SOCKET_GROUP.
 */
export const deviceControllerConfigSchema = z.object({
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
