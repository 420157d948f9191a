// `fulcrum top` against a running `serve all` stack (issue 17, 1): a real nats-server, the four
// services as one process, a Solve that applies a plan on board top-board, inference traffic on
// the bus. Then:
//  - `top --json` and `top --once`: the snapshot's and the frame's numbers are the executor's own
//    Status (taken right after, with the traffic stopped so they hold still);
//  - `top` live in a real terminal (tmux): it draws, follows a resize to a narrower and shorter
//    window with nothing of the old frame left, and quits on `q` with exit code 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectNatsBus, inferSubject, type EventBus } from '@fulcrum/bus';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { runCli } from '@fulcrum/cli';
import { executor as pb } from '@fulcrum/proto';
import { GrpcConnection } from '@fulcrum/runtime';
import { REPO_ROOT, SOURCE_NODE_ARGS, serveAllProcess, type ServeAll } from '../support/serve-process.js';

const BOARD = 'top-board';
const STREAM = 'cam';
const TMUX = (process.env['PATH'] ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'tmux')));

/** Runs the CLI in this process, capturing what it prints. */
async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', 'fulcrum-top-test', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function screenUntil(session: string, test: (screen: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = '';
  while (Date.now() < deadline) {
    screen = tmux('capture-pane', '-p', '-t', session);
    if (test(screen)) return screen;
    await sleep(200);
  }
  throw new Error(`${what}: not on the screen in ${timeoutMs / 1000} s; it shows:\n${screen}`);
}

describe('fulcrum top against a running serve all stack', { timeout: 150_000 }, () => {
  let dir: string;
  let nats: NatsServer;
  let stack: ServeAll | undefined;
  let bus: EventBus | undefined;
  let status: GrpcConnection<pb.ExecutorClient>;
  let planId = '';
  let sent = 0;
  let answered = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-top-'));
    nats = await startNatsServer();
    stack = await serveAllProcess([`--nats=${nats.url}`, '--grpc.port=0', `--board=${BOARD}`, `--profiler.store.path=${join(dir, 'p.db')}`, '--executor.timeScale=4', '--optimizer.replan.auto=false']);
    const solved = await cli(['solve', '--remote', stack.ready.optimizer.address, '--board', BOARD, '--train', 'resnet18', '--stream', `workload=mobilenet,rate=20,latency=0.5,name=${STREAM}`, '--power', '30', '--json']);
    assert.equal(solved.code, 0, solved.stderr);
    planId = JSON.parse(solved.stdout).plan.planId;
    bus = await connectNatsBus({ url: nats.url, name: 'top-test' });
    // Three seconds of traffic (12 device seconds), then quiet, so Status and top agree.
    const replies: Promise<void>[] = [];
    const t0 = Date.now();
    for (let i = 0; Date.now() - t0 < 3000; i++) {
      sent++;
      replies.push(bus.request(inferSubject(BOARD, STREAM), { requestId: `t${i}`, input: [i] }, { timeoutMs: 10_000 }).then(() => void answered++, () => undefined));
      await sleep(50);
    }
    await Promise.all(replies);
    status = new GrpcConnection(pb.ExecutorClient, { peer: 'executor', address: stack.ready.executor.address, timeoutMs: 5000 });
  });

  after(async () => {
    if (TMUX) spawnSync('tmux', ['-L', 'fulcrum-top-test', 'kill-server']);
    status?.close();
    await bus?.close();
    stack?.child.kill('SIGTERM');
    if (stack && stack.child.exitCode === null) await new Promise((r) => stack!.child.once('exit', r));
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const executorStatus = () => status.unary<pb.StatusResponse>('Status', (c, md, o, cb) => c.status(pb.StatusRequest.fromPartial({}), md, o, cb));
  const addresses = () => ['--executor', stack!.ready.executor.address, '--controller', stack!.ready['device-controller'].address];

  it('--json: one snapshot whose numbers are the executor Status\'s', async () => {
    assert.ok(answered > 20, `${answered} of ${sent} answered`);
    const r = await cli(['top', ...addresses(), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const snap = JSON.parse(r.stdout);
    const s = await executorStatus();
    assert.equal(snap.board, BOARD);
    assert.equal(snap.board, s.board);
    assert.equal(snap.state, 'running');
    assert.equal(snap.plan.planId, planId);
    assert.equal(snap.plan.planId, s.plan!.planId);
    assert.equal(snap.plan.powerBudgetW, 30);
    assert.equal(snap.plan.powerBudgetW, s.powerBudgetW);
    assert.deepEqual(snap.plan.mode, { cores: s.plan!.mode!.cores, cpuMhz: s.plan!.mode!.cpuMhz, gpuMhz: s.plan!.mode!.gpuMhz, emcMhz: s.plan!.mode!.emcMhz });
    assert.equal(snap.plan.predictedTrainThroughputSamplesPerS, s.plan!.predictedTrainThroughputSamplesPerS);
    const [cam] = snap.streams;
    const st = s.streams.find((x) => x.stream === STREAM)!;
    assert.equal(cam.stream, STREAM);
    assert.equal(cam.batchSize, st.batchSize);
    assert.equal(cam.latencyBudgetS, 0.5);
    assert.equal(cam.latencyBudgetS, st.latencyBudgetS);
    assert.equal(cam.plannedRatePerS, 20);
    assert.equal(cam.completed, Number(st.completed));
    assert.equal(cam.completed, answered, 'every answered request is counted');
    assert.equal(cam.failed, Number(st.failed));
    assert.equal(cam.late, Number(st.late));
    assert.equal(cam.latencyP99S, st.latencyP99S);
    assert.equal(cam.latencyP50S, st.latencyP50S);
    assert.ok(cam.latencyP99S > 0 && cam.latencyP99S <= cam.latencyBudgetS * 1.5);
    // Training moves on between the two calls: the same within a few percent.
    assert.ok(snap.training.throughputSamplesPerS > 0);
    assert.ok(Math.abs(snap.training.throughputSamplesPerS - s.trainThroughputSamplesPerS) <= 0.1 * s.trainThroughputSamplesPerS, `${snap.training.throughputSamplesPerS} vs ${s.trainThroughputSamplesPerS}`);
    // Power from the controller's telemetry, near the plan's prediction and under the budget's reach.
    assert.ok(snap.power.history.length >= 1);
    assert.ok(snap.power.nowW > 5 && snap.power.nowW < 60, String(snap.power.nowW));
    assert.ok(snap.events.some((e: { text: string }) => e.text.includes(planId)), JSON.stringify(snap.events));
  });

  it('--once: one text frame with the plan, power against the budget and the stream row as Status has them', async () => {
    const r = await cli(['top', ...addresses(), '--once']);
    assert.equal(r.code, 0, r.stderr);
    const s = await executorStatus();
    const st = s.streams.find((x) => x.stream === STREAM)!;
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, new RegExp(`^fulcrum top · board ${BOARD} \\(orin-agx\\) · executor .* · running · `));
    assert.ok(lines[1]!.startsWith(`plan ${planId.slice(0, 13)}… (`), lines[1]);
    const m = s.plan!.mode!;
    assert.equal(lines[2], `mode ${m.cores} cores, CPU ${m.cpuMhz} MHz, GPU ${m.gpuMhz} MHz, EMC ${m.emcMhz} MHz`);
    assert.match(lines[3]!, /^power [\d.]+ W \/ 30\.0 W peak budget \(\d+ %\) · mean [\d.]+ W  [▁▂▃▄▅▆▇█]+/);
    assert.match(lines[4]!, new RegExp(`^training X [\\d.]+ samples/s vs ${s.plan!.predictedTrainThroughputSamplesPerS.toFixed(1)} predicted`));
    const row = lines.find((l) => l.startsWith(`${STREAM} `))!;
    assert.ok(row, r.stdout);
    const cells = row.trim().split(/\s+/);
    // stream batch rate/s plan/s queue p50 p99 budget p99/budget(2 cells) done late failed
    assert.equal(cells[1], String(st.batchSize));
    assert.equal(cells[3], '20.0');
    assert.equal(cells[5], st.latencyP50S.toFixed(3));
    assert.equal(cells[6]!.replace('!', ''), st.latencyP99S.toFixed(3));
    assert.equal(cells[7], '0.500');
    assert.equal(cells[10], String(st.completed));
    assert.equal(cells[11], String(st.late));
    assert.equal(cells[12], String(st.failed));
  });

  it('--optimizer: every board it knows, each with its executor\'s Status; --board picks one', async () => {
    const optimizer = stack!.ready.optimizer.address;
    const r = await cli(['top', '--optimizer', optimizer, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const fleet = JSON.parse(r.stdout);
    const s = await executorStatus();
    const b = fleet.boards.find((x: { board: string }) => x.board === BOARD);
    assert.ok(b, r.stdout);
    assert.equal(b.executor, stack!.ready.executor.address);
    assert.equal(b.state, 'running');
    assert.equal(b.planId, s.plan!.planId);
    assert.equal(b.powerBudgetW, 30);
    assert.equal(b.completed, s.streams.reduce((n, x) => n + Number(x.completed), 0));
    assert.equal(b.worstStream, STREAM);
    assert.equal(b.worstP99OverBudget, s.streams[0]!.latencyP99S / s.streams[0]!.latencyBudgetS);
    const once = await cli(['top', '--optimizer', optimizer, '--once']);
    assert.equal(once.code, 0, once.stderr);
    assert.match(once.stdout, /^fulcrum top · 1 board the optimizer at .* knows/);
    assert.ok(once.stdout.split('\n').some((l) => l.startsWith(`${BOARD} `) && l.includes('running') && l.includes(s.plan!.planId.slice(0, 8))), once.stdout);
    const one = await cli(['top', '--optimizer', optimizer, '--board', BOARD, '--no-controller', '--json']);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout).plan.planId, s.plan!.planId);
    const unknown = await cli(['top', '--optimizer', optimizer, '--board', 'nope', '--once']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--board: the optimizer at .* has not heard from "nope" \(it knows top-board\)/);
  });

  it('bad input exits 2 naming the flag; an executor that is not there is a short error, exit 1', async () => {
    const bad = await cli(['top', '--executor', 'nope', '--once']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--executor: expected HOST:PORT/);
    const interval = await cli(['top', '--interval-s', '0.01', '--once']);
    assert.equal(interval.code, 2);
    assert.match(interval.stderr, /--interval-s/);
    const gone = await cli(['top', '--executor', '127.0.0.1:1', '--no-controller', '--once']);
    assert.equal(gone.code, 1);
    assert.ok(gone.stderr.length < 400, gone.stderr);
    assert.match(gone.stderr, /127\.0\.0\.1:1/);
  });

  it('live in a real terminal (tmux): draws, follows a resize cleanly, quits on q', { skip: TMUX ? false : 'no tmux on PATH (Debian/Ubuntu: apt-get install tmux)' }, async () => {
    const session = 'top';
    const command = [process.execPath, ...SOURCE_NODE_ARGS, join(REPO_ROOT, 'libs/cli/src/bin.ts'), 'top', ...addresses(), '--nats', nats.url, '--interval-s', '0.5']
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    // CI=true as on a CI runner, where ink would otherwise hold every frame back until exit.
    tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '36', `cd '${REPO_ROOT}' && CI=true ${command}; echo "top exited $?"; sleep 30`);
    const wide = await screenUntil(session, (s) => s.includes(`board ${BOARD}`) && s.includes(`${STREAM} `) && s.includes('q quit'), 'the first frame');
    assert.ok(wide.includes(`plan ${planId.slice(0, 13)}`), wide);
    assert.match(wide, /p99\/budget/, 'a wide terminal has every column');
    // Narrower and shorter: the frame refits, with no line of the old one left.
    tmux('resize-window', '-t', session, '-x', '72', '-y', '20');
    const narrow = await screenUntil(session, (s) => s.split('\n')[0]!.length <= 72 && !s.includes('p99/budget') && s.includes('q quit'), 'the frame at 72 × 20');
    const rows = narrow.split('\n').filter((l) => l.length > 0);
    assert.ok(rows.every((l) => [...l].length <= 72), narrow);
    assert.equal(narrow.split('\n').filter((l) => l.startsWith('fulcrum top · board')).length, 1, `one header after the resize:\n${narrow}`);
    assert.ok(rows.length <= 20, narrow);
    tmux('send-keys', '-t', session, 'q');
    const quit = await screenUntil(session, (s) => /top exited \d+/.test(s), 'the exit after q', 10_000);
    assert.match(quit, /top exited 0/);
  });
});
