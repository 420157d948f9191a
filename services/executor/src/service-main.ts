/**
 * The executor service as a process:
 *
 *   node services/executor/dist/service-main.js [--config FILE] [--controller.address=127.0.0.1:50051] [--time-scale=100] [--nats.url=nats://…] …
 *
 * Every config key is a flag (@fulcrum/runtime's parseServiceFlags; keys in config.ts). Prints one JSON line on stdout when ready
 * (`{"service":"executor","address":…,"metricsUrl":…,"pid":…}`); SIGTERM/SIGINT drain and exit 0.
 * Bad configuration exits 2.
 */
import { isValidationError } from '@fulcrum/core';
import { createLogger } from '@fulcrum/runtime';
import { parseServiceFlags } from '@fulcrum/runtime/internal';
import { executorServiceConfigSchema, type ExecutorServiceConfig } from './config.js';
import { startExecutorService } from './service.js';

const NAME = 'fulcrum-executor';

let config: ExecutorServiceConfig;
try {
  config = parseServiceFlags(executorServiceConfigSchema, process.argv.slice(2)).config;
} catch (err) {
  process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
const logger = createLogger({ name: NAME, level: config.logLevel });
try {
  const svc = await startExecutorService(config, { logger, handleSignals: true });
  process.stdout.write(`${JSON.stringify({ service: svc.name, address: svc.address, metricsUrl: svc.metricsUrl ?? null, pid: process.pid })}\n`);
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'cannot start');
  // A setting that cannot work (e.g. a non-loopback bind without TLS and a token) is exit 2: the
  // systemd units' RestartPreventExitStatus=2 then stops instead of restarting in a loop.
  process.exit(isValidationError(err) ? 2 : 1);
}
