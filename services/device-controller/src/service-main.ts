/**
 * The device-controller service as a process — the `fulcrum-device-controller` bin and the
 * systemd unit (`--backend=jetson`, knobs through the helper's socket):
 *
 *   node services/device-controller/dist/service-main.js [--config FILE] [--backend=virtual] [--grpc.port=50051] [--nats.url=nats://…] …
 *
 * On a jetson, start restores what a crashed session left (the state file) before anything else,
 * then applies `initialMode`/`jetson.initialMode` if set.
 * Every config key is a flag (@fulcrum/runtime's parseServiceFlags; keys in config.ts). Prints one JSON line on
 * stdout when ready (`{"service":"device-controller","address":…,"metricsUrl":…,"pid":…}`);
 * SIGTERM/SIGINT restore the mode found at start, then exit 0. Bad configuration exits 2.
 */
import { isValidationError } from '@fulcrum/core';
import { createLogger } from '@fulcrum/runtime';
import { parseServiceFlags } from '@fulcrum/runtime/internal';
import { deviceControllerServiceConfigSchema, type DeviceControllerServiceConfig } from './config.js';
import { startDeviceControllerService } from './service.js';

const NAME = 'fulcrum-device-controller';
let config: DeviceControllerServiceConfig;
try {
  config = parseServiceFlags(deviceControllerServiceConfigSchema, process.argv.slice(2), {
    unknownFlagHint: 'every config key is a flag: --backend, --grpc.port, --jetson.helper-socket, --initial-mode, …; see services/device-controller/README.md',
  }).config;
} catch (err) {
  process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
const logger = createLogger({ name: NAME, level: config.logLevel });
try {
  const svc = await startDeviceControllerService(config, { logger, handleSignals: true });
  process.stdout.write(`${JSON.stringify({ service: svc.name, address: svc.address, metricsUrl: svc.metricsUrl ?? null, pid: process.pid })}\n`);
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'cannot start');
  // A setting that cannot work (e.g. a non-loopback bind without TLS and a token) is exit 2: the
  // systemd units' RestartPreventExitStatus=2 then stops instead of restarting in a loop.
  process.exit(isValidationError(err) ? 2 : 1);
}
