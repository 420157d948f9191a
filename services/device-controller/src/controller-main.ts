/**
 * fulcrum-device-controller (Jetson backend): runs the controller lifecycle — restore what a
 * crashed session left, optionally apply --mode, sample telemetry, restore on SIGTERM/SIGINT.
 * Unprivileged when --helper-socket (or FULCRUM_JETSON__HELPER_SOCKET) points at the helper.
 * The gRPC adapter comes on top of JetsonController in a later step.
 */
import { formatPowerMode } from '@fulcrum/core';
import { createLogger } from '@fulcrum/runtime';
import { daemonConfig } from './cli-args.js';
import { JetsonController } from './controller.js';

const NAME = 'fulcrum-device-controller';
const config = daemonConfig(NAME, process.argv.slice(2), ['sysfs-root', 'log-level', 'helper-socket', 'state-file', 'power-cap-w', 'profile', 'mode', 'telemetry-interval-ms', 'power-source']);
const logger = createLogger({ name: NAME, level: config.logLevel });

try {
  const controller = await JetsonController.start({
    config,
    logger,
    onTelemetry: (s, seq) =>
      logger.debug({ seq, powerW: Number(s.powerW.toFixed(3)), rails: s.totalRails, temperaturesC: s.temperaturesC, mode: s.mode ? formatPowerMode(s.mode) : undefined, source: s.source }, 'telemetry'),
  });
  // Keeps the process alive when telemetry and the drift check are off.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  controller.installSignalHandlers();
  logger.info({ pid: process.pid, recovered: controller.recovered?.restored ?? false }, 'ready');
  process.once('exit', () => clearInterval(keepAlive));
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'cannot start');
  process.exit(1);
}
