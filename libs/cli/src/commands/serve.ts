/**
 * `fulcrum serve <device-controller|executor|profiler|optimizer|all>` — the services as processes.
 *
 * One service per process, configured like its own service main (every config key is a flag,
 * `--grpc.port=50051`; flags > env `FULCRUM_…` > `--config FILE` > defaults, runtime's
 * `parseServiceFlags`), or `all` four in one process sharing one bus: the embedded default (an
 * in-process bus, profiles in SQLite — nothing to install) or, with `--nats URL`, NATS (and with
 * `--store kv` the JetStream KV profile store). In `all` the peers' addresses (and the token) are
 * wired automatically and the board side gets demo-friendly defaults (stack.ts's ALL_DEFAULTS).
 *
 * It prints where each service listens on stdout (`--json`: one JSON line per service, the same
 * line the service mains print), logs with pino on stderr, and on SIGTERM/SIGINT closes every
 * service gracefully — the device-controller last, restoring the mode it found at start — and
 * exits 0. The wiring (configs, starting, closing) is in ../stack.ts, shared with `fulcrum demo`.
 */
import { Command, Option } from 'commander';
import { LOG_LEVELS, createLogger, type Logger } from '@fulcrum/runtime';
import { SERVICE_NAMES, SHUTDOWN_LIMITS, closeWithin, type ServiceName } from '@fulcrum/runtime/internal';
import type { CliIo } from '../io.js';
import { loadAllConfigs, loadServeConfig, startAllServices, startOneService, type ServeSugar, type ServedService } from '../stack.js';
import { UsageError, collect, oneOf } from '../usage.js';

export const SERVE_TARGETS = [...SERVICE_NAMES, 'all'] as const;
export type ServeTarget = (typeof SERVE_TARGETS)[number];

interface ServeOptions {
  nats?: string;
  store?: 'sqlite' | 'kv';
  config?: string;
  workloads?: string[];
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
    .option('--workloads <dirs>', 'workload folders (docs/WORKLOADS.md), comma-separated or repeated: the executor runs them, the profiler and optimizer take their names (workloads.paths; also $FULCRUM_WORKLOADS)', collect)
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
  fulcrum serve all --workloads ./my-models --executor.runner=host    # your own models on this host's PyTorch
  fulcrum serve profiler --nats nats://127.0.0.1:4222 --store kv --controller.address=10.0.0.5:50051 --grpc.token=$TOKEN
`,
    )
    .action(async (target: ServeTarget, o: ServeOptions, cmd: Command) => {
      const argv = cmd.args.slice(1);
      const sugar: ServeSugar = { nats: o.nats, store: o.store, config: o.config, workloads: o.workloads?.join(',') };
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
      try {
        await closeWithin('the services', () => running.close(), SHUTDOWN_LIMITS.totalS);
      } catch (err) {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'stop incomplete; exiting anyway');
        process.exitCode = 1;
      }
      // Everything is closed; should a stray handle keep the process, do not hang on it.
      setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
    });
}
