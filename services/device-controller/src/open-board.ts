/**
 * The board behind a controller node, by `backend`: `jetson` — a real board through
 * `JetsonController` (sysfs root or the privileged helper); `table` — a SPEC §3 profile CSV;
 * `virtual` — the virtual Jetson of @fulcrum/devices. The last two are a `ModelControlBackend`.
 */
import { basename } from 'node:path';
import { ValidationError, formatPowerMode, parsePowerMode, type PowerMode } from '@fulcrum/core';
import { createBackend, loadProfileTable, type DeviceBackend } from '@fulcrum/devices';
import type { Logger } from '@fulcrum/runtime';
import { openWorkloadRegistry, simulatableWorkloads } from '@fulcrum/workloads';
import type { DeviceControlBackend } from './backend.js';
import type { DeviceControllerConfig, DeviceControllerNodeConfig } from './config.js';
import { JetsonController } from './controller.js';
import { ModelControlBackend, presetMode, type ModelActivity } from './model-backend.js';

/** What a node needs of a board, whatever its backend. */
export interface Board {
  readonly backend: DeviceControlBackend;
  readonly initialMode: PowerMode;
  readonly softwareStack: string;
  /** virtual/table: the model's device (a table's own device id). */
  readonly device?: string;
  /** jetson: whether start found an earlier session's state file (a crash) and restored it first. */
  readonly recovered?: boolean;
  /** virtual/table: what the executor runs now (their power follows it). */
  setActivity?(activity: ModelActivity): void;
  /** Stops, restores the mode found at start, closes. */
  stop(): Promise<{ restored: boolean; mode?: PowerMode | undefined } | undefined>;
}

function resolveMode(text: string, model: DeviceBackend | undefined, field: string): PowerMode {
  // No comma: a preset name (MAXN, 15W, …).
  if (!text.includes(',') && model) return presetMode(model, text, field);
  return parsePowerMode(text, field);
}

export async function openBoard(config: DeviceControllerNodeConfig, logger: Logger): Promise<Board> {
  if (config.backend === 'jetson') return openJetsonBoard(config, logger);
  let model: DeviceBackend;
  if (config.backend === 'table') {
    if (!config.profiles) throw new ValidationError('profiles', 'backend table needs a profile CSV (--profiles, FULCRUM_PROFILES)');
    model = createBackend({ type: 'table', table: await loadProfileTable(config.profiles), name: basename(config.profiles) });
    if (config.device !== undefined && config.device !== model.device.id) {
      throw new ValidationError('device', `the profile table ${basename(config.profiles)} is of ${model.device.id}, not ${config.device} (leave device out on a table board)`);
    }
  } else {
    const workloads = simulatableWorkloads(openWorkloadRegistry(config.workloads).userFolders(), (f, reason) =>
      logger.warn({ workload: f.manifest.name, reason }, 'the virtual board cannot model this workload folder; its activity reads as idle power'),
    );
    model = createBackend({ type: 'virtual', device: config.device ?? 'orin-agx', seed: config.seed, ...(config.noise !== undefined ? { noise: config.noise } : {}), workloads });
  }
  const backend = new ModelControlBackend(model, {
    hardCapW: config.hardCapW,
    seed: config.seed,
    ...(config.noise !== undefined ? { noise: config.noise } : {}),
    activityTimeoutMs: config.telemetry.activityTimeoutMs,
    ...(config.initialMode ? { initialMode: resolveMode(config.initialMode, model, 'initialMode') } : {}),
  });
  return {
    backend,
    device: model.device.id,
    initialMode: backend.initialMode,
    softwareStack: config.softwareStack ?? (config.backend === 'table' ? `fulcrum-table-${basename(config.profiles!)}` : `fulcrum-virtual-${model.device.id}-seed${config.seed}`),
    setActivity: (a) => backend.setActivity(a),
    stop: async () => {
      const r = await backend.restore();
      await backend.close();
      return r;
    },
  };
}

async function openJetsonBoard(config: DeviceControllerNodeConfig, logger: Logger): Promise<Board> {
  const jetsonConfig: DeviceControllerConfig = {
    ...config,
    jetson: {
      ...config.jetson,
      powerCapW: config.hardCapW > 0 ? config.hardCapW : config.jetson.powerCapW,
      ...(config.jetson.profile ?? config.profiles ? { profile: config.jetson.profile ?? config.profiles } : {}),
      ...(config.jetson.initialMode ?? config.initialMode ? { initialMode: config.jetson.initialMode ?? config.initialMode } : {}),
    },
  };
  // JetsonController saves the knobs' state before its first write and stop() puts it back; the
  // configured initial mode is applied after reading what the board was in.
  const found = await JetsonController.start({
    config: { ...jetsonConfig, jetson: { ...jetsonConfig.jetson, initialMode: undefined } },
    logger,
    // Every `jetson.telemetryIntervalMs` (0 = off): the board's readings in the log at debug level.
    onTelemetry: (s, seq) =>
      logger.debug({ seq, powerW: Number(s.powerW.toFixed(3)), rails: s.totalRails, temperaturesC: s.temperaturesC, mode: s.mode ? formatPowerMode(s.mode) : undefined, source: s.source }, 'telemetry'),
  });
  let initialMode: PowerMode;
  try {
    initialMode = await found.getMode();
    if (jetsonConfig.jetson.initialMode) await found.setMode(parsePowerMode(jetsonConfig.jetson.initialMode, 'jetson.initialMode'));
  } catch (err) {
    await found.stop().catch(() => undefined);
    throw err;
  }
  const backend = found.backend;
  return {
    backend,
    initialMode,
    softwareStack: config.softwareStack ?? `jetson-${backend.board.identity.id}`,
    recovered: found.recovered?.restored ?? false,
    stop: async () => {
      const r = await found.stop();
      return r ? { restored: r.restored, mode: r.mode } : undefined;
    },
  };
}
