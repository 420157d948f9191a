/**
 * `fulcrum serve <device-controller|executor|profiler|optimizer|all>` — the services as processes.
 *
 * One service per process, configured like its own service main (every config key is a flag,
 * `--grpc.port=50051`; flags > env `FULCRUM_…` > `--config FILE` > defaults, runtime's
 * `parseServiceFlags`), or `all` four in one process sharing one bus: the embedded default (an
 * in-process bus, profiles in SQLite — nothing to install) or, with `--nats URL`, NATS (and with
 * `--store kv` the JetStream KV profile store). In `all` the peers' addresses (and the token) are
 * wired automatically and the board side gets demo-friendly defaults (ALL_DEFAULTS).
 *
 * It prints where each service listens on stdout (`--json`: one JSON line per service, the same
 * line the service mains print), logs with pino on stderr, and on SIGTERM/SIGINT closes every
 * service gracefully — the device-controller last, restoring the mode it found at start — and
 * exits 0.
 */
import { Command, Option } from 'commander';
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
import {
  ConfigError,
  LOG_LEVELS,
  SERVICE_NAMES,
  createLogger,
  flagName,
  grpcListenPort,
  loadConfig,
  parseFlagArgs,
  parseServiceFlags,
  unknownFlags,
  unknownFlagsError,
  type ConfigSource,
  type Logger,
  type ServiceName,
} from '@fulcrum/runtime';
import type { z } from 'zod';
import type { CliIo } from '../program.js';
import { CommandError, UsageError, oneOf } from '../usage.js';

export const SERVE_TARGETS = [...SERVICE_NAMES, 'all'] as const;
export type ServeTarget = (typeof SERVE_TARGETS)[number];

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
}

function sugarFlags(target: ServiceName, sugar: ServeSugar): Record<string, string | undefined> {
  return { 'nats.url': sugar.nats, ...(target === 'profiler' ? { 'store.backend': sugar.store } : {}) };
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
      const err = unknownFlagsError(ownUnknown.map((f) => `${name}.${f}`), `not a ${name} config key`);
      if (err) throw err;
      const fill = Object.entries(defaults).filter(([key]) => (first.sources[key]?.layer ?? 'default') === 'default');
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
 * All four services in this process over loopback gRPC, sharing one bus (in-process, or NATS when
 * `nats.url` is set): the executor follows the controller, the profiler drives both, the optimizer
 * profiles through the profiler and applies its plans on the executor. Addresses and tokens are
 * wired here, whatever the configs say.
 */
export async function startAllServices(configs: AllConfigs, logger: Logger): Promise<RunningServices> {
  const c = configs['device-controller'];
  const natsUrl = c.nats.url ?? configs.executor.nats.url ?? configs.profiler.nats.url ?? configs.optimizer.nats.url;
  let bus: EventBus;
  try {
    bus = await createEventBus({ natsUrl, logger });
  } catch (err) {
    throw new CommandError(`cannot connect to NATS at ${natsUrl}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const stack: { name: ServiceName; close: (graceMs?: number) => Promise<void> }[] = [];
  let closing: Promise<void> | undefined;
  const close = (graceMs?: number): Promise<void> =>
    (closing ??= (async () => {
      for (const s of stack.reverse()) {
        try {
          await s.close(graceMs);
        } catch (err) {
          logger.error({ service: s.name, err: err instanceof Error ? err.message : String(err) }, 'close failed');
        }
      }
      await bus.close();
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
  const device = c.device;
  const controller = await start('device-controller', () => startDeviceControllerService(c, { logger, bus }));
  const executor = await start('executor', () =>
    startExecutorService(
      { ...configs.executor, device, controller: { ...configs.executor.controller, address: controller.address, ...tokenOf(c) } },
      { logger, bus },
    ),
  );
  const profiler = await start('profiler', () =>
    startProfilerService(
      {
        ...configs.profiler,
        controller: { ...configs.profiler.controller, address: controller.address, ...tokenOf(c) },
        executor: { ...configs.profiler.executor, address: executor.address, ...tokenOf(configs.executor) },
      },
      { logger, bus },
    ),
  );
  const optimizer = await start('optimizer', () =>
    startOptimizerService(
      {
        ...configs.optimizer,
        profiler: { ...configs.optimizer.profiler, address: profiler.address, ...tokenOf(configs.profiler) },
        executor: { ...configs.optimizer.executor, address: executor.address, apply: true, ...tokenOf(configs.executor) },
        defaults: { ...configs.optimizer.defaults, device },
      },
      { logger, bus },
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

interface ServeOptions {
  nats?: string;
  store?: 'sqlite' | 'kv';
  config?: string;
  logLevel?: string;
  json?: boolean;
}

function describe(s: ServedService): string {
  return `${s.service.padEnd(17)} gRPC ${s.address}${s.metricsUrl ? `  metrics ${s.metricsUrl}/metrics  health ${s.metricsUrl}/healthz` : ''}`;
}

/** Resolves on the first SIGTERM/SIGINT; a second one while closing exits 1 at once. */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let got = false;
    const on = (signal: NodeJS.Signals): void => {
      if (got) process.exit(1);
      got = true;
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('Run a Fulcrum service (or all four in one process) until SIGTERM/SIGINT.')
    .argument('<service>', `${SERVE_TARGETS.join(' | ')}`, oneOf(SERVE_TARGETS))
    .option('--nats <url>', 'events (and profiles with --store kv) over NATS; default an in-process bus')
    .addOption(new Option('--store <backend>', 'profile store of the profiler: sqlite (a file, default) or kv (JetStream KV, needs --nats)').argParser(oneOf(['sqlite', 'kv'] as const)))
    .option('--config <file>', "a service's config file (JSON or YAML); in all: --<service>.config FILE")
    .addOption(new Option('--log-level <level>', 'log level (default FULCRUM_LOG_LEVEL, else info)').argParser(oneOf(LOG_LEVELS)))
    .option('--json', 'print one JSON line per service ({service, address, metricsUrl, pid}) instead of text')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      `
Every config key of the service is a flag as well (--grpc.port=50051, --grpc.token=…, --time-scale=20,
--protocol.settle-s=0.1); flags override env (FULCRUM_GRPC__PORT, …), which overrides --config FILE.
The keys are in each service's README. In "all", a flag that starts with a service name goes to that
service (--profiler.protocol.settle-s=1, --executor.time-scale=50); any other goes to every service
that has the key (--grpc.token=…, --grpc.host=…). "all" defaults: ports 50051–50054 (metrics 51051–51054),
settle 0.1 s, 1 warm-up + 5 measured minibatches, executor time scale 20 (the virtual board).

Examples:
  fulcrum serve all
  fulcrum serve all --nats nats://127.0.0.1:4222 --store kv
  fulcrum serve profiler --nats nats://127.0.0.1:4222 --store kv --controller.address=10.0.0.5:50051 --grpc.token=$TOKEN
`,
    )
    .action(async (target: ServeTarget, o: ServeOptions, cmd: Command) => {
      const argv = cmd.args.slice(1);
      const sugar: ServeSugar = { nats: o.nats, store: o.store, config: o.config };
      const configs = target === 'all' ? loadAllConfigs(argv, sugar) : undefined;
      const single = target === 'all' ? undefined : loadServeConfig(target, argv, sugar);
      let logger: Logger;
      try {
        logger = createLogger({ name: 'fulcrum', ...(o.logLevel ? { level: o.logLevel } : {}) });
      } catch (err) {
        throw new UsageError(`--log-level: ${(err as Error).message}`);
      }
      const signal = firstSignal();
      const running = configs ? await startAllServices(configs, logger) : await startOneService(target as ServiceName, single!, logger);
      for (const s of running.services) io.stdout(o.json ? `${JSON.stringify(s)}\n` : `${describe(s)}\n`);
      if (!o.json) io.stdout(`ready (${target === 'all' || running.services.length > 1 ? 'one process' : running.services[0]!.service}, pid ${process.pid}); stop with Ctrl-C or SIGTERM\n`);
      const got = await signal;
      logger.info({ signal: got }, 'stopping');
      await running.close();
      // Everything is closed; should a stray handle keep the process, do not hang on it.
      setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
    });
}
