/**
 * `fulcrum device info|set|restore --backend jetson` — a real Jetson's board, grid, knobs and
 * sensors through @fulcrum/device-controller (in-process as root, or through the privileged
 * helper with --helper-socket), and `fulcrum device fake-sysfs` to try them without a board:
 *
 *   fulcrum device fake-sysfs --board orin-agx --out /tmp/orin
 *   FULCRUM_SYSFS_ROOT=/tmp/orin fulcrum device info --backend jetson
 *   FULCRUM_SYSFS_ROOT=/tmp/orin fulcrum device set --backend jetson --mode 8,1728,624.75,3199
 */
import { Command, Option } from 'commander';
import { formatPowerMode, getDevice, gridSize, parsePowerMode, ValidationError, type PowerMode } from '@fulcrum/core';
import { ConfigError } from '@fulcrum/runtime';
import {
  DiscoveryError,
  HelperError,
  JetsonBackend,
  KnobMismatchError,
  KnobWriteError,
  PowerCapError,
  SysfsError,
  loadDeviceControllerConfig,
  openKnobDriver,
  type DeviceControllerConfig,
} from '@fulcrum/device-controller';
import { FAKE_BOARDS, generateFakeSysfs, loadProfilePower, openSysfs, type FakeBoardId } from '@fulcrum/device-controller/internal';
import type { CliIo } from '../io.js';
import { UsageError, asUsageError, nonNegativeNumber } from '../usage.js';

const BACKENDS = ['jetson'] as const;

interface JetsonFlags {
  backend: (typeof BACKENDS)[number];
  sysfsRoot?: string;
  helperSocket?: string;
  stateFile?: string;
  json?: boolean;
}

interface SetFlags extends JetsonFlags {
  mode: string;
  powerCapW?: number;
  profiles?: string;
  profile?: string;
}

/**
 * A failure with a complete message (no permission, a knob that read back wrong, no helper):
 * runCli prints an unexpected error's stack, so the stack is set to the message — exit code 1.
 */
function failure(message: string): Error {
  const err = new Error(message);
  err.name = 'JetsonError';
  err.stack = message;
  return err;
}

/** Known failures → a message naming the flag (exit 2) or a plain one (exit 1). */
function translate(err: unknown): unknown {
  if (err instanceof ValidationError) return asUsageError(err, (field) => (field === 'mode' || field.startsWith('mode.') ? '--mode' : undefined));
  if (err instanceof PowerCapError) return new UsageError(`--mode: ${err.message} (cap from --power-cap-w / FULCRUM_JETSON__POWER_CAP_W)`);
  if (err instanceof ConfigError) return new UsageError(err.message.replace(/^config: /u, ''));
  if (err instanceof KnobWriteError || err instanceof KnobMismatchError || err instanceof HelperError || err instanceof DiscoveryError || err instanceof SysfsError) {
    return failure(err.message);
  }
  return err;
}

function configOf(o: JetsonFlags & Partial<Pick<SetFlags, 'powerCapW' | 'profiles' | 'profile'>>): DeviceControllerConfig {
  if (o.profile !== undefined && o.profiles !== undefined) throw new UsageError('--profiles: give it once (--profile is its old name)');
  const flags: Record<string, unknown> = {
    sysfsRoot: o.sysfsRoot,
    'jetson.helperSocket': o.helperSocket,
    'jetson.stateFile': o.stateFile,
    'jetson.powerCapW': o.powerCapW,
    'jetson.profile': o.profiles ?? o.profile,
  };
  return loadDeviceControllerConfig({ flags }).config;
}

async function openBackend(config: DeviceControllerConfig): Promise<JetsonBackend> {
  const driver = await openKnobDriver(config);
  try {
    const board = await driver.describe();
    const profile = config.jetson.profile ? await loadProfilePower(config.jetson.profile, board.identity.id) : undefined;
    return await JetsonBackend.open({
      driver,
      sensorsIo: openSysfs(config.sysfsRoot),
      ...(config.jetson.powerCapW > 0 ? { hardCapW: config.jetson.powerCapW } : {}),
      ...(profile ? { knownPowerW: profile.lookup } : {}),
      ...(config.jetson.totalRails ? { totalRails: config.jetson.totalRails } : {}),
    });
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
}

async function withBackend<T>(config: DeviceControllerConfig, fn: (backend: JetsonBackend) => Promise<T>): Promise<T> {
  let backend: JetsonBackend | undefined;
  try {
    backend = await openBackend(config);
    return await fn(backend);
  } catch (err) {
    throw translate(err);
  } finally {
    await backend?.close().catch(() => undefined);
  }
}

const list = (xs: readonly number[]): string => (xs.length > 8 ? `${xs[0]} … ${xs.at(-1)}` : xs.join(', '));
const via = (config: DeviceControllerConfig): string => (config.jetson.helperSocket ? `helper at ${config.jetson.helperSocket}` : 'in-process (needs root on a board)');

async function infoReport(backend: JetsonBackend, config: DeviceControllerConfig) {
  const board = backend.board;
  const info = await backend.info();
  const knobs = await backend.readKnobs();
  const saved = await backend.savedState();
  const power = backend.sensors.hasRails ? await backend.readPower() : undefined;
  const temperaturesC = await backend.sensors.readTemperatures();
  return {
    device: info.device,
    model: board.identity.model,
    compatible: board.identity.compatible,
    soc: board.identity.soc,
    sysfsRoot: config.sysfsRoot,
    knobsVia: config.jetson.helperSocket ? 'helper' : 'in-process',
    grid: info.grid,
    modeCount: info.modeCount,
    clusters: board.clusters.map((c) => ({ policy: c.policy, cpus: c.cpus })),
    gpuDevfreq: board.gpu.dir,
    emc: board.emc.mechanism === 'none' ? { mechanism: 'none', reason: board.emc.reason } : { mechanism: board.emc.mechanism, tableSource: board.emc.tableSource },
    mode: formatPowerMode(knobs.mode),
    pinned: knobs.pinned,
    savedState: saved.saved ? { stateFile: saved.stateFile, savedAt: saved.saved.savedAt, mode: formatPowerMode(saved.saved.mode) } : null,
    power: power ? { powerW: power.powerW, totalRails: power.totalRails, rails: power.rails, ...(power.note ? { note: power.note } : {}) } : null,
    temperaturesC,
    presets: info.presets.map((p) => ({ name: p.name, mode: formatPowerMode(p.mode) })),
    notes: info.notes,
  };
}

function formatInfo(r: Awaited<ReturnType<typeof infoReport>>, config: DeviceControllerConfig): string {
  const lines = [
    `board       ${r.device} — ${r.model || 'unknown model'} (${r.soc})`,
    `compatible  ${r.compatible.join(', ') || 'none'}`,
    `sysfs root  ${r.sysfsRoot}`,
    `knobs via   ${via(config)}`,
    `grid        ${r.modeCount} modes (read from sysfs)`,
    `  cores     ${list(r.grid.cores)}`,
    `  CPU MHz   ${list(r.grid.cpuMhz)} (${r.grid.cpuMhz.length} values; clusters ${r.clusters.map((c) => `${c.policy} [${c.cpus.join(',')}]`).join(', ')})`,
    `  GPU MHz   ${list(r.grid.gpuMhz)} (${r.grid.gpuMhz.length} values; ${r.gpuDevfreq})`,
    `  EMC MHz   ${list(r.grid.emcMhz)} (${r.grid.emcMhz.length} values; ${'reason' in r.emc ? `not controllable: ${r.emc.reason}` : `${r.emc.mechanism}, table ${r.emc.tableSource}`})`,
    `mode now    ${r.mode} ${r.pinned ? '(pinned)' : '(not pinned: the governors move the clocks within their limits)'}`,
    `saved state ${r.savedState ? `${r.savedState.stateFile}, saved ${r.savedState.savedAt} in mode ${r.savedState.mode} (fulcrum device restore --backend jetson puts it back)` : 'none'}`,
  ];
  if (r.power) {
    const summed = r.power.rails.filter((x) => r.power!.totalRails.includes(x.rail));
    const others = r.power.rails.filter((x) => !r.power!.totalRails.includes(x.rail));
    lines.push(
      `power       ${r.power.powerW.toFixed(2)} W = ${summed.map((x) => `${x.rail} ${x.powerW.toFixed(2)}`).join(' + ')}` +
        (others.length ? ` (not summed: ${others.map((x) => `${x.rail} ${x.powerW.toFixed(2)}`).join(', ')})` : '') +
        (r.power.note ? ` — ${r.power.note}` : ''),
    );
  } else lines.push('power       no INA3221 rails found (the controller falls back to tegrastats)');
  const temps = Object.entries(r.temperaturesC);
  lines.push(`temps       ${temps.length ? temps.map(([k, v]) => `${k} ${v.toFixed(1)} °C`).join(', ') : 'none'}`);
  if (r.presets.length) lines.push(`presets     ${r.presets.map((p) => `${p.name} ${p.mode}`).join('; ')}`);
  for (const n of r.notes) lines.push(`note        ${n}`);
  return lines.join('\n') + '\n';
}

const GROUP_DESCRIPTION = 'Devices: the virtual Jetson (calibrate, plot) and real Jetson boards (info, set, restore; fake-sysfs to try them).';

function findOrCreateDeviceGroup(program: Command): Command {
  const group = program.commands.find((c) => c.name() === 'device') ?? program.command('device');
  return group.description(GROUP_DESCRIPTION);
}

function jetsonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'device backend').choices([...BACKENDS]).default('jetson'))
    .option('--sysfs-root <dir>', 'resolve every board path under this directory (a fake tree); env FULCRUM_SYSFS_ROOT; default /')
    .option('--helper-socket <path>', 'talk to the privileged helper (fulcrum-jetson-helper) on this socket instead of writing the knobs in-process; env FULCRUM_JETSON__HELPER_SOCKET')
    .option('--state-file <path>', 'where the original state is kept when writing in-process (default <root>/run/fulcrum/jetson-state.json)')
    .option('--json', 'print the result as JSON');
}

/** Adds info, set, restore and fake-sysfs to the `device` group (creating the group if absent). */
export function registerDeviceJetsonCommands(program: Command, io: CliIo): void {
  const device = findOrCreateDeviceGroup(program);

  jetsonOptions(device.command('info').description('A real Jetson: board, grid (from sysfs), knobs now, saved state, power rails and temperatures.')).action(
    async (o: JetsonFlags) => {
      let config: DeviceControllerConfig;
      try {
        config = configOf(o);
      } catch (err) {
        throw translate(err);
      }
      const report = await withBackend(config, (backend) => infoReport(backend, config));
      io.stdout(o.json ? JSON.stringify(report, null, 2) + '\n' : formatInfo(report, config));
    },
  );

  jetsonOptions(
    device
      .command('set')
      .description(
        'Switch a real Jetson to a power mode: ordered writes, every knob read back, the original state saved first ' +
          '(fulcrum device restore puts it back). The mode stays after the command exits.',
      )
      .requiredOption('--mode <cores,cpuMhz,gpuMhz,emcMhz>', 'the power mode, on the board\'s grid (e.g. 8,1728,624.75,3199)')
      .option('--power-cap-w <w>', 'refuse the mode if its known power (--profiles) is above this; env FULCRUM_JETSON__POWER_CAP_W', nonNegativeNumber)
      .option('--profiles <csv>', 'profile table (SPEC §3 CSV) giving the known power of modes, for --power-cap-w')
      // Its name before every command took --profiles: still accepted, not shown.
      .addOption(new Option('--profile <csv>').hideHelp()),
  ).action(async (o: SetFlags) => {
    let config: DeviceControllerConfig;
    let mode: PowerMode;
    try {
      mode = parsePowerMode(o.mode, '--mode');
      config = configOf(o);
    } catch (err) {
      throw translate(err);
    }
    const { result, saved } = await withBackend(config, async (backend) => {
      const result = await backend.setMode(mode);
      return { result, saved: await backend.savedState() };
    });
    if (o.json) {
      io.stdout(JSON.stringify({ ...result, mode: formatPowerMode(result.mode), previousMode: formatPowerMode(result.previousMode), stateFile: saved.stateFile }, null, 2) + '\n');
      return;
    }
    io.stdout(
      `mode ${formatPowerMode(result.mode)} set and read back in ${result.switchMs.toFixed(1)} ms (${result.writes.length} writes; previous ${formatPowerMode(result.previousMode)})\n` +
        `original state saved in ${saved.stateFile}; fulcrum device restore --backend jetson puts it back\n`,
    );
  });

  jetsonOptions(device.command('restore').description('Put a real Jetson back in the state saved before Fulcrum first changed it.')).action(async (o: JetsonFlags) => {
    let config: DeviceControllerConfig;
    try {
      config = configOf(o);
    } catch (err) {
      throw translate(err);
    }
    const r = await withBackend(config, (backend) => backend.restore());
    if (o.json) io.stdout(JSON.stringify({ ...r, mode: formatPowerMode(r.mode) }, null, 2) + '\n');
    else io.stdout(r.restored ? `restored: mode ${formatPowerMode(r.mode)} (${r.reason})\n` : `nothing to restore: ${r.reason}\n`);
  });

  device
    .command('fake-sysfs')
    .description('Write a fake Jetson sysfs tree (with kernel-like write behaviour) to try the jetson backend without a board.')
    .addOption(new Option('--board <id>', 'board to model').choices([...FAKE_BOARDS]).default('orin-agx'))
    .requiredOption('--out <dir>', 'directory to write the tree to (an existing fake tree there is replaced)')
    .option('--json', 'print the result as JSON')
    .action(async (o: { board: FakeBoardId; out: string; json?: boolean }) => {
      let tree;
      try {
        tree = await generateFakeSysfs({ board: o.board, out: o.out });
      } catch (err) {
        throw new UsageError(`--out: ${err instanceof Error ? err.message : String(err)}`);
      }
      const modes = gridSize(getDevice(o.board).grid);
      if (o.json) io.stdout(JSON.stringify({ ...tree, modes }, null, 2) + '\n');
      else
        io.stdout(
          `wrote a fake ${tree.board} sysfs tree (${tree.files} files, ${modes} modes) to ${tree.root}\n` +
            `try: FULCRUM_SYSFS_ROOT=${tree.root} fulcrum device info --backend jetson\n` +
            `     FULCRUM_SYSFS_ROOT=${tree.root} fulcrum device set --backend jetson --mode 8,1728,624.75,3199\n`,
        );
    });
}
