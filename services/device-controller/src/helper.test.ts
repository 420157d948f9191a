import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ValidationError } from '@fulcrum/core';
import { createLogger } from '@fulcrum/runtime';
import { loadDeviceControllerConfig } from './config.js';
import { JetsonController } from './controller.js';
import { LocalKnobDriver } from './driver.js';
import { openSysfs, setFakeRules } from './fake-sysfs.js';
import { HelperClient, HelperError } from './helper/client.js';
import { startJetsonHelper, type JetsonHelper } from './helper/server.js';
import { KnobMismatchError } from './knobs.js';
import { PowerCapError } from './power-cap.js';
import { fakeTree, snapshotKnobFiles, tempDir } from './test-support.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quiet = createLogger({ name: 'test', level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const MODE_30W = { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 };

/** Sends raw lines and collects the response lines (for protocol checks the client would never send). */
async function rawExchange(socketPath: string, lines: string[], expect: number): Promise<Array<Record<string, any>>> {
  const socket = createConnection(socketPath);
  socket.setEncoding('utf8');
  let buffer = '';
  const out: Array<Record<string, any>> = [];
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        out.push(JSON.parse(buffer.slice(0, nl)) as Record<string, any>);
        buffer = buffer.slice(nl + 1);
      }
      if (out.length >= expect) {
        socket.destroy();
        resolve(out);
      }
    });
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.on('connect', () => socket.write(lines.map((l) => l + '\n').join('')));
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('jetson helper over a real Unix socket (in-process server)', () => {
  let root: string;
  let socketPath: string;
  let helper: JetsonHelper;
  let driver: LocalKnobDriver;
  let original: Record<string, string>;

  before(async () => {
    const tree = await fakeTree('orin-agx');
    cleanups.push(tree.cleanup);
    root = tree.root;
    const sock = await tempDir('sock');
    cleanups.push(sock.cleanup);
    socketPath = join(sock.dir, 'helper.sock');
    driver = await LocalKnobDriver.open({ io: openSysfs(root) });
    original = await snapshotKnobFiles(root, driver.board);
    helper = await startJetsonHelper({
      socketPath,
      driver,
      logger: quiet,
      powerCapW: 40,
      knownPowerW: (m) => (m.cores === 12 && m.gpuMhz === 1300.5 ? 48.5 : undefined),
    });
    cleanups.push(() => helper.close());
  });

  it('describes the board, sets a mode with read-back and restores', async () => {
    const client = await HelperClient.connect(socketPath);
    try {
      const board = await client.describe();
      assert.equal(board.identity.id, 'orin-agx');
      assert.equal(board.grid.cpuMhz.length, 29);
      const r = await client.apply(MODE_30W);
      assert.deepEqual(r.mode, MODE_30W);
      assert.ok(r.switchMs > 0);
      assert.deepEqual((await client.read()).mode, MODE_30W);
      assert.ok((await client.savedState()).saved);
      const restored = await client.restore();
      assert.equal(restored.restored, true);
      assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
    } finally {
      await client.close();
    }
  });

  it('accepts only whitelisted operations with well-formed modes', async () => {
    const replies = await rawExchange(
      socketPath,
      [
        'not json',
        JSON.stringify({ id: 1, op: 'write', path: '/sys/devices/platform/17000000.ga10b/tpc_pg_mask', value: '1' }),
        JSON.stringify({ id: 2, op: 'set', mode: MODE_30W, path: '/etc/passwd' }),
        JSON.stringify({ id: 3, op: 'set', mode: { ...MODE_30W, tpcMask: 1 } }),
        JSON.stringify({ id: 4, op: 'set', mode: { ...MODE_30W, gpuMhz: '624.75' } }),
        JSON.stringify({ id: 5, op: 'set', mode: { ...MODE_30W, gpuMhz: 1000 } }),
        JSON.stringify({ id: 6, op: 'hello' }),
      ],
      7,
    );
    assert.deepEqual(
      replies.map((r) => [r['id'], r['ok'], r['error']?.code]),
      [
        [0, false, 'BAD_REQUEST'],
        [1, false, 'BAD_REQUEST'],
        [2, false, 'BAD_REQUEST'],
        [3, false, 'BAD_REQUEST'],
        [4, false, 'BAD_REQUEST'],
        [5, false, 'INVALID_ARGUMENT'],
        [6, true, undefined],
      ],
    );
    assert.match(replies[1]!['error'].message, /unknown op "write"/);
    assert.equal(replies[5]!['error'].field, 'mode.gpuMhz');
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original, 'nothing was written');
    const long = await rawExchange(socketPath, ['x'.repeat(20_000)], 1);
    assert.equal(long[0]!['error'].code, 'BAD_REQUEST');
    assert.match(long[0]!['error'].message, /request longer than 16384 bytes/);
    // Issue 14: a well-formed request over the limit that arrives with its newline (one chunk) is
    // refused for its length too, not parsed.
    const padded = await rawExchange(socketPath, [JSON.stringify({ id: 7, op: 'ping', pad: 'x'.repeat(20_000) })], 1);
    assert.match(padded[0]!['error'].message, /request longer than 16384 bytes/);
  });

  it('turns errors back into the local ones: off-grid, power cap, permission, mismatch', async () => {
    const client = await HelperClient.connect(socketPath);
    try {
      const offGrid = await client.apply({ ...MODE_30W, cpuMhz: 1700 }).catch((e: unknown) => e);
      assert.ok(offGrid instanceof ValidationError);
      assert.equal(offGrid.field, 'mode.cpuMhz');
      const cap = await client.apply(MAXN).catch((e: unknown) => e);
      assert.ok(cap instanceof PowerCapError, String(cap));
      assert.equal(cap.hardCapW, 40);
      await setFakeRules(root, { allReadOnly: true });
      const denied = await client.apply(MODE_30W).catch((e: unknown) => e);
      assert.ok(denied instanceof HelperError && denied.isPermission, String(denied));
      assert.match(denied.message, /permission denied/);
      await setFakeRules(root, {});
      // Save the true original first: a cap already in force at capture would be "the original".
      await client.apply({ cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 });
      await setFakeRules(root, { readBackOverrides: { '/sys/class/devfreq/17000000.ga10b/max_freq': '318750000' } });
      const mismatch = await client.apply(MODE_30W).catch((e: unknown) => e);
      assert.ok(mismatch instanceof KnobMismatchError, String(mismatch));
      assert.equal(mismatch.mismatches[0]!.knob, 'gpu');
    } finally {
      await setFakeRules(root, {});
      await client.restore();
      await client.close();
    }
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
  });

  it('restores when a holding client disconnects without restoring (controller crash)', async () => {
    const client = await HelperClient.connect(socketPath, { hold: true });
    await client.apply(MODE_30W);
    assert.notDeepEqual(await snapshotKnobFiles(root, driver.board), original);
    await client.close();
    // The helper writes the knobs back first and clears the state file after: wait for both.
    await until(
      'the helper restores and clears the saved state',
      async () => JSON.stringify(await snapshotKnobFiles(root, driver.board)) === JSON.stringify(original) && (await driver.savedState()).saved === undefined,
    );
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
  });

  it('serializes two clients: both switches complete, each read back', async () => {
    const a = await HelperClient.connect(socketPath);
    const b = await HelperClient.connect(socketPath);
    try {
      const [ra, rb] = await Promise.all([a.apply(MODE_30W), b.apply({ cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 })]);
      assert.deepEqual(ra.mode, MODE_30W);
      assert.deepEqual(rb.mode, { cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 });
      assert.deepEqual((await a.read()).mode, rb.mode);
    } finally {
      await a.restore();
      await a.close();
      await b.close();
    }
  });

  it('refuses to start a second helper on a socket in use', async () => {
    await assert.rejects(startJetsonHelper({ socketPath, driver, logger: quiet }), /already listening/);
  });
});

describe('jetson helper as a separate process', () => {
  let root: string;
  let socketPath: string;
  let children: ChildProcess[] = [];

  before(async () => {
    const tree = await fakeTree('agx-xavier');
    cleanups.push(tree.cleanup);
    root = tree.root;
    const sock = await tempDir('sock2');
    cleanups.push(sock.cleanup);
    socketPath = join(sock.dir, 'run', 'helper.sock');
    cleanups.push(async () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  });

  const spawnHelper = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, ['--conditions=@fulcrum/source', '--import', 'tsx', 'services/device-controller/src/helper-main.ts'], {
      cwd: repoRoot,
      env: { ...process.env, FULCRUM_SYSFS_ROOT: root, FULCRUM_HELPER__SOCKET_PATH: socketPath, FULCRUM_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    children.push(child);
    await until(`the helper to listen (stderr: ${stderr})`, async () => {
      if (child.exitCode !== null) throw new Error(`helper exited ${child.exitCode}: ${stderr}`);
      if (!existsSync(socketPath)) return false;
      try {
        await (await HelperClient.connect(socketPath)).close();
        return true;
      } catch {
        return false;
      }
    }, 30_000);
    return child;
  };

  it('survives its own crash: the next controller start finds the state file and restores', async () => {
    const driver = await LocalKnobDriver.open({ io: openSysfs(root) });
    const original = await snapshotKnobFiles(root, driver.board);
    const first = await spawnHelper();
    const client = await HelperClient.connect(socketPath, { hold: true });
    const mode = { cores: 4, cpuMhz: 1190.4, gpuMhz: 675.75, emcMhz: 1331.2 };
    assert.deepEqual((await client.apply(mode)).mode, mode);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const err = await client.read().catch((e: unknown) => e);
    assert.ok(err instanceof HelperError && err.code === 'UNAVAILABLE');
    assert.deepEqual((await driver.read()).mode, mode, 'the board is still in the mode');
    assert.ok(existsSync(join(root, 'run/fulcrum/jetson-state.json')), 'the state file survived the crash');

    const second = await spawnHelper();
    const config = loadDeviceControllerConfig({ env: {}, flags: { sysfsRoot: root, 'jetson.helperSocket': socketPath, 'jetson.telemetryIntervalMs': 0, 'jetson.driftCheckIntervalMs': 0 } }).config;
    const controller = await JetsonController.start({ config, logger: quiet });
    assert.equal(controller.recovered?.restored, true);
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
    // And a controller stop restores its own switches through the helper.
    await controller.setMode(mode);
    await controller.stop();
    assert.deepEqual(await snapshotKnobFiles(root, driver.board), original);
    second.kill('SIGTERM');
    assert.equal(await new Promise((resolve) => second.once('exit', (code) => resolve(code))), 0);
    assert.ok(!existsSync(socketPath), 'the socket is removed on SIGTERM');
  });
});
