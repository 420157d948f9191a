import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '@fulcrum/runtime';
import { loadDeviceControllerConfig, type DeviceControllerConfig } from './config.js';

/**
 * The helper's flags, mapped onto config keys (see config.ts). The device-controller itself is
 * service-main.ts, whose flags are every config key (runtime's parseServiceFlags).
 */
const FLAG_KEYS: Record<string, string> = {
  'sysfs-root': 'sysfsRoot',
  'log-level': 'logLevel',
  'power-cap-w': 'jetson.powerCapW',
  profile: 'jetson.profile',
  socket: 'helper.socketPath',
  'socket-group': 'helper.socketGroup',
  'socket-mode': 'helper.socketMode',
  'helper-state-file': 'helper.stateFile',
};

/** Parses the helper's command line (`--config FILE` plus FLAG_KEYS) into its configuration; exits 2 on bad input. */
export function daemonConfig(name: string, argv: readonly string[], allowed: readonly string[]): DeviceControllerConfig {
  const options = Object.fromEntries([...allowed, 'config'].map((f) => [f, { type: 'string' as const }]));
  try {
    const values = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
    if (values['help']) {
      process.stdout.write(`usage: ${name} [--config FILE] ${allowed.map((f) => `[--${f} VALUE]`).join(' ')}\n(env: FULCRUM_SYSFS_ROOT, FULCRUM_HELPER__SOCKET_PATH, …; see services/device-controller/README.md)\n`);
      process.exit(0);
    }
    const flags: Record<string, unknown> = {};
    for (const f of allowed) if (values[f] !== undefined) flags[FLAG_KEYS[f]!] = values[f];
    const file = values['config'] as string | undefined;
    return loadDeviceControllerConfig({ flags, ...(file ? { file } : {}) }).config;
  } catch (err) {
    process.stderr.write(`${name}: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
}

/** A group name or numeric id → gid (from /etc/group), for the helper's socket. */
export function resolveGroupId(group: string): number {
  if (/^\d+$/u.test(group)) return Number(group);
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw new Error(`unknown group ${JSON.stringify(group)} (not in /etc/group)`);
}
