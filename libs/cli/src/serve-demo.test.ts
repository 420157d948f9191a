import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, startLocalServices } from './test-support.js';
import { ALL_DEFAULTS, loadAllConfigs, loadServeConfig, type RunningServices } from './stack.js';
import { remoteStrategy as strategyToProto } from './commands/solve-remote.js';
import { UsageError } from './usage.js';


const usage = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof UsageError, String(err));
  assert.match(err.message, pattern);
  return true;
};

describe('fulcrum serve: configuration', () => {
  it('one service: every config key is a flag, --nats and --store are shorthands, flags over env', () => {
    const p = loadServeConfig('profiler', ['--grpc.port=0', '--protocol.settle-s', '2', '--controller.address=10.0.0.5:50051'], { nats: 'nats://127.0.0.1:4222', store: 'kv' }, { FULCRUM_GRPC__PORT: '7000', FULCRUM_GRPC__TOKEN: 'secret-token' });
    assert.equal(p.grpc.port, 0);
    assert.equal(p.grpc.token, 'secret-token');
    assert.equal(p.protocol.settleS, 2);
    assert.equal(p.controller.address, '10.0.0.5:50051');
    assert.equal(p.nats.url, 'nats://127.0.0.1:4222');
    assert.equal(p.store.backend, 'kv');
    assert.equal(p.protocol.measuredMinibatches, 20, 'a single service keeps its own defaults');
    assert.throws(() => loadServeConfig('executor', ['--time-scal=3'], {}, {}), usage(/unknown flag --time-scal/));
    assert.throws(() => loadServeConfig('executor', [], { store: 'kv' }, {}), usage(/--store: only the profiler/));
    assert.throws(() => loadServeConfig('optimizer', ['--grpc.port=x'], {}, {}), usage(/grpc\.port from flag --grpc\.port: expected number/));
  });

  it('all: shared flags go to every service with the key, prefixed ones to that service; demo defaults under everything', () => {
    const all = loadAllConfigs(['--grpc.token=shared-token', '--executor.time-scale=50', '--profiler.protocol.measured-minibatches=3', '--device=orin-agx'], { nats: 'nats://127.0.0.1:4222' }, { env: { FULCRUM_PROTOCOL__SETTLE_S: '0.5' } });
    for (const name of ['device-controller', 'executor', 'profiler', 'optimizer'] as const) {
      assert.equal(all[name].grpc.token, 'shared-token', name);
      assert.equal(all[name].nats.url, 'nats://127.0.0.1:4222', name);
    }
    assert.equal(all.executor.timeScale, 50);
    assert.equal(all.profiler.protocol.measuredMinibatches, 3);
    assert.equal(all.profiler.protocol.settleS, 0.5, 'env over the demo default');
    assert.equal(all.profiler.protocol.warmupMinibatches, ALL_DEFAULTS.profiler['protocol.warmupMinibatches']);
    assert.equal(all['device-controller'].telemetry.minIntervalMs, 1);
    assert.equal(all['device-controller'].grpc.port, undefined, 'default ports 50051–50054');
  });

  it('all: an unknown flag, a clash of ports, kv without NATS and TLS are refused naming the flag', () => {
    assert.throws(() => loadAllConfigs(['--grpc.prot=1'], {}, { env: {} }), usage(/unknown flag --grpc\.prot/));
    assert.throws(() => loadAllConfigs(['--profiler.time-scale=1'], {}, { env: {} }), usage(/unknown flag --profiler\.time-scale/));
    assert.throws(() => loadAllConfigs(['--executor.time-scale=abc'], {}, { env: {} }), usage(/from flag --executor\.time-scale: expected number/));
    assert.throws(() => loadAllConfigs(['--grpc.port=7000'], {}, { env: {} }), usage(/grpc\.port 7000 is also device-controller's port/));
    assert.throws(() => loadAllConfigs([], { store: 'kv' }, { env: {} }), usage(/needs --nats/));
    assert.throws(() => loadAllConfigs(['--grpc.tls-cert=a.pem', '--grpc.tls-key=a.key'], {}, { env: {} }), usage(/TLS/));
  });

  it('the command exits 2 on bad input, naming the flag', async () => {
    const r = await cli('serve', 'all', '--bogus=1');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown flag --bogus/);
    assert.equal((await cli('serve', 'toaster')).code, 2);
    // Issue 14: a refused non-loopback bind is bad input (exit 2, so systemd does not restart it in a loop).
    const bind = await cli('serve', 'executor', '--grpc.host=0.0.0.0', '--grpc.port=0', '--metrics.port=-1');
    assert.equal(bind.code, 2, bind.stderr);
    assert.match(bind.stderr, /^fulcrum: executor: grpc\.host: refusing to listen on 0\.0\.0\.0: serving beyond loopback needs both TLS/);
    // A secret that is refused is not quoted back (logs and terminals keep what they are shown).
    const short = await cli('serve', 'profiler', '--grpc.token=abcxyz7', '--grpc.port=0', '--metrics.port=-1');
    assert.equal(short.code, 2, short.stderr);
    assert.match(short.stderr, /grpc\.token from flag --grpc\.token: .*>=8 characters, got "<7 characters, not shown>"/);
    assert.doesNotMatch(short.stderr, /abcxyz7/);
    // Settings that cannot work at start are one line naming the key, exit 2, not a Node error.
    const tls = await cli('serve', 'profiler', '--grpc.port=0', '--metrics.port=-1', '--grpc.tls-cert=/nonexistent.pem', '--grpc.tls-key=/nonexistent.key');
    assert.equal(tls.code, 2, tls.stderr);
    assert.match(tls.stderr, /^fulcrum: profiler: grpc\.tlsCert: cannot read \/nonexistent\.pem: no such file$/m);
    // A limit past its documented bound (executor.maxQueueDepth ≤ 100,000) is one line naming the flag, before anything starts.
    const deep = await cli('serve', 'executor', '--executor.max-queue-depth=1000000', '--grpc.port=0', '--metrics.port=-1');
    assert.equal(deep.code, 2, deep.stderr);
    assert.match(deep.stderr, /^fulcrum: executor\.maxQueueDepth from flag --executor\.max-queue-depth: must be at most 100000 .*, got 1000000$/m);
    const high = await cli('serve', 'device-controller', '--grpc.port=65000');
    assert.equal(high.code, 2, high.stderr);
    assert.match(high.stderr, /^fulcrum: device-controller: metrics\.port: 66000 \(the gRPC port \+ 1000\) is past 65535: set metrics\.port \(or -1 for none\)$/m);
    const taken = createNetServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    try {
      const port = (taken.address() as { port: number }).port;
      const busy = await cli('serve', 'device-controller', '--grpc.port=0', `--metrics.port=${port}`);
      assert.equal(busy.code, 2, busy.stderr);
      assert.match(busy.stderr, new RegExp(`^fulcrum: device-controller: metrics\\.port: ${port} is in use: set metrics\\.port to a free one`, 'm'));
    } finally {
      taken.close();
    }
  });

  it('solve --remote maps strategy names onto the proto, and refuses the oracle', () => {
    assert.deepEqual(strategyToProto('als-50'), { strategy: 2, modeBudget: 50 });
    assert.deepEqual(strategyToProto('gmd'), { strategy: 1, modeBudget: 0 });
    assert.deepEqual(strategyToProto('best-preset'), { strategy: 5, modeBudget: 0 });
    assert.throws(() => strategyToProto('oracle'), usage(/ground truth/));
    assert.throws(() => strategyToProto('exhaustive'), usage(/^--strategy: exhaustive needs the noise-free ground truth/));
    assert.throws(() => strategyToProto('annealing'), usage(/^--strategy: "annealing" is not a strategy the optimizer service runs; it runs gmd, als/));
  });
});

describe('fulcrum serve all + solve --remote', () => {
  let dir: string;
  let running: RunningServices;
  let address: string;
  const problem = ['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '20', '--latency', '0.5', '--power', '30'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-serve-'));
    running = await startLocalServices(['--grpc.token=serve-test-token'], dir);
    address = running.optimizer!.address;
  });
  after(async () => {
    await running?.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('solves through the services with progress, then again from the store; without the token it exits 1', async () => {
    const first = await cli('solve', '--remote', address, '--token', 'serve-test-token', ...problem, '--json');
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout);
    assert.equal(out.plan.feasible, true);
    assert.ok(out.plan.powerW <= 30);
    assert.ok(out.cost.modesProfiled >= 3 && out.cost.modesProfiled <= 15, `${out.cost.modesProfiled} modes`);
    assert.equal(first.stderr.match(/^mode \d+: /gm)?.length, out.modes.length, 'one progress line per mode (not a terminal)');
    const again = await cli('solve', '--remote', address, '--token', 'serve-test-token', ...problem);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /cost: 0 modes profiled, \d+ reused from the store/);
    assert.match(again.stdout, /verdict: feasible/);
    const anonymous = await cli('solve', '--remote', address, ...problem);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /--token/);
    const bad = await cli('solve', '--remote', address, '--token', 'serve-test-token', ...problem, '--profiles', 'x.csv');
    assert.equal(bad.code, 2);
    // The token from the environment, as the examples take it.
    process.env['FULCRUM_TOKEN'] = 'serve-test-token';
    try {
      const fromEnv = await cli('solve', '--remote', address, ...problem);
      assert.equal(fromEnv.code, 0, fromEnv.stderr);
      const local = await cli('solve', ...problem, '--json');
      assert.equal(local.code, 0, 'FULCRUM_TOKEN does not make a local solve a usage error');
    } finally {
      delete process.env['FULCRUM_TOKEN'];
    }
  });
});

describe('fulcrum demo', () => {
  it('a rate, latency budget or power budget past the problem limits exits 2 naming the flag, before anything starts', async () => {
    for (const [args, message] of [
      [['--power', '1e308'], /^fulcrum: --power: must be at most 10000 W \(far above what any board draws\), got 1e\+308\n$/],
      [['--rate', '1e308'], /^fulcrum: --rate: must be at most 1000000 requests\/s \(far above what any board serves\), got 1e\+308\n$/],
      [['--latency', '1e308'], /^fulcrum: --latency: must be at most 3600 s \(an hour\), got 1e\+308\n$/],
      [['--train', 'resnet18', '--infer', 'mobilenet', '--power', '20000'], /^fulcrum: --power: must be at most 10000 W/],
      [['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '2e6'], /^fulcrum: --rate: must be at most 1000000 requests\/s/],
    ] as const) {
      const started = performance.now();
      const r = await cli('demo', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
      assert.ok(performance.now() - started < 5000, `refused at once, not after a run (${(performance.now() - started).toFixed(0)} ms)`);
    }
  });

  it('solves with GMD through the services and runs the plan: every request answered, none lost; --plot draws the plan and the timeline', async () => {
    const plots = mkdtempSync(join(tmpdir(), 'fulcrum-demo-plots-'));
    after(() => rmSync(plots, { recursive: true, force: true }));
    const r = await cli('demo', '--json', '--duration-s', '20', '--plot', join(plots, 'out'));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.solve.strategy, 'gmd');
    assert.equal(out.solve.plan.feasible, true);
    assert.ok(out.solve.cost.modesProfiled >= 3 && out.solve.cost.modesProfiled <= 15);
    assert.ok(out.solve.cost.profilingSeconds > 0);
    const cam = out.run.streams[0];
    assert.ok(cam.sent > 0);
    assert.equal(cam.answered, cam.sent);
    assert.equal(cam.lost, 0);
    assert.ok(cam.results > 0);
    assert.ok(out.run.trainThroughputSamplesPerS > 0);
    assert.equal(out.services.length, 4);
    // The plots: the plan from the optimizer's answer, the run's timeline with every answered request.
    assert.deepEqual(out.plots.map((f: string) => f.slice(f.lastIndexOf('/') + 1)).sort(), ['plan.png', 'plan.svg', 'timeline.png', 'timeline.svg']);
    const plan = readFileSync(join(plots, 'out', 'plan.svg'), 'utf8');
    for (const s of ['budget 25 W', 'chosen plan', `${out.solve.cost.modesProfiled} modes profiled`]) assert.ok(plan.includes(s), s);
    assert.ok(!plan.includes('true front'), 'the services have no ground truth to draw');
    const timeline = readFileSync(join(plots, 'out', 'timeline.svg'), 'utf8');
    assert.ok(timeline.includes(`${cam.results} requests answered`));
    assert.ok(timeline.includes('training X (samples/s)') && timeline.includes('board power (W)'));
  });
});
