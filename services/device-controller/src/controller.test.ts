import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import type { PowerMode } from '@fulcrum/core';
import { device as pb } from '@fulcrum/proto';
import { clientSecurity, createLogger, unaryCall } from '@fulcrum/runtime/internal';
import type { TelemetrySample } from './backend.js';
import { loadDeviceControllerConfig, type DeviceControllerConfig } from './config.js';
import { JetsonController } from './controller.js';
import { LocalKnobDriver } from './driver.js';
import { openSysfs, readFakeWriteLog, clearFakeWriteLog } from './fake-sysfs.js';
import { PowerCapError } from './power-cap.js';
import { fakeTree, snapshotKnobFiles, tempDir } from './test-support.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quiet = createLogger({ name: 'test', level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MODE_15W = { cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 };
const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };

function configFor(root: string, flags: Record<string, unknown> = {}): DeviceControllerConfig {
  return loadDeviceControllerConfig({ env: {}, flags: { sysfsRoot: root, 'jetson.telemetryIntervalMs': 0, 'jetson.driftCheckIntervalMs': 0, ...flags } }).config;
}

async function orin(): Promise<{ root: string; original: Record<string, string>; driver: LocalKnobDriver }> {
  const tree = await fakeTree('orin-agx');
  cleanups.push(tree.cleanup);
  const driver = await LocalKnobDriver.open({ io: openSysfs(tree.root) });
  return { root: tree.root, original: await snapshotKnobFiles(tree.root, driver.board), driver };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('jetson controller (in-process knobs)', () => {
  it('serves info, switches modes with measured latency, samples telemetry and restores on stop', async () => {
    const { root, original, driver } = await orin();
    const samples: TelemetrySample[] = [];
    const controller = await JetsonController.start({ config: configFor(root, { 'jetson.telemetryIntervalMs': 10 }), logger: quiet, onTelemetry: (s) => samples.push(s) });
    assert.equal(controller.recovered, undefined, 'nothing to recover on a clean board');
    const info = await controller.info();
    assert.equal(info.device, 'orin-agx');
    assert.equal(info.backend, 'jetson');
    assert.equal(info.modeCount, 18096);
    assert.deepEqual(info.presets.map((p) => p.name), ['MAXN', '15W', '30W', '50W'], 'NVIDIA presets that lie on the sysfs grid');
    const r = await controller.setMode(MODE_15W, { settleS: 0.01 });
    assert.deepEqual(r.mode, MODE_15W);
    assert.ok(r.switchMs > 0 && r.switchS >= 0.01);
    await until('telemetry in the new mode', () => samples.some((s) => s.mode?.cores === 4));
    const s = samples.at(-1)!;
    assert.equal(s.source, 'ina3221');
    assert.ok(Math.abs(s.powerW - (5.14 + 3.27 + 5.5)) < 1e-9, String(s.powerW));
    assert.deepEqual(s.totalRails, ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0']);
    assert.equal(s.clocks.gpuMhz, 420.75);
    assert.equal(s.clocks.emcMhz, 2133);
    assert.equal(s.temperaturesC['cpu-thermal'], 52.968);
    const stopped = await controller.stop();
    assert.equal(stopped?.restored, true);
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
    assert.ok(!existsSync(join(root, 'run/fulcrum/jetson-state.json')));
  });

  it('refuses a mode known to exceed the hard cap, before writing', async () => {
    const { root } = await orin();
    const dir = await tempDir('profile');
    cleanups.push(dir.cleanup);
    const profile = join(dir.dir, 'profile.csv');
    await writeFile(profile, 'device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w\norin-agx,resnet50,train,16,12,2201.6,1300.5,3199,210,48.5\n');
    const controller = await JetsonController.start({ config: configFor(root, { 'jetson.powerCapW': 40, 'jetson.profile': profile }), logger: quiet });
    try {
      assert.equal((await controller.info()).hardCapW, 40);
      await clearFakeWriteLog(root);
      await assert.rejects(controller.setMode(MAXN), (err: unknown) => err instanceof PowerCapError && err.knownPowerW === 48.5);
      assert.deepEqual(await readFakeWriteLog(root), []);
      assert.deepEqual((await controller.setMode(MODE_15W)).mode, MODE_15W, 'a mode of unknown power is allowed');
    } finally {
      await controller.stop();
    }
  });

  it('restores after a simulated crash: the next start finds the state file', async () => {
    const { root, original, driver } = await orin();
    // A "crashed" session: switched, never restored.
    await driver.apply(MODE_15W);
    assert.ok(existsSync(join(root, 'run/fulcrum/jetson-state.json')));
    const controller = await JetsonController.start({ config: configFor(root), logger: quiet });
    assert.equal(controller.recovered?.restored, true);
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
    await controller.stop();
  });

  it('notices when something else moves the pinned knobs, and can put them back', async () => {
    const { root } = await orin();
    const drifts: unknown[] = [];
    const controller = await JetsonController.start({ config: configFor(root, { 'jetson.reassertOnDrift': true }), logger: quiet, onDrift: (e, f) => drifts.push([e, f]) });
    try {
      await controller.setMode(MODE_15W);
      assert.equal(await controller.checkDrift(), false);
      // jetson_clocks-style: the GPU ceiling goes to the top behind our back.
      await writeFile(join(root, '/sys/class/devfreq/17000000.ga10b/max_freq'), '1300500000\n');
      assert.equal(await controller.checkDrift(), true);
      assert.equal(drifts.length, 1);
      assert.deepEqual(await controller.getMode(), MODE_15W, 'reasserted');
    } finally {
      await controller.stop();
    }
  });

  it('falls back to tegrastats when the board shows no INA3221 rails', async () => {
    const { root } = await orin();
    await rm(join(root, '/sys/bus/i2c/drivers/ina3221'), { recursive: true });
    const dir = await tempDir('tegrastats');
    cleanups.push(dir.cleanup);
    const script = join(dir.dir, 'tegrastats');
    const line = 'RAM 2642/62817MB CPU [5%@1113,off] EMC_FREQ 1%@2133 GR3D_FREQ 0%@[420,420] gpu@40.5C VDD_GPU_SOC 2000mW/2000mW VDD_CPU_CV 1000mW/1000mW VIN_SYS_5V0 4000mW/4000mW';
    await writeFile(script, `#!/bin/sh\nwhile true; do echo '${line}'; sleep 0.02; done\n`);
    await chmod(script, 0o755);
    const samples: TelemetrySample[] = [];
    const controller = await JetsonController.start({
      config: configFor(root, { 'jetson.telemetryIntervalMs': 20, 'jetson.tegrastatsCommand': script }),
      logger: quiet,
      onTelemetry: (s) => samples.push(s),
    });
    try {
      await until('a tegrastats sample', () => samples.length > 0);
      assert.equal(samples[0]!.source, 'tegrastats');
      assert.equal(samples[0]!.powerW, 7);
      assert.equal(samples[0]!.clocks.emcMhz, 2133);
      assert.equal(samples[0]!.temperaturesC['gpu'], 40.5);
    } finally {
      await controller.stop();
    }
  });
});

// The `fulcrum-device-controller` bin and the systemd unit: service-main.ts with --backend=jetson.
describe('fulcrum-device-controller process', () => {
  const run = (root: string, args: string[]) => {
    const child = spawn(process.execPath, ['--conditions=@fulcrum/source', '--import', 'tsx', 'services/device-controller/src/service-main.ts', '--backend=jetson', '--grpc.port=0', '--metrics.port=-1', ...args], {
      cwd: repoRoot,
      env: { ...process.env, FULCRUM_SYSFS_ROOT: root, FULCRUM_LOG_LEVEL: 'debug', FULCRUM_JETSON__TELEMETRY_INTERVAL_MS: '50' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    /** The ready line's gRPC address (the process prints it on stdout once serving). */
    const ready = async (what: string): Promise<string> => {
      await until(what, () => out.includes('\n') || child.exitCode !== null);
      assert.ok(out.includes('\n'), `${what}: exited ${child.exitCode} before ready\n${log}`);
      return (JSON.parse(out.slice(0, out.indexOf('\n'))) as { address: string }).address;
    };
    return { child, exited, ready, log: () => log };
  };

  const modeOver = async (address: string): Promise<PowerMode | undefined> => {
    const c = new pb.DeviceControllerClient(address, clientSecurity({}).credentials);
    try {
      return (await unaryCall<pb.GetPowerModeResponse>((o, cb) => c.getPowerMode({}, new Metadata(), o, cb))).mode;
    } finally {
      c.close();
    }
  };

  it('restores on SIGTERM, and after a kill -9 at its next start; GetPowerMode answers in between', async () => {
    const { root, original, driver } = await orin();
    const stateFile = join(root, 'run/fulcrum/jetson-state.json');

    const first = run(root, ['--initial-mode', '4,1113.6,420.75,2133']);
    assert.deepEqual(await modeOver(await first.ready('the first controller to be ready')), MODE_15W);
    assert.match(first.log(), /"msg":"mode applied"/, first.log());
    assert.deepEqual((await driver.read()).mode, MODE_15W);
    await until('a telemetry line', () => /"msg":"telemetry"/.test(first.log()));
    first.child.kill('SIGKILL');
    await first.exited;
    assert.ok(existsSync(stateFile), 'a killed controller leaves its state file');
    assert.deepEqual((await driver.read()).mode, MODE_15W, 'and the board in its mode');

    const second = run(root, []);
    assert.deepEqual(await modeOver(await second.ready('the second controller to be ready')), MAXN);
    assert.match(second.log(), /"msg":"restored the saved state"/, second.log());
    assert.match(second.log(), /"recovered":true/, second.log());
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.log());

    const third = run(root, ['--initial-mode=8,1728,624.75,3199']);
    const address = await third.ready('the third controller to be ready');
    assert.match(third.log(), /"recovered":false/, third.log());
    const eight = { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 };
    assert.deepEqual(await modeOver(address), eight);
    assert.deepEqual((await driver.read()).mode, eight);
    third.child.kill('SIGINT');
    assert.equal(await third.exited, 0, third.log());
    assert.match(third.log(), /"msg":"restored the knobs"/);
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
    assert.ok(!existsSync(stateFile));
  });

  it('exits 2 naming the flag on a bad option', async () => {
    const { root } = await orin();
    const bad = run(root, ['--jetson.telemetry-interval-ms', 'often']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.log(), /jetson\.telemetryIntervalMs from flag --jetson\.telemetry-interval-ms/);
    // The old jetson-only daemon's flags are gone (its --mode is --initial-mode now).
    const old = run(root, ['--mode', '4,1113.6,420.75,2133']);
    assert.equal(await old.exited, 2);
    assert.match(old.log(), /unknown flag --mode/);
  });
});
