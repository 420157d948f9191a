/**
 * The runnable programs of examples/, each run as a user runs it (a process, `tsx`), against real
 * services: a board (`fulcrum serve all` over NATS with a bearer token) and, as on a workstation,
 * an optimizer of its own with TLS and a token (`fulcrum serve optimizer`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOKEN = 'examples-token-0123456789';
const NODE = [process.execPath, '--conditions=@fulcrum/source', '--import', 'tsx'];

interface Ready {
  readonly service: string;
  readonly address: string;
}

const children = new Set<ChildProcess>();

/** `fulcrum serve …` as a process; resolves with its ready lines (one per service). */
async function serve(args: readonly string[], services: number): Promise<Ready[]> {
  const child = spawn(NODE[0]!, [...NODE.slice(1), join(root, 'libs/cli/src/bin.ts'), 'serve', ...args, '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn', FULCRUM_CONFIG: '' },
  });
  children.add(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => void (log = (log + d.toString()).slice(-20_000)));
  const ready: Ready[] = [];
  return new Promise<Ready[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fulcrum serve ${args[0]} not ready in 90 s:\n${log}`)), 90_000);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      ready.push(JSON.parse(line) as Ready);
      if (ready.length === services) {
        clearTimeout(timer);
        resolve(ready);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fulcrum serve ${args[0]} exited ${code} before ready:\n${log}`));
    });
  });
}

/** Runs one example to its end (at most 2 minutes). */
function example(name: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(NODE[0]!, [...NODE.slice(1), join(root, 'examples', name, 'main.ts')], { cwd: root, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('examples', () => {
  let dir: string;
  let nats: NatsServer;
  let board: Ready[];
  let workstation: Ready;
  let cert: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-examples-'));
    nats = await startNatsServer({ storeDir: join(dir, 'nats') });
    const key = join(dir, 'key.pem');
    cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    board = await serve(
      [
        'all',
        '--nats',
        nats.url,
        `--grpc.token=${TOKEN}`,
        '--grpc.port=0',
        '--metrics.port=-1',
        `--profiler.store.path=${join(dir, 'profiles.db')}`,
        '--profiler.protocol.settle-s=0.05',
        '--profiler.protocol.warmup-minibatches=1',
        '--profiler.protocol.measured-minibatches=3',
        '--profiler.protocol.telemetry-interval-ms=2',
        '--device-controller.telemetry.min-interval-ms=1',
        '--executor.time-scale=20',
      ],
      4,
    );
    const at = (service: string) => board.find((r) => r.service === service)!.address;
    const optimizers = await serve(
      [
        'optimizer',
        '--nats',
        nats.url,
        '--grpc.port=0',
        `--grpc.token=${TOKEN}`,
        `--grpc.tls-cert=${cert}`,
        `--grpc.tls-key=${key}`,
        '--metrics.port=-1',
        `--profiler.address=${at('profiler')}`,
        `--profiler.token=${TOKEN}`,
        `--executor.address=${at('executor')}`,
        `--executor.token=${TOKEN}`,
        '--executor.apply',
      ],
      1,
    );
    workstation = optimizers[0]!;
  });

  after(async () => {
    await Promise.all(
      [...children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => (clearTimeout(kill), resolve()));
            c.kill('SIGTERM');
          }),
      ),
    );
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('remote-solve: a workstation solves over TLS with a token, with progress, and the plan is applied on the board', async () => {
    const port = workstation.address.split(':').pop()!;
    const env = { FULCRUM_OPTIMIZER: `localhost:${port}`, FULCRUM_TOKEN: TOKEN, FULCRUM_TLS_CA: cert };
    const r = await example('remote-solve', env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^mode \d+,\d+(\.\d+)?,\d+(\.\d+)?,\d+(\.\d+)? profiled; \d+ measured so far$/m);
    assert.match(r.stdout, /^plan \S+: mode .*, batch sizes cam=\d+$/m);
    assert.match(r.stdout, /; feasible, binding /);
    // A CA file that is not there: exit 2 naming it, before any call.
    const noCa = await example('remote-solve', { ...env, FULCRUM_TLS_CA: join(dir, 'missing-ca.pem') });
    assert.equal(noCa.code, 2);
    assert.match(noCa.stderr, /^FULCRUM_TLS_CA: cannot read .*missing-ca\.pem: ENOENT/m);
    assert.doesNotMatch(noCa.stderr, /\n\s+at /, 'no stack trace');
    // Without the token the optimizer refuses it: exit 1 with the reason, no plan.
    const anonymous = await example('remote-solve', { ...env, FULCRUM_TOKEN: '' });
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /solve failed: .*(token|UNAUTHENTICATED|authorization)/i);
  });

  it('embed-executor: a pipeline runs the executor in its own process, applies a plan from code and every frame is answered', async () => {
    const r = await example('embed-executor', { FULCRUM_FRAMES: '40', FULCRUM_RATE: '20' });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^plan example-1 applied: simulated, batch 2 for cam$/m);
    const m = /^(\d+) of 40 frames answered; p50 ([\d.]+) ms, p99 ([\d.]+) ms \(budget 500 ms\); (\d+) late$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[1]), 40);
    assert.ok(Number(m[2]) > 0 && Number(m[2]) <= Number(m[3]));
    assert.match(r.stdout, /^training: [1-9]\d* minibatches, [\d.]+ samples\/s/m);
  });

  it('nats-infer: a pipeline sends requests over NATS and every one is answered', async () => {
    const r = await example('nats-infer', { FULCRUM_NATS: nats.url, FULCRUM_REQUESTS: '12', FULCRUM_RATE: '15' });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.stdout.match(/^example-\d+: latency [\d.]+ ms \(queued [\d.]+ ms\) in a batch of \d+$/gm)?.length, 12);
    assert.match(r.stdout, /^12 of 12 answered with a result$/m);
    // A stream nothing serves: every request is counted as answered by no one, with a hint, exit 1.
    const none = await example('nats-infer', { FULCRUM_NATS: nats.url, FULCRUM_BOARD: 'nobody-here', FULCRUM_REQUESTS: '3', FULCRUM_RATE: '50' });
    assert.equal(none.code, 1);
    assert.match(none.stdout, /^0 of 3 answered with a result; errors: no-responders ×3$/m);
    assert.match(none.stdout, /^nothing answers fulcrum\.nobody-here\.infer\.cam: start the board's services/m);
  });
});
