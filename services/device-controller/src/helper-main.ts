/**
 * fulcrum-jetson-helper: the only Fulcrum process that runs as root. It owns the Jetson knob files
 * and the saved original state, and answers the unprivileged controller on a Unix socket
 * (helper/protocol.ts). systemd unit: deploy/systemd/fulcrum-jetson-helper.service.
 */
import { createLogger } from '@fulcrum/runtime';
import { daemonConfig, resolveGroupId } from './cli-args.js';
import { LocalKnobDriver } from './driver.js';
import { openSysfs } from './fake-sysfs.js';
import { startJetsonHelper } from './helper/server.js';
import { loadProfilePower } from './power-cap.js';
import { defaultStateFilePath } from './state-file.js';

const NAME = 'fulcrum-jetson-helper';
const config = daemonConfig(NAME, process.argv.slice(2), ['sysfs-root', 'log-level', 'socket', 'socket-group', 'socket-mode', 'helper-state-file', 'power-cap-w', 'profile']);
const logger = createLogger({ name: NAME, level: config.logLevel });

try {
  if (config.sysfsRoot === '/' && process.getuid?.() !== 0) logger.warn('not running as root: every knob write will fail with EACCES');
  const io = openSysfs(config.sysfsRoot);
  const driver = await LocalKnobDriver.open({
    io,
    stateFile: config.helper.stateFile ?? defaultStateFilePath(io.root),
    cpuGovernor: config.jetson.cpuGovernor,
    gpuGovernor: config.jetson.gpuGovernor,
  });
  const profile = config.jetson.profile ? await loadProfilePower(config.jetson.profile, driver.board.identity.id) : undefined;
  const helper = await startJetsonHelper({
    socketPath: config.helper.socketPath,
    driver,
    logger,
    socketMode: parseInt(config.helper.socketMode, 8),
    ...(config.helper.socketGroup ? { socketGid: resolveGroupId(config.helper.socketGroup) } : {}),
    ...(config.jetson.powerCapW > 0 ? { powerCapW: config.jetson.powerCapW } : {}),
    ...(profile ? { knownPowerW: profile.lookup } : {}),
  });
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    helper.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: String(err) }, 'close failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'cannot start');
  process.exit(1);
}
