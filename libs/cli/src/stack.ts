/**
 * The CLI's wiring of the four services in one process, shared by `fulcrum serve` and `fulcrum demo`:
 * each service's config from flags, env and files (`loadServeConfig`, and `loadAllConfigs` for all
 * four with `serve all`'s defaults and per-service flags), one service on its own bus
 * (`startOneService`), and all four over loopback gRPC on one shared bus, started in order with a
 * cleanup stack that closes what started, in reverse, should a later one fail (`startAllServices`).
 */
import { createEventBus, type EventBus } from '@fulcrum/bus';
import {
  deviceControllerServiceConfigSchema,
  startDeviceControllerService,
  type DeviceControllerService,
  type DeviceControllerServiceConfig,
} from '@fulcrum/device-controller';
import { executorServiceConfigSchema, startExecutorService, type ExecutorService, type ExecutorServiceConfig } from '@fulcrum/executor';
import { optimizerConfigSchema, startOptimizerService, type OptimizerConfig, type RunningOptimizerService } from '@fulcrum/optimizer';
import { profilerConfigSchema, startProfilerService, type ProfilerConfig, type RunningProfilerService } from '@fulcrum/profiler';
import { isValidationError } from '@fulcrum/core';
import { loadProfileTable, type ProfileTable } from '@fulcrum/devices';
import { ConfigError, loadConfig, type Logger } from '@fulcrum/runtime';
import {
  SERVICE_NAMES,
  flagName,
  SHUTDOWN_LIMITS,
  closeWithin,
  grpcListenPort,
  natsBusOptions,
  parseFlagArgs,
  parseServiceFlags,
  unknownFlags,
  unknownFlagsError,
  type ServiceName,
} from '@fulcrum/runtime/internal';
import type { z } from 'zod';
import { CommandError, UsageError } from './usage.js';

/** Each service's config schema, by name. */
const SCHEMAS = {
  'device-controller': deviceControllerServiceConfigSchema,
  executor: executorServiceConfigSchema,
  profiler: profilerConfigSchema,
  optimizer: optimizerConfigSchema,
} as const satisfies Record<ServiceName, z.ZodObject>;

/**
 * `serve all`'s defaults where they differ from the services' own (flags, env and file still win):
 * the virtual board profiles a mode in well under a second instead of the 10 s settle and 5 + 20
 * minibatches a real board needs, and the simulated executor runs 20× faster than real time.
 */
export const ALL_DEFAULTS: Readonly<Record<ServiceName, Readonly<Record<string, unknown>>>> = {
  'device-controller': { 'telemetry.minIntervalMs': 1 },
  executor: { timeScale: 20 },
  profiler: { 'protocol.settleS': 0.1, 'protocol.warmupMinibatches': 1, 'protocol.measuredMinibatches': 5, 'protocol.telemetryIntervalMs': 2 },
  optimizer: {},
};

export interface AllConfigs {
  readonly 'device-controller': DeviceControllerServiceConfig;
  readonly executor: ExecutorServiceConfig;
  readonly profiler: ProfilerConfig;
  readonly optimizer: OptimizerConfig;
}

export interface ServeSugar {
  /** `--nats URL`: every service's `nats.url`. */
  readonly nats?: string | undefined;
  /** `--store sqlite|kv`: the profiler's `store.backend`. */
  readonly store?: 'sqlite' | 'kv' | undefined;
  /** `--config FILE`: one service's config file. */
  readonly config?: string | undefined;
  /** `--workloads DIR[,DIR…]`: every service's `workloads.paths`. */
  readonly workloads?: string | undefined;
}

function sugarFlags(target: ServiceName, sugar: ServeSugar): Record<string, string | undefined> {
  return {
    'nats.url': sugar.nats,
    ...(target === 'profiler' ? { 'store.backend': sugar.store } : {}),
    'workloads.paths': sugar.workloads,
  };
}

const asUsage = (err: unknown): unknown => (err instanceof ConfigError ? new UsageError(err.message.replace(/^config: /gm, '')) : err);

/** One service's config from argv (its flags), the sugar options and env. Throws UsageError. */
export function loadServeConfig<N extends ServiceName>(target: N, argv: readonly string[], sugar: ServeSugar = {}, env?: Readonly<Record<string, string | undefined>>): AllConfigs[N] {
  if (sugar.store !== undefined && target !== 'profiler') throw new UsageError(`--store: only the profiler keeps profiles (fulcrum serve profiler|all --store ${sugar.store})`);
  try {
    return parseServiceFlags(SCHEMAS[target], argv, {
      flags: sugarFlags(target, sugar),
      file: sugar.config,
      ...(env ? { env } : {}),
      unknownFlagHint: `not a ${target} config key; see fulcrum serve --help`,
    }).config as AllConfigs[N];
  } catch (err) {
    throw asUsage(err);
  }
}

/**
 * The four configs of `serve all` from argv: a flag that starts with a service name goes to that
 * service (`--profiler.protocol.settle-s=1`, `--executor.time-scale=50`, `--optimizer.config FILE`);
 * any other goes to every service that has the key (`--grpc.token=…`, `--device=orin-nano`) and is
 * unknown when none has it. Env (`FULCRUM_…`) applies to every service the same way.
 */
export function loadAllConfigs(
  argv: readonly string[],
  sugar: ServeSugar = {},
  options: { env?: Readonly<Record<string, string | undefined>>; defaults?: Partial<Record<ServiceName, Readonly<Record<string, unknown>>>> } = {},
): AllConfigs {
  if (sugar.config !== undefined) throw new UsageError('--config: in serve all each service takes its own file (--profiler.config FILE, --executor.config FILE, …)');
  if (sugar.store === 'kv' && !sugar.nats) throw new UsageError('--store: kv is JetStream KV and needs --nats URL');
  let parsed;
  try {
    parsed = parseFlagArgs(argv);
  } catch (err) {
    throw asUsage(err);
  }
  if (parsed.file !== undefined) throw new UsageError('--config: in serve all each service takes its own file (--profiler.config FILE, …)');
  const shared: Record<string, string> = {};
  const own: Record<ServiceName, Record<string, string>> = { 'device-controller': {}, executor: {}, profiler: {}, optimizer: {} };
  const files: Partial<Record<ServiceName, string>> = {};
  for (const [flag, value] of Object.entries(parsed.flags)) {
    const name = SERVICE_NAMES.find((n) => flag.startsWith(`${n}.`));
    if (!name) shared[flag] = value;
    else if (flag === `${name}.config`) files[name] = value;
    else own[name][flag.slice(name.length + 1)] = value;
  }
  const usedShared = new Set<string>();
  const configs: Partial<Record<ServiceName, unknown>> = {};
  for (const name of SERVICE_NAMES) {
    const flags = { ...Object.fromEntries(Object.entries(sugarFlags(name, sugar)).filter(([, v]) => v !== undefined)), ...shared, ...own[name] };
    const defaults = { ...ALL_DEFAULTS[name], ...options.defaults?.[name] };
    try {
      const base = { flags, ...(files[name] ? { file: files[name] } : {}), ...(options.env ? { env: options.env } : {}) };
      const first = loadConfig(SCHEMAS[name], base);
      const unknown = new Set(unknownFlags(flags, first.sources));
      for (const f of Object.keys(shared)) if (!unknown.has(f)) usedShared.add(f);
      const ownUnknown = Object.keys(own[name]).filter((f) => unknown.has(f));
      const err = unknownFlagsError(ownUnknown.map((f) => `${name}.${f}`), `not a config key of the ${name}`);
      if (err) throw err;
      // The host runner runs in real time: no time-scale default for it.
      const realTime = name === 'executor' && (first.config as { runner?: string }).runner === 'host';
      const fill = Object.entries(defaults).filter(([key]) => (first.sources[key]?.layer ?? 'default') === 'default' && !(realTime && key === 'timeScale'));
      configs[name] = fill.length ? loadConfig(SCHEMAS[name], { ...base, flags: { ...Object.fromEntries(fill), ...flags } }).config : first.config;
    } catch (err) {
      const e = asUsage(err);
      if (!(e instanceof UsageError)) throw e;
      // Name the flag as it was typed: `--executor.time-scale`, not the service's own `--time-scale`.
      let message = e.message;
      for (const f of Object.keys(own[name])) message = message.split(`from flag ${flagName(f)}:`).join(`from flag --${name}.${flagName(f).slice(2)}:`);
      throw new UsageError(message.startsWith(`${name}`) ? message : `${name}: ${message}`);
    }
  }
  const err = unknownFlagsError(Object.keys(shared).filter((f) => !usedShared.has(f)), 'no service has this config key; see fulcrum serve --help');
  if (err) throw asUsage(err);
  const all = configs as unknown as AllConfigs;
  // One process, four listeners: two on one fixed port cannot both start.
  const seen = new Map<string, ServiceName>();
  for (const name of SERVICE_NAMES) {
    const cfg = all[name];
    const ports: [string, number | undefined][] = [
      ['grpc.port', grpcListenPort(name, cfg.grpc)],
      ['metrics.port', cfg.metrics.port ?? (cfg.grpc.port === 0 ? 0 : grpcListenPort(name, cfg.grpc) + 1000)],
    ];
    for (const [key, port] of ports) {
      if (port === undefined || port <= 0) continue;
      const other = seen.get(String(port));
      if (other) throw new UsageError(`${name}: ${key} ${port} is also ${other}'s port; in serve all give each service its own (--${name}.${key}=…)`);
      seen.set(String(port), name);
    }
    if (cfg.grpc.tlsCert || cfg.grpc.tlsKey) throw new UsageError(`${name}: grpc.tls-cert: serve all wires its services over loopback without TLS; run the services apart (fulcrum serve <service>) for TLS`);
  }
  return all;
}

/** What `serve` prints for each service, and what the service mains print as their ready line. */
export interface ServedService {
  readonly service: ServiceName;
  readonly address: string;
  readonly metricsUrl: string | null;
  readonly pid: number;
}

export interface RunningServices {
  readonly services: readonly ServedService[];
  readonly controller?: DeviceControllerService | undefined;
  readonly executor?: ExecutorService | undefined;
  readonly profiler?: RunningProfilerService | undefined;
  readonly optimizer?: RunningOptimizerService | undefined;
  /** The bus the services share (`all`). */
  readonly bus?: EventBus | undefined;
  /** Graceful: the optimizer first, the device-controller (restoring its starting mode) last. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

const served = (service: ServiceName, s: { address: string; metricsUrl: string | undefined }): ServedService => ({
  service,
  address: s.address,
  metricsUrl: s.metricsUrl ?? null,
  pid: process.pid,
});

function startFailure(name: string, err: unknown): unknown {
  if (err instanceof UsageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err && typeof err === 'object' && 'field' in err && 'reason' in err) return new UsageError(`${name}: ${message}`);
  return new CommandError(`${name} could not start: ${message}`);
}

/** One service in this process, on its own bus (in-process, or `nats.url`). */
export async function startOneService<N extends ServiceName>(name: N, config: AllConfigs[N], logger: Logger): Promise<RunningServices> {
  try {
    switch (name) {
      case 'device-controller': {
        const controller = await startDeviceControllerService(config as DeviceControllerServiceConfig, { logger });
        return { services: [served(name, controller)], controller, close: (g) => controller.close(g) };
      }
      case 'executor': {
        const executor = await startExecutorService(config as ExecutorServiceConfig, { logger });
        return { services: [served(name, executor)], executor, close: (g) => executor.close(g) };
      }
      case 'profiler': {
        const profiler = await startProfilerService(config as ProfilerConfig, { logger });
        return { services: [served(name, profiler)], profiler, close: (g) => profiler.close(g) };
      }
      default: {
        const optimizer = await startOptimizerService(config as OptimizerConfig, { logger });
        return { services: [served(name, optimizer)], optimizer, close: (g) => optimizer.close(g) };
      }
    }
  } catch (err) {
    throw startFailure(name, err);
  }
}


/**
 * The device every service of `serve all` is for, and a table board's table, read once for the
 * services that need it: a table board's device is the table's own (a `--device` other than the
 * default that names another is refused), else `device`.
 */
async function boardOf(c: DeviceControllerServiceConfig): Promise<{ device: string; table?: ProfileTable | undefined }> {
  if (c.backend !== 'table' || !c.profiles) return { device: c.device ?? 'orin-agx' };
  let table: ProfileTable;
  try {
    table = await loadProfileTable(c.profiles);
  } catch (err) {
    if (err && typeof err === 'object' && 'field' in err) throw err;
    throw new UsageError(`--profiles: cannot read ${c.profiles}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const tableDevice = table.summary().device;
  if (c.device !== undefined && c.device !== tableDevice) {
    throw new UsageError(`--device: the profile table ${c.profiles} is of ${tableDevice}, not ${c.device} (leave --device out on a table board)`);
  }
  return { device: tableDevice, table };
}

/**
 * All four services in this process over loopback gRPC, sharing one bus (in-process, or NATS when
 * `nats.url` is set): the executor follows the controller, the profiler drives both, the optimizer
 * profiles through the profiler and applies its plans on the executor. Addresses and tokens are
 * wired here, whatever the configs say.
 */
export async function startAllServices(configs: AllConfigs, logger: Logger): Promise<RunningServices> {
  const c = configs['device-controller'];
  // One connection for all four: the first service's nats section that names a URL (credentials with it).
  const nats = [c, configs.executor, configs.profiler, configs.optimizer].find((x) => x.nats.url)?.nats;
  const natsUrl = nats?.url;
  let bus: EventBus;
  try {
    bus = await createEventBus({ ...(nats ? natsBusOptions(nats, logger) : {}), logger });
  } catch (err) {
    if (isValidationError(err)) throw err;
    throw new CommandError(`cannot connect to NATS at ${natsUrl}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const stack: { name: ServiceName; close: (graceMs?: number) => Promise<void> }[] = [];
  let closing: Promise<void> | undefined;
  const close = (graceMs?: number): Promise<void> =>
    (closing ??= (async () => {
      // Last started first; each bounded, so a service that hangs on close never keeps the
      // device-controller (closed last) from restoring the board's mode.
      for (const s of stack.reverse()) {
        try {
          await closeWithin(s.name, () => s.close(graceMs), SHUTDOWN_LIMITS.perServiceS);
        } catch (err) {
          logger.error({ service: s.name, err: err instanceof Error ? err.message : String(err) }, 'close failed');
        }
      }
      await closeWithin('bus', () => bus.close(), SHUTDOWN_LIMITS.perServiceS).catch((err: unknown) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'bus close failed'));
    })());
  const start = async <T extends { close(graceMs?: number): Promise<void> }>(name: ServiceName, fn: () => Promise<T>): Promise<T> => {
    try {
      const s = await fn();
      stack.push({ name, close: (g) => s.close(g) });
      return s;
    } catch (err) {
      await close(0);
      throw startFailure(name, err);
    }
  };
  const tokenOf = (cfg: { grpc: { token?: string | undefined } }) => (cfg.grpc.token ? { token: cfg.grpc.token } : {});
  let board: Awaited<ReturnType<typeof boardOf>>;
  try {
    board = await boardOf(c);
  } catch (err) {
    await close(0);
    throw startFailure('device-controller', err);
  }
  const device = board.device;
  // The profiler and optimizer learn a table board's own device and workloads from its table
  // (whichever flag gave it), the one read above unless they were given another file.
  const boardProfiles = (cfg: { profiles?: string | undefined }) => {
    const profiles = cfg.profiles ?? (c.backend === 'table' ? c.profiles : undefined);
    return profiles ? { profiles } : {};
  };
  const boardTable = (cfg: { profiles?: string | undefined }) => (board.table && (cfg.profiles ?? c.profiles) === c.profiles ? { boardTable: board.table } : {});
  const controller = await start('device-controller', () => startDeviceControllerService({ ...c, device }, { logger, bus }));
  const executor = await start('executor', () =>
    startExecutorService(
      // One board: the executor's subjects are the controller's (its activity drives the virtual board's power).
      { ...configs.executor, device, board: controller.node.board, controller: { ...configs.executor.controller, address: controller.address, ...tokenOf(c) } },
      { logger, bus },
    ),
  );
  const profiler = await start('profiler', () =>
    startProfilerService(
      {
        ...configs.profiler,
        controller: { ...configs.profiler.controller, address: controller.address, ...tokenOf(c) },
        executor: { ...configs.profiler.executor, address: executor.address, ...tokenOf(configs.executor) },
        ...boardProfiles(configs.profiler),
      },
      { logger, bus, ...boardTable(configs.profiler) },
    ),
  );
  const optimizer = await start('optimizer', () =>
    startOptimizerService(
      {
        ...configs.optimizer,
        profiler: { ...configs.optimizer.profiler, address: profiler.address, ...tokenOf(configs.profiler) },
        executor: { ...configs.optimizer.executor, address: executor.address, apply: true, ...tokenOf(configs.executor) },
        defaults: { ...configs.optimizer.defaults, device },
        ...boardProfiles(configs.optimizer),
      },
      { logger, bus, ...boardTable(configs.optimizer) },
    ),
  );
  return {
    services: [served('device-controller', controller), served('executor', executor), served('profiler', profiler), served('optimizer', optimizer)],
    controller,
    executor,
    profiler,
    optimizer,
    bus,
    close,
  };
}
