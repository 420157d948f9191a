import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@fulcrum/runtime';
import { LocalKnobDriver, openSysfs, setFakeRules, startJetsonHelper } from '@fulcrum/device-controller/internal';
import { runCli } from './program.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Runs the real CLI in a child process, the way a user does. */
function fulcrum(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@fulcrum/source', '--import', 'tsx', 'libs/cli/src/bin.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, FULCRUM_SYSFS_ROOT: '', FULCRUM_JETSON__HELPER_SOCKET: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function inProcess(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fulcrum-cli-jetson-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fulcrum device info|set|restore --backend jetson against FULCRUM_SYSFS_ROOT', () => {
  let orin: string;
  before(async () => {
    orin = join(dir, 'orin');
    const r = await fulcrum(['device', 'fake-sysfs', '--board', 'orin-agx', '--out', orin]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote a fake orin-agx sysfs tree \(\d+ files, 18096 modes\)/);
    assert.ok(existsSync(join(orin, '.fulcrum-fake-sysfs.json')));
  });

  it('info reports the board, the sysfs grid, the mode and the power', async () => {
    const r = await fulcrum(['device', 'info', '--backend', 'jetson', '--json'], { FULCRUM_SYSFS_ROOT: orin });
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.device, 'orin-agx');
    assert.equal(info.modeCount, 18096);
    assert.deepEqual(info.grid.emcMhz, [204, 665.6, 2133, 3199]);
    assert.equal(info.mode, '12,2201.6,1300.5,3199');
    assert.equal(info.pinned, false);
    assert.equal(info.savedState, null);
    assert.ok(Math.abs(info.power.powerW - 13.91) < 1e-9);
    assert.deepEqual(info.power.totalRails, ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0']);
    const text = await fulcrum(['device', 'info', '--backend', 'jetson'], { FULCRUM_SYSFS_ROOT: orin });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^board {7}orin-agx — NVIDIA Jetson AGX Orin Developer Kit \(tegra234\)$/m);
    assert.match(text.stdout, /^grid {8}18096 modes \(read from sysfs\)$/m);
    assert.match(text.stdout, /^power {7}13\.91 W = VDD_GPU_SOC 5\.14 \+ VDD_CPU_CV 3\.27 \+ VIN_SYS_5V0 5\.50/m);
  });

  it('set switches and reads back; the mode stays; restore puts the original back', async () => {
    const set = await fulcrum(['device', 'set', '--backend', 'jetson', '--mode', '8,1728,624.75,3199', '--json'], { FULCRUM_SYSFS_ROOT: orin });
    assert.equal(set.code, 0, set.stderr);
    const result = JSON.parse(set.stdout);
    assert.equal(result.mode, '8,1728,624.75,3199');
    assert.equal(result.previousMode, '12,2201.6,1300.5,3199');
    assert.ok(result.switchMs > 0);
    assert.equal(result.stateFile, join(orin, 'run/fulcrum/jetson-state.json'));
    const info = JSON.parse((await fulcrum(['device', 'info', '--backend', 'jetson', '--json'], { FULCRUM_SYSFS_ROOT: orin })).stdout);
    assert.equal(info.mode, '8,1728,624.75,3199');
    assert.equal(info.pinned, true);
    assert.equal(info.savedState.mode, '12,2201.6,1300.5,3199');
    const restore = await fulcrum(['device', 'restore', '--backend', 'jetson'], { FULCRUM_SYSFS_ROOT: orin });
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^restored: mode 12,2201\.6,1300\.5,3199/);
    const again = await inProcess('device', 'restore', '--sysfs-root', orin);
    assert.match(again.stdout, /^nothing to restore/);
  });

  it('bad input exits 2 naming the flag', async () => {
    const offGrid = await inProcess('device', 'set', '--backend', 'jetson', '--sysfs-root', orin, '--mode', '8,1728,1000,3199');
    assert.equal(offGrid.code, 2);
    assert.match(offGrid.stderr, /^fulcrum: --mode: 1000 is not on the orin-agx grid .*nearest GPU MHz values: 930\.75, 1032\.75/);
    const malformed = await inProcess('device', 'set', '--sysfs-root', orin, '--mode', 'fast');
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /--mode: expected CORES,CPU_MHZ,GPU_MHZ,EMC_MHZ/);
    const backend = await inProcess('device', 'info', '--backend', 'virtual', '--sysfs-root', orin);
    assert.equal(backend.code, 2);
    assert.match(backend.stderr, /option '--backend <name>' argument 'virtual' is invalid/);
    const missing = await inProcess('device', 'set', '--sysfs-root', orin);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /required option '--mode/);
    const cap = await inProcess('device', 'set', '--sysfs-root', orin, '--mode', '1,115.2,114.75,204', '--power-cap-w', '-1');
    assert.equal(cap.code, 2);
    assert.match(cap.stderr, /--power-cap-w/);
  });

  it('--profiles gives the known power of modes for --power-cap-w (--profile, its old name, still works; not both)', async () => {
    const table = join(dir, 'known-power.csv');
    writeFileSync(table, 'device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w\norin-agx,resnet50,train,16,12,2201.6,1300.5,3199,210,48.5\n');
    for (const flag of ['--profiles', '--profile']) {
      const r = await inProcess('device', 'set', '--sysfs-root', orin, '--mode', '12,2201.6,1300.5,3199', '--power-cap-w', '40', flag, table);
      assert.equal(r.code, 2, `${flag}: ${r.stderr}`);
      assert.match(r.stderr, /^fulcrum: --mode: mode 12,2201\.6,1300\.5,3199 is known to draw 48\.50 W, over the hard power cap of 40 W; refused \(cap from --power-cap-w/, flag);
    }
    const both = await inProcess('device', 'set', '--sysfs-root', orin, '--mode', '12,2201.6,1300.5,3199', '--profiles', table, '--profile', table);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--profiles: give it once \(--profile is its old name\)/);
  });

  it('a permission failure exits 1 with a clear message and changes nothing', async () => {
    await setFakeRules(orin, { allReadOnly: true });
    try {
      const r = await fulcrum(['device', 'set', '--backend', 'jetson', '--mode', '4,1113.6,420.75,2133'], { FULCRUM_SYSFS_ROOT: orin });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^fulcrum: cannot write "\d+" to \/sys\/\S+: permission denied \(EACCES\)\. The Jetson knobs need root: run the privileged helper/);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    } finally {
      await setFakeRules(orin, {});
    }
    assert.equal(JSON.parse((await fulcrum(['device', 'info', '--json'], { FULCRUM_SYSFS_ROOT: orin })).stdout).mode, '12,2201.6,1300.5,3199');
  });

  it('works on an AGX Xavier tree too', async () => {
    const xavier = join(dir, 'xavier');
    assert.equal((await inProcess('device', 'fake-sysfs', '--board', 'agx-xavier', '--out', xavier)).code, 0);
    const set = await fulcrum(['device', 'set', '--backend', 'jetson', '--mode', '4,1190.4,675.75,1331.2'], { FULCRUM_SYSFS_ROOT: xavier });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^mode 4,1190\.4,675\.75,1331\.2 set and read back in [\d.]+ ms/);
    const info = JSON.parse((await inProcess('device', 'info', '--sysfs-root', xavier, '--json')).stdout);
    assert.equal(info.device, 'agx-xavier');
    assert.equal(info.modeCount, 8 * 29 * 14 * 9);
    assert.deepEqual(info.power.totalRails, ['GPU', 'CPU', 'SOC', 'CV', 'VDDRQ', 'SYS5V']);
    assert.equal(info.mode, '4,1190.4,675.75,1331.2');
  });

  it('goes through the privileged helper with --helper-socket', async () => {
    const root = join(dir, 'orin-helper');
    assert.equal((await inProcess('device', 'fake-sysfs', '--out', root)).code, 0);
    const driver = await LocalKnobDriver.open({ io: openSysfs(root) });
    const helper = await startJetsonHelper({ socketPath: join(dir, 'helper.sock'), driver, logger: createLogger({ name: 'test', level: 'silent' }) });
    try {
      const r = await fulcrum(['device', 'set', '--backend', 'jetson', '--mode', '8,1728,624.75,3199', '--helper-socket', helper.socketPath], { FULCRUM_SYSFS_ROOT: root });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await driver.read()).mode, { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 });
      const info = await fulcrum(['device', 'info', '--backend', 'jetson'], { FULCRUM_SYSFS_ROOT: root, FULCRUM_JETSON__HELPER_SOCKET: helper.socketPath });
      assert.match(info.stdout, /^knobs via {3}helper at /m);
      assert.match(info.stdout, /^mode now {4}8,1728,624\.75,3199 \(pinned\)$/m);
      assert.equal((await inProcess('device', 'restore', '--helper-socket', helper.socketPath, '--sysfs-root', root)).code, 0);
      const gone = await inProcess('device', 'info', '--helper-socket', join(dir, 'nobody.sock'), '--sysfs-root', root);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /cannot reach the jetson helper at .*nobody\.sock/);
    } finally {
      await helper.close();
    }
  });

  it('fake-sysfs refuses to write into a directory that is not a fake tree', async () => {
    const r = await inProcess('device', 'fake-sysfs', '--out', repoRoot);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--out: .* is not empty and is not a fake sysfs tree/);
    // Issue 14: a marker file of that name is not enough (one holding {} used to get the folder emptied).
    const victim = mkdtempSync(join(tmpdir(), 'fulcrum-not-a-tree-'));
    try {
      writeFileSync(join(victim, '.fulcrum-fake-sysfs.json'), '{}');
      writeFileSync(join(victim, 'precious.txt'), 'keep me');
      const a = await inProcess('device', 'fake-sysfs', '--out', victim);
      assert.equal(a.code, 2);
      assert.match(a.stderr, /not a fake sysfs tree \(it holds "precious\.txt", which the generator never writes\)/);
      rmSync(join(victim, 'precious.txt'));
      mkdirSync(join(victim, 'sys'));
      writeFileSync(join(victim, 'sys', 'precious.txt'), 'keep me too');
      const b = await inProcess('device', 'fake-sysfs', '--out', victim);
      assert.equal(b.code, 2);
      assert.match(b.stderr, /was not written by the generator/);
      assert.equal(readFileSync(join(victim, 'sys', 'precious.txt'), 'utf8'), 'keep me too', 'nothing deleted');
      // A tree the generator wrote is replaced.
      rmSync(victim, { recursive: true, force: true });
      assert.equal((await inProcess('device', 'fake-sysfs', '--out', victim)).code, 0);
      assert.equal((await inProcess('device', 'fake-sysfs', '--out', victim)).code, 0);
    } finally {
      rmSync(victim, { recursive: true, force: true });
    }
  });
});
