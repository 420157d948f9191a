/**
 * The executor service as a process:
 *
 *   node services/executor/dist/service-main.js [--config FILE] [--controller.address=127.0.0.1:50051] [--time-scale=100] [--nats.url=nats://…] …
 *
 * Every config key is a flag (see grpc-service.ts). Prints one JSON line on stdout when ready
 * (`{"service":"executor","address":…,"metricsUrl":…,"pid":…}`); SIGTERM/SIGINT drain and exit 0.
 * Bad configuration exits 2.
 */
import { createLogger, loadConfig, ConfigError, type LoadConfigOptions } from '@fulcrum/runtime';
import { executorServiceConfigSchema, startExecutorService, type ExecutorServiceConfig } from './grpc-service.js';

const NAME = 'fulcrum-executor';

function configFromArgs(argv: readonly string[]): ExecutorServiceConfig {
  const flags: Record<string, string> = {};
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') throw new Error(`unexpected argument ${JSON.stringify(arg)} (flags are --key=value)`);
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const next = argv[i + 1];
    const value = eq > 0 ? arg.slice(eq + 1) : next !== undefined && !next.startsWith('--') ? (i++, next) : 'true';
    if (key === 'config') file = value;
    else flags[key] = value;
  }
  const options: LoadConfigOptions = { flags, ...(file ? { file } : {}) };
  const loaded = loadConfig(executorServiceConfigSchema, options);
  const normalize = (f: string): string => f.replace(/^--/u, '').replace(/-([a-z0-9])/gu, (_, c: string) => c.toUpperCase());
  const used = new Set(Object.values(loaded.sources).flatMap((s) => (s.layer === 'flag' ? [normalize(s.flag)] : [])));
  const unknown = Object.keys(flags).filter((f) => !used.has(normalize(f)));
  if (unknown.length) throw new Error(`unknown flag${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => `--${f}`).join(', ')}`);
  return loaded.config;
}

let config: ExecutorServiceConfig;
try {
  config = configFromArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${NAME}: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
const logger = createLogger({ name: NAME, level: config.logLevel });
try {
  const svc = await startExecutorService(config, { logger, handleSignals: true });
  process.stdout.write(`${JSON.stringify({ service: svc.name, address: svc.address, metricsUrl: svc.metricsUrl ?? null, pid: process.pid })}\n`);
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'cannot start');
  process.exit(1);
}
