// A fleet on a real network (issue 15, 5): one "workstation" network namespace with the hub NATS
// (deploy/nats/hub.conf) and the optimizer, two "board" namespaces each with a leaf NATS
// (deploy/nats/board.conf: its own JetStream domain, a TLS leafnode link to the hub), a
// device-controller, an executor and a profiler on a virtual Orin AGX. gRPC across hosts is TLS
// (a test CA) with a bearer token; NATS users and passwords per role; every link 40 ± 10 ms each
// way with 1 % loss. Each leaf links to the hub as its board's own user (deploy/nats/hub-users.conf).
// It checks and prints:
//   - board 1 announcing board 2 at another address, and a board that does not exist: the
//     optimizer's registry holds neither;
//   - board 2's solve after board 1's: 0 modes profiled, and the plan it got;
//   - a rate change on board 1 (linked) re-planned by the optimizer exactly once, the executor
//     not re-planning by itself;
//   - board 2 cut off for 30 s while it serves Poisson traffic at 3× its planned rate: requests
//     sent / answered / explicit errors (none lost) and p99 against the budget; the board
//     re-plans by itself from its front and says so;
//   - the events stored on board 2 during the partition and those that reached the hub after the
//     heal (the same, message for message), and the time from heal to caught up;
//   - the optimizer re-plans board 2 once after the heal (trigger reconcile), not once per event.
// Runs where namespaces can be made (root, iproute2, TUN); skips with the reason otherwise.
// Everything it starts is stopped at the end, the namespaces deleted, even on failure.
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { createFleetNetwork, netnsUnavailable, type FleetNetwork } from '../support/netns.js';
import { REPO_ROOT, SOURCE_NODE_ARGS, killAllServices, serveProcess, type ServiceProcess } from '../support/serve-process.js';
import { createTestCa } from '../support/test-ca.js';

const skip = netnsUnavailable() ?? (spawnSync('openssl', ['version']).status === 0 ? undefined : 'the openssl command (for the test CA) is missing');
const TOKEN = 'fleet-test-token-0123';
const PASS = { controller: 'pw-controller', executor: 'pw-executor', profiler: 'pw-profiler', optimizer: 'pw-optimizer', board: 'pw-board', client: 'pw-client', leaf1: 'pw-leaf-1', leaf2: 'pw-leaf-2' } as const;
const NATS_ENV = {
  FULCRUM_NATS_CONTROLLER_PASS: PASS.controller,
  FULCRUM_NATS_EXECUTOR_PASS: PASS.executor,
  FULCRUM_NATS_PROFILER_PASS: PASS.profiler,
  FULCRUM_NATS_OPTIMIZER_PASS: PASS.optimizer,
  FULCRUM_NATS_BOARD_PASS: PASS.board,
  FULCRUM_NATS_CLIENT_PASS: PASS.client,
  // deploy/nats/hub-users.conf: one leaf user per board (board-1, board-2), each passing only its own subjects.
  FULCRUM_NATS_LEAF_PASS_BOARD_1: PASS.leaf1,
  FULCRUM_NATS_LEAF_PASS_BOARD_2: PASS.leaf2,
};
const NATS_LOCAL = 'nats://127.0.0.1:4222';
const TIME_SCALE = 10;
/** The problem, in device time: 2 requests/s (20/s on the wall at time scale 10), budget 1 s. */
const RATE_PER_S = 2;
const LATENCY_BUDGET_S = 1;
const PROBLEM_FLAGS = ['--train', 'resnet18', '--infer', 'mobilenet', '--rate', String(RATE_PER_S), '--latency', String(LATENCY_BUDGET_S), '--power', '30'];
const LINK = { delayMs: 40, jitterMs: 10, lossPct: 1 };
const PARTITION_S = 30;
const LOCAL_REPLAN_AFTER_S = 8;
const BIN = join(REPO_ROOT, 'libs/cli/src/bin.ts');
const PROBE = join(REPO_ROOT, 'test/e2e/fleet-probe.ts');

interface Outcome {
  readonly t: number;
  readonly o: string;
  readonly l: number | null;
}

/** Poisson traffic from inside a board namespace (fleet-probe traffic); `rate()` changes it, `stop()` collects every outcome. */
class Traffic {
  readonly outcomes: Outcome[] = [];
  sent = -1;
  readonly #child: ChildProcess;
  readonly #closed: Promise<void>;
  #stderr = '';

  constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-4000)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const o = JSON.parse(line) as Outcome & { sent?: number };
      if (o.sent !== undefined) this.sent = o.sent;
      else this.outcomes.push(o);
    });
    this.#closed = new Promise((resolve) => child.once('close', () => resolve()));
  }

  rate(perWallS: number): void {
    this.#child.stdin!.write(`rate ${perWallS}\n`);
  }

  async stop(): Promise<void> {
    this.#child.stdin!.end('stop\n');
    await Promise.race([this.#closed, sleep(30_000).then(() => assert.fail(`traffic did not stop: ${this.#stderr}`))]);
    assert.ok(this.sent >= 0, `the traffic probe reported no total: ${this.#stderr}`);
  }
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

describe('a fleet on a real network: a hub and two leaf boards in network namespaces (issue 15)', { skip }, () => {
  let net: FleetNetwork;
  let dir: string;
  let caFile: string;
  const nats: NatsServer[] = [];
  const services: ServiceProcess[] = [];
  let optimizer: ServiceProcess;
  const executors: ServiceProcess[] = [];
  const traffic: Traffic[] = [];

  /** A command in a namespace; its stdout, failing with its output on a non-zero exit. */
  const run = async (ns: string, args: readonly string[], timeoutMs = 120_000): Promise<string> => {
    const r = await net.exec(ns, process.execPath, [...SOURCE_NODE_ARGS, ...args], { timeoutMs, cwd: REPO_ROOT, env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn', FULCRUM_CONFIG: '' } });
    assert.equal(r.code, 0, `${args.slice(0, 3).join(' ')} in ${ns} exited ${r.code ?? r.signal}:\n${r.stderr.slice(-3000)}`);
    return r.stdout;
  };
  const cli = (args: readonly string[]): Promise<string> => run(net.workstation.ns, [BIN, ...args]);
  const probe = async <T>(ns: string, command: string, args: object): Promise<T> => JSON.parse((await run(ns, [PROBE, command, JSON.stringify(args)], 30_000)).trim().split('\n').pop()!) as T;
  const optimizerAddress = (): string => optimizer.ready.address;
  /** The optimizer's re-plans of one board so far, by trigger (its /metrics, read inside the workstation namespace). */
  const replans = async (board: string): Promise<Record<string, number>> => {
    const { text } = await probe<{ text: string }>(net.workstation.ns, 'metrics', { url: `${optimizer.ready.metricsUrl}/metrics` });
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^fulcrum_optimizer_replans_total\{([^}]*)\} (\d+)/gm)) {
      if (!m[1]!.includes(`board="${board}"`)) continue;
      const trigger = /trigger="([^"]+)"/.exec(m[1]!)![1]!;
      out[trigger] = (out[trigger] ?? 0) + Number(m[2]);
    }
    return out;
  };
  const hubStream = (board: string, from: number, to: number) =>
    probe<{ last: number; messages: { seq: number; subject: string; sha: string }[] }>(net.workstation.ns, 'stream-range', { url: NATS_LOCAL, user: 'optimizer', pass: PASS.optimizer, stream: `FULCRUM_EVENTS_${board}`, from, to });
  const boardStream = (i: number, from: number, to: number) =>
    probe<{ last: number; messages: { seq: number; subject: string; sha: string }[] }>(net.boards[i]!.ns, 'stream-range', { url: NATS_LOCAL, user: 'board', pass: PASS.board, stream: `FULCRUM_EVENTS_${net.boards[i]!.name}`, from, to });
  const status = (i: number) =>
    probe<{ replanOwner: string; localReplans: number; plan?: { planId: string; strategy?: string } }>(net.boards[i]!.ns, 'status', { address: `127.0.0.1:50052`, token: TOKEN, tlsCa: caFile });
  async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 500): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await read();
      if (ok(v)) return v;
      if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(v)}`);
      await sleep(everyMs);
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fulcrum-fleet-'));
    net = await createFleetNetwork({ boards: 2, prefix: 'fleet' });
    for (let i = 0; i < net.boards.length; i++) await net.netem(i, LINK);
    const ca = await createTestCa(join(dir, 'ca'));
    caFile = ca.caFile;
    const hubCert = await ca.issue('hub', { ips: [net.workstation.ip, ...net.boards.map((b) => b.workstationIp)] });
    const boardCerts = await Promise.all(net.boards.map((b) => ca.issue(b.name, { ips: [b.ip, '127.0.0.1'] })));

    // NATS: the hub on the workstation, a leaf per board dialling it over TLS across its link.
    nats.push(
      await startNatsServer({
        configFile: join(REPO_ROOT, 'deploy/nats/hub.conf'),
        wrap: net.wrap(net.workstation.ns),
        storeDir: join(dir, 'hub-js'),
        env: { ...NATS_ENV, FULCRUM_NATS_TLS_CERT: hubCert.certFile, FULCRUM_NATS_TLS_KEY: hubCert.keyFile },
      }),
    );
    for (const b of net.boards) {
      nats.push(
        await startNatsServer({
          configFile: join(REPO_ROOT, 'deploy/nats/board.conf'),
          wrap: net.wrap(b.ns),
          storeDir: join(dir, `${b.name}-js`),
          env: { ...NATS_ENV, FULCRUM_BOARD: b.name, FULCRUM_HUB_LEAF_URL: `tls://${b.name}:${b.name === 'board-1' ? PASS.leaf1 : PASS.leaf2}@${b.workstationIp}:7422`, FULCRUM_NATS_TLS_CA: caFile },
        }),
      );
    }

    // The board services, on each board's leaf; executor and profiler reachable across the link with TLS + token.
    const common = ['--nats', NATS_LOCAL, `--grpc.token=${TOKEN}`, '--metrics.port=0'];
    const user = (role: 'controller' | 'executor' | 'profiler' | 'optimizer') => [`--nats.user=${role}`, `--nats.pass=${PASS[role]}`];
    const tls = (cert: { certFile: string; keyFile: string }) => ['--grpc.host=0.0.0.0', `--grpc.tls-cert=${cert.certFile}`, `--grpc.tls-key=${cert.keyFile}`];
    const peer = (name: string, address: string, secure: boolean) => [`--${name}.address=${address}`, `--${name}.token=${TOKEN}`, ...(secure ? [`--${name}.tls-ca=${caFile}`] : [])];
    const starts = net.boards.map(async (b, i) => {
      const wrap = net.wrap(b.ns);
      const controller = await serveProcess('device-controller', [...common, ...user('controller'), `--board=${b.name}`, '--grpc.port=50051', '--telemetry.min-interval-ms=1'], { wrap, readyTimeoutMs: 120_000 });
      const exec = await serveProcess(
        'executor',
        [...common, ...user('executor'), ...tls(boardCerts[i]!), `--board=${b.name}`, '--grpc.port=50052', `--advertise-address=${b.ip}:50052`, `--time-scale=${TIME_SCALE}`, `--executor.local-replan-after-s=${LOCAL_REPLAN_AFTER_S}`, ...peer('controller', '127.0.0.1:50051', false)],
        { wrap, readyTimeoutMs: 120_000 },
      );
      const prof = await serveProcess(
        'profiler',
        [
          ...common,
          ...user('profiler'),
          ...tls(boardCerts[i]!),
          '--grpc.port=50053',
          ...peer('controller', '127.0.0.1:50051', false),
          ...peer('executor', '127.0.0.1:50052', true),
          '--protocol.settle-s=0.05',
          '--protocol.warmup-minibatches=1',
          '--protocol.measured-minibatches=4',
          '--protocol.telemetry-interval-ms=2',
          `--store.path=${join(dir, `${b.name}-profiles.db`)}`,
        ],
        { wrap, readyTimeoutMs: 120_000 },
      );
      services.push(controller, exec, prof);
      executors[i] = exec;
    });
    await Promise.all(starts);
    // The optimizer on the workstation: profiles through board 1's profiler, applies on each board's announced executor.
    optimizer = await serveProcess(
      'optimizer',
      [...common, ...user('optimizer'), '--grpc.port=0', ...peer('profiler', `${net.boards[0]!.ip}:50053`, true), ...peer('executor', `${net.boards[0]!.ip}:50052`, true), '--executor.apply', '--replan.min-interval-s=2'],
      { wrap: net.wrap(net.workstation.ns), readyTimeoutMs: 120_000, env: { FULCRUM_LOG_LEVEL: 'info' } },
    );
    services.push(optimizer);
  }, { timeout: 300_000 });

  after(async () => {
    for (const t of traffic) await t.stop().catch(() => undefined);
    await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
    killAllServices();
    await Promise.all(nats.map((n) => n.stop().catch(() => undefined)));
    await net?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs the fleet scenario: zero profiling on board 2, one re-plan per rate change, a 30 s partition that loses nothing', { timeout: 600_000 }, async (t) => {
    // On failure, what the optimizer decided (its re-plan lines) explains most of it.
    t.after(() => {
      if (!passed) process.stderr.write(`optimizer log (re-plans):\n${optimizer.log().split('\n').filter((l) => /plan|board/.test(l)).slice(-60).join('\n')}\n`);
    });
    let passed = false;
    const [b1, b2] = net.boards as [FleetNetwork['boards'][number], FleetNetwork['boards'][number]];
    const registry = async () => (JSON.parse(await cli(['boards', '--remote', optimizerAddress(), '--token', TOKEN, '--json'])) as { boards: { board: string; executorAddress: string | null }[] }).boards;
    // Both boards announce themselves across their links.
    await until(
      'both boards in the optimizer\'s registry',
      registry,
      (boards) => [b1.name, b2.name].every((n) => boards.some((b) => b.board === n)),
      60_000,
      1000,
    );
    // Board 1, as its executor, announces board 2 at another address and a board that does not
    // exist: its leaf's hub user passes only board 1's subjects (deploy/nats/hub-users.conf), so the
    // optimizer's registry keeps board 2 where it is and never hears of the other.
    const forged = (board: string, address: string): { subject: string; data: string } => ({
      subject: `fulcrum.${board}.board.announce`,
      data: JSON.stringify({ measuredAt: new Date().toISOString(), device: 'orin-agx', softwareStack: 'forged', executorAddress: address, state: 'running', jsDomain: b1.name }),
    });
    await probe(b1.ns, 'publish', { url: NATS_LOCAL, user: 'executor', pass: PASS.executor, messages: [forged(b2.name, '203.0.113.7:50052'), forged('ghost-1', '203.0.113.8:50052')] });
    await sleep(3000);
    const boards = await registry();
    assert.deepEqual(boards.map((b) => b.board).sort(), [b1.name, b2.name], 'no board announced by another board\'s leaf');
    assert.equal(boards.find((b) => b.board === b2.name)!.executorAddress, `${b2.ip}:50052`, `board 2's executor address, not board 1's forgery: ${JSON.stringify(boards)}`);
    console.log(`# board-1 announced board-2 at 203.0.113.7 and a board ghost-1: the hub passed neither (registry: ${boards.map((b) => `${b.board} at ${b.executorAddress}`).join(', ')})`);

    // Board 1 profiles; board 2, same model and stack, reuses every profile.
    type Report = { plan: { planId: string; mode: string; batchSizes: Record<string, number>; feasible: boolean; verdict: string; trainThroughputSamplesPerS: number; powerW: number }; cost: { modesProfiled: number; modesReused: number } };
    const solve = async (board: string): Promise<Report> => JSON.parse(await cli(['solve', '--remote', optimizerAddress(), '--token', TOKEN, '--board', board, ...PROBLEM_FLAGS, '--json'])) as Report;
    const first = await solve(b1.name);
    const second = await solve(b2.name);
    console.log(`# ${b1.name} solve: ${first.cost.modesProfiled} modes profiled → ${first.plan.mode}, batch ${JSON.stringify(first.plan.batchSizes)}`);
    console.log(
      `# ${b2.name} solve (after ${b1.name}'s): ${second.cost.modesProfiled} modes profiled, ${second.cost.modesReused} reused → plan ${second.plan.planId}: ${second.plan.mode}, batch ${JSON.stringify(second.plan.batchSizes)}, ` +
        `X ${second.plan.trainThroughputSamplesPerS.toFixed(1)} samples/s, ${second.plan.powerW.toFixed(1)} W, ${second.plan.verdict}`,
    );
    assert.ok(first.cost.modesProfiled > 0);
    assert.equal(second.cost.modesProfiled, 0, 'board 2 profiles nothing');
    assert.equal(second.plan.feasible, true);
    await until('each board running its own plan', async () => [await status(0), await status(1)], ([s1, s2]) => s1!.plan?.planId === first.plan.planId && s2!.plan?.planId === second.plan.planId, 30_000);

    // Poisson traffic on both boards at the planned rate, from an application on each board.
    const wallRate = RATE_PER_S * TIME_SCALE;
    for (const [i, b] of net.boards.entries()) {
      const child = net.spawnIn(b.ns, process.execPath, [...SOURCE_NODE_ARGS, PROBE, 'traffic', JSON.stringify({ url: NATS_LOCAL, user: 'client', pass: PASS.client, board: b.name, stream: 'stream0', ratePerS: wallRate, timeoutS: 10, seed: 100 + i })], {
        cwd: REPO_ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      traffic.push(new Traffic(child));
    }
    await sleep(5000);

    // A rate change on board 1, linked: the optimizer re-plans it once; the executor does not re-plan by itself.
    const before1 = await replans(b1.name);
    traffic[0]!.rate(wallRate * 3);
    const after1 = await until('the optimizer re-planning board 1', () => replans(b1.name), (r) => (r['arrivals'] ?? 0) > (before1['arrivals'] ?? 0), 60_000);
    await sleep(LOCAL_REPLAN_AFTER_S * 1000 + 4000); // long enough for a second re-plan, or a local one, to show
    const settled1 = await replans(b1.name);
    const s1 = await status(0);
    console.log(`# ${b1.name} rate ×3 while linked: ${(settled1['arrivals'] ?? 0) - (before1['arrivals'] ?? 0)} optimizer re-plan(s); executor local re-plans ${s1.localReplans}, owner ${s1.replanOwner}, plan ${s1.plan?.planId}`);
    assert.equal((after1['arrivals'] ?? 0) - (before1['arrivals'] ?? 0), 1);
    assert.equal((settled1['arrivals'] ?? 0) - (before1['arrivals'] ?? 0), 1, 'no double re-plan');
    assert.equal(s1.localReplans, 0);
    assert.equal(s1.replanOwner, 'optimizer');
    assert.notEqual(s1.plan?.planId, first.plan.planId);

    // Board 2 cut off for 30 s while its traffic triples.
    const seqBefore = (await boardStream(1, 1, 0)).last;
    const replansBefore2 = await replans(b2.name);
    await net.partition(1);
    const partitionedAt = Date.now();
    await sleep(2000);
    traffic[1]!.rate(wallRate * 3);
    await sleep(PARTITION_S * 1000 - 2000);
    const s2cut = await status(1);
    const seqAtHeal = (await boardStream(1, 1, 0)).last;
    await net.heal(1);
    const healedAt = Date.now();
    const caught = await until('the hub\'s mirror of board 2 caught up', () => hubStream(b2.name, 1, 0), (s) => s.last >= seqAtHeal, 120_000, 250);
    const caughtUpS = (Date.now() - healedAt) / 1000;
    const onBoard = (await boardStream(1, seqBefore + 1, seqAtHeal)).messages;
    const onHub = (await hubStream(b2.name, seqBefore + 1, seqAtHeal)).messages;
    const kinds = (ms: typeof onBoard) => Object.entries(ms.reduce<Record<string, number>>((acc, m) => ((acc[m.subject.split('.').slice(2).join('.')] = (acc[m.subject.split('.').slice(2).join('.')] ?? 0) + 1), acc), {})).map(([k, n]) => `${n} ${k}`).join(', ');
    console.log(`# ${b2.name} partitioned ${PARTITION_S} s: executor re-planned by itself ${s2cut.localReplans}× (owner ${s2cut.replanOwner}, plan ${s2cut.plan?.planId})`);
    console.log(`# events published on ${b2.name} during the partition: ${onBoard.length} (${kinds(onBoard)}); reached the hub after the heal: ${onHub.length}; heal → caught up ${caughtUpS.toFixed(1)} s (hub at seq ${caught.last})`);
    assert.ok(s2cut.localReplans >= 1, 'the cut-off board re-planned from its front');
    assert.equal(s2cut.replanOwner, 'local');
    assert.ok(onBoard.length > 0);
    assert.deepEqual(onHub, onBoard, 'every event stored on the board during the partition reached the hub, in order, unchanged');

    // The optimizer takes board 2 back with one re-plan, not one per event of the backlog.
    const back = await until('the optimizer re-planning board 2 after the heal', () => replans(b2.name), (r) => (r['reconcile'] ?? 0) > (replansBefore2['reconcile'] ?? 0), 60_000);
    await sleep(6000);
    const settled2 = await replans(b2.name);
    const s2back = await status(1);
    const optimizerReplans2 = (settled2['reconcile'] ?? 0) - (replansBefore2['reconcile'] ?? 0) + (settled2['arrivals'] ?? 0) - (replansBefore2['arrivals'] ?? 0);
    console.log(`# after the heal: ${optimizerReplans2} optimizer re-plan(s) of ${b2.name} (reconcile ${(back['reconcile'] ?? 0) - (replansBefore2['reconcile'] ?? 0)}); owner ${s2back.replanOwner}, plan ${s2back.plan?.planId}`);
    assert.equal(optimizerReplans2, 1, 'one re-plan after the heal');
    assert.equal(s2back.replanOwner, 'optimizer');

    // Traffic on board 2 during the partition: every request answered or explicitly refused, none lost.
    await Promise.all(traffic.map((t) => t.stop()));
    const t2 = traffic[1]!;
    assert.equal(t2.outcomes.length, t2.sent, 'one outcome per request sent');
    const during = t2.outcomes.filter((o) => o.t >= partitionedAt && o.t < healedAt);
    const answered = during.filter((o) => o.o === 'ok');
    const errors = during.filter((o) => o.o !== 'ok');
    const lost = during.filter((o) => o.o === 'error:bus-timeout');
    const p99 = quantile(answered.map((o) => o.l!), 0.99);
    const late = answered.filter((o) => o.l! > LATENCY_BUDGET_S).length;
    console.log(
      `# ${b2.name} traffic during the partition: ${during.length} sent, ${answered.length} answered, ${errors.length} explicit errors (${[...new Set(errors.map((e) => e.o))].join(', ') || 'none'}), ` +
        `${lost.length} timed out; p99 ${p99.toFixed(3)} s against the ${LATENCY_BUDGET_S} s budget (${late} late)`,
    );
    assert.ok(during.length > PARTITION_S * wallRate, `${during.length} requests in ${PARTITION_S} s`);
    assert.equal(lost.length, 0, 'no request went unanswered');
    assert.equal(answered.length + errors.length, during.length);
    assert.ok(answered.length >= 0.95 * during.length, `${answered.length} of ${during.length} answered`);
    passed = true;
  });
});
