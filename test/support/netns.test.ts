// The fleet network harness (test/support/netns.ts) and the test CA (test/support/test-ca.ts):
// TCP crosses each board's link, a link's delay shows in the round trip, a partitioned board is a
// blackhole in both directions while the other board still answers, healing brings it back on
// the same TCP connection, a board's leaf nats-server dials the hub's over TLS across its link
// (deploy/nats/hub.conf and board.conf, the hub's certificate from the test CA), and close()
// leaves no namespace and no process behind. Skipped, with the reason, where namespaces cannot
// be made (not root, no iproute2, no TUN, no python3).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { createFleetNetwork, isAlive, listNamespaces, netnsUnavailable, type FleetNetwork } from './netns.js';
import { REPO_ROOT } from './serve-process.js';
import { createTestCa } from './test-ca.js';

const ECHO_PORT = 7000;

/** A line echo server: `node -e ECHO_SERVER <host> <port>`, prints "listening". */
const ECHO_SERVER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
net.createServer((s) => { s.setNoDelay(true); s.on('error', () => {}); s.pipe(s); })
  .listen(Number(port), host, () => console.log('listening'));
`;

/**
 * A TCP client driven by JSON lines on stdin, one JSON answer per line on stdout:
 *   {id, op: 'connect', host, port, timeoutMs, key?}  → {id, ms} or {id, error}; with key the connection is kept
 *   {id, op: 'ping', key, timeoutMs}                  → {id, ms} or {id, error: 'timeout'} (a line echoed back)
 * With argv (host port timeoutMs) it makes one connect and prints its answer instead.
 */
const TCP_AGENT = `
const net = require('node:net');
const readline = require('node:readline');
const conns = new Map();
let seq = 0;
const reply = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
function connect(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => { sock.destroy(); resolve({ error: 'timeout' }); }, timeoutMs);
    sock.once('connect', () => { clearTimeout(timer); resolve({ ms: performance.now() - t0, sock }); });
    sock.once('error', (e) => { clearTimeout(timer); resolve({ error: e.code || e.message }); });
  });
}
if (process.argv.length > 1) {
  const [host, port, timeoutMs] = process.argv.slice(1);
  connect(host, Number(port), Number(timeoutMs)).then((r) => { r.sock?.destroy(); reply({ ms: r.ms, error: r.error }); process.exit(0); });
} else {
  readline.createInterface({ input: process.stdin }).on('line', async (line) => {
    const cmd = JSON.parse(line);
    if (cmd.op === 'connect') {
      const r = await connect(cmd.host, cmd.port, cmd.timeoutMs);
      if (r.sock && cmd.key) {
        const c = { sock: r.sock, buf: '', waiters: new Map() };
        r.sock.setEncoding('utf8');
        r.sock.on('error', () => {});
        r.sock.on('data', (d) => {
          c.buf += d;
          for (let i = c.buf.indexOf('\\n'); i >= 0; i = c.buf.indexOf('\\n')) {
            const n = c.buf.slice(0, i);
            c.buf = c.buf.slice(i + 1);
            c.waiters.get(n)?.();
          }
        });
        conns.set(cmd.key, c);
      } else r.sock?.destroy();
      return reply({ id: cmd.id, ms: r.ms, error: r.error });
    }
    if (cmd.op === 'ping') {
      const c = conns.get(cmd.key);
      if (!c) return reply({ id: cmd.id, error: 'no connection ' + cmd.key });
      const n = String(++seq);
      const t0 = performance.now();
      const r = await new Promise((resolve) => {
        const timer = setTimeout(() => { c.waiters.delete(n); resolve({ error: 'timeout' }); }, cmd.timeoutMs);
        c.waiters.set(n, () => { clearTimeout(timer); c.waiters.delete(n); resolve({ ms: performance.now() - t0 }); });
        c.sock.write(n + '\\n');
      });
      return reply({ id: cmd.id, ...r });
    }
    reply({ id: cmd.id, error: 'unknown op ' + cmd.op });
  });
  process.stdin.on('end', () => process.exit(0));
}
`;

/** GET a URL, print the body (a monitoring endpoint inside a namespace). */
const FETCH = `fetch(process.argv[1]).then((r) => r.text()).then((t) => console.log(t), (e) => { console.error(String(e)); process.exit(1); });`;

/** Subscribes (url user pass subject), prints "subscribed", then "got <data>" for the first message. */
const NATS_SUB = `
import { connect } from '@nats-io/transport-node';
const [url, user, pass, subject] = process.argv.slice(1);
const nc = await connect({ servers: url, user, pass });
const sub = nc.subscribe(subject, { max: 1 });
await nc.flush();
console.log('subscribed');
for await (const m of sub) console.log('got ' + m.string());
await nc.close();
`;

/** Publishes (url user pass subject) every 100 ms, 100 times at most. */
const NATS_PUB = `
import { connect } from '@nats-io/transport-node';
const [url, user, pass, subject] = process.argv.slice(1);
const nc = await connect({ servers: url, user, pass });
for (let i = 0; i < 100; i++) {
  nc.publish(subject, 'hello ' + i);
  await nc.flush();
  await new Promise((r) => setTimeout(r, 100));
}
await nc.close();
`;

interface AgentAnswer {
  readonly id: number;
  readonly ms?: number;
  readonly error?: string;
}

/** The TCP agent's test side: one command, its answer (bounded). */
class TcpAgent {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (a: AgentAnswer) => void>();
  #next = 1;
  #stderr = '';

  constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-4000)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as AgentAnswer;
      this.#waiting.get(answer.id)?.(answer);
    });
  }

  async call(cmd: { op: 'connect'; host: string; port: number; timeoutMs: number; key?: string } | { op: 'ping'; key: string; timeoutMs: number }): Promise<AgentAnswer> {
    const id = this.#next++;
    const answer = new Promise<AgentAnswer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcp agent: no answer to ${JSON.stringify(cmd)}: ${this.#stderr}`)), cmd.timeoutMs + 5000);
      this.#waiting.set(id, (a) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(a);
      });
    });
    this.#child.stdin!.write(JSON.stringify({ id, ...cmd }) + '\n');
    return answer;
  }

  /** `count` round trips on the kept connection `key`, one after the other; every one must succeed. */
  async pings(key: string, count: number, timeoutMs = 3000): Promise<number[]> {
    const rtts: number[] = [];
    for (let i = 0; i < count; i++) {
      const a = await this.call({ op: 'ping', key, timeoutMs });
      assert.equal(a.error, undefined, `ping ${key} #${i}: ${a.error}`);
      rtts.push(a.ms!);
    }
    return rtts;
  }
}

/** Waits for a line of a child's stdout that `match` accepts (bounded), failing with its output. */
function waitForLine(child: ChildProcess, match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
  let output = '';
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no such line in ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      output = (output + line + '\n').slice(-4000);
      if (match(line)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    // 'close', not 'exit': the last lines may still be in the pipe when it exits.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what}: exited (${code ?? signal}) first; output:\n${output}`));
    });
  });
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: readonly number[]): string => xs.map((x) => x.toFixed(1)).join(', ');

describe('test CA (openssl, ECDSA P-256)', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'fulcrum-test-ca-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('gRPC over TLS takes a certificate issued for the address it dials (mutual TLS too) and refuses one issued for another', async () => {
    const ca = await createTestCa(dir);
    const server = await ca.issue('server', { ips: ['127.0.0.1'], dns: ['localhost'] });
    const client = await ca.issue('client', { dns: ['client.test'] });
    const elsewhere = await ca.issue('elsewhere', { ips: ['127.0.0.2'] });
    assert.equal(statSync(server.keyFile).mode & 0o777, 0o600);
    const method = {
      path: '/fulcrum.test.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    };
    const serve = async (cert: { certFile: string; keyFile: string }): Promise<{ server: grpc.Server; port: number }> => {
      const s = new grpc.Server();
      s.addService({ Echo: method } as grpc.ServiceDefinition, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
      const creds = grpc.ServerCredentials.createSsl(readFileSync(ca.caFile), [{ cert_chain: readFileSync(cert.certFile), private_key: readFileSync(cert.keyFile) }], true);
      const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
      return { server: s, port };
    };
    const call = (port: number): Promise<string> => {
      const creds = grpc.credentials.createSsl(readFileSync(ca.caFile), readFileSync(client.keyFile), readFileSync(client.certFile));
      const c = new grpc.Client(`127.0.0.1:${port}`, creds);
      return new Promise<string>((resolve, reject) =>
        c.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, Buffer.from('ping'), new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
          c.close();
          if (err) reject(err);
          else resolve(res!.toString());
        }),
      );
    };
    const good = await serve(server);
    const bad = await serve(elsewhere);
    try {
      assert.equal(await call(good.port), 'ping');
      await assert.rejects(call(bad.port), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    } finally {
      good.server.forceShutdown();
      bad.server.forceShutdown();
    }
  });
});

describe('fleet network namespaces (test/support/netns.ts)', { skip: netnsUnavailable() }, () => {
  let net: FleetNetwork;
  let dir: string;
  let agent: TcpAgent;
  const nats: NatsServer[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fulcrum-netns-'));
    net = await createFleetNetwork({ boards: 2, seed: 1 });
    // An echo server on each board and on the workstation (for board → workstation probes).
    const servers = [...net.boards.map((b) => ({ ns: b.ns, host: b.ip })), { ns: net.workstation.ns, host: '0.0.0.0' }];
    await Promise.all(
      servers.map(({ ns, host }) => waitForLine(net.spawnIn(ns, process.execPath, ['-e', ECHO_SERVER, host, String(ECHO_PORT)], { stdio: ['ignore', 'pipe', 'pipe'] }), (l) => l === 'listening', 10_000, `echo server in ${ns}`)),
    );
    agent = new TcpAgent(net.spawnIn(net.workstation.ns, process.execPath, ['-e', TCP_AGENT], { stdio: ['pipe', 'pipe', 'pipe'] }));
  });

  after(async () => {
    for (const s of nats) await s.stop();
    await net?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** One connect from a board to the workstation's echo server, in a fresh process in the board namespace. */
  const connectFromBoard = async (board: number, timeoutMs: number): Promise<AgentAnswer> => {
    const r = await net.exec(net.boards[board]!.ns, process.execPath, ['-e', TCP_AGENT, net.workstation.ip, String(ECHO_PORT), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as AgentAnswer;
  };

  it('(a) TCP crosses each link; with delay 40 ± 10 ms on both ends the round trip is about 80 ms', async () => {
    for (const b of net.boards) {
      const c = await agent.call({ op: 'connect', host: b.ip, port: ECHO_PORT, timeoutMs: 3000, key: b.name });
      assert.equal(c.error, undefined, `connect ${b.name}: ${c.error}`);
    }
    const base = await agent.pings('board-1', 5);
    console.log(`netns: RTT workstation ↔ board-1 without netem: ${fmt(base)} ms (median ${median(base).toFixed(1)})`);
    assert.ok(median(base) < 30, `plain link RTT ${median(base)} ms`);
    await net.netem(0, { delayMs: 40, jitterMs: 10 });
    await net.netem(1, { delayMs: 40, jitterMs: 10 });
    for (const b of net.boards) {
      const rtts = await agent.pings(b.name, 7);
      console.log(`netns: RTT workstation ↔ ${b.name} with netem 40±10 ms each end: ${fmt(rtts)} ms (median ${median(rtts).toFixed(1)})`);
      assert.ok(Math.min(...rtts) >= 55, `no round trip can beat 2 × (40 − 10) ms: ${fmt(rtts)}`);
      assert.ok(median(rtts) >= 60 && median(rtts) <= 150, `median RTT ${median(rtts)} ms, expected about 80`);
    }
    const fresh = await connectFromBoard(1, 3000);
    assert.equal(fresh.error, undefined);
    console.log(`netns: TCP connect board-2 → workstation (${net.workstation.ip}) in a new process: ${fresh.ms!.toFixed(1)} ms`);
    assert.ok(fresh.ms! >= 55 && fresh.ms! < 500, `connect took ${fresh.ms} ms`);
  });

  it('(b) a partitioned board is a blackhole both ways (timeouts, no refusal) while the other board still answers; (c) heal brings it back', async () => {
    await net.partition(1);
    const t0 = performance.now();
    const [ping1, connect1, fromBoard1, ping0] = await Promise.all([
      agent.call({ op: 'ping', key: 'board-2', timeoutMs: 1500 }),
      agent.call({ op: 'connect', host: net.boards[1]!.ip, port: ECHO_PORT, timeoutMs: 1500 }),
      connectFromBoard(1, 1500),
      agent.pings('board-1', 3),
    ]);
    console.log(`netns: during partition(1): ping board-2 ${ping1.error}, connect → board-2 ${connect1.error}, connect board-2 → workstation ${fromBoard1.error}; board-1 RTT ${fmt(ping0)} ms (${(performance.now() - t0).toFixed(0)} ms in all)`);
    assert.equal(ping1.error, 'timeout', 'a round trip on the open connection to the partitioned board times out');
    assert.equal(connect1.error, 'timeout', 'a connect to the partitioned board times out (not refused, not unreachable)');
    assert.equal(fromBoard1.error, 'timeout', 'the partitioned board cannot reach the workstation either');
    assert.ok(median(ping0) < 150, `board-1 still answers: ${fmt(ping0)}`);

    await net.heal(1);
    const healed = performance.now();
    const again = await agent.call({ op: 'ping', key: 'board-2', timeoutMs: 10_000 });
    assert.equal(again.error, undefined, 'the same TCP connection carries data again after heal');
    console.log(`netns: after heal(1), first round trip on the old connection: ${(performance.now() - healed).toFixed(0)} ms (TCP retransmission backoff)`);
    const rtts = await agent.pings('board-2', 3);
    assert.ok(median(rtts) >= 55 && median(rtts) <= 150, `healed link is back to the last netem spec: ${fmt(rtts)}`);
    const fresh = await agent.call({ op: 'connect', host: net.boards[1]!.ip, port: ECHO_PORT, timeoutMs: 3000 });
    assert.equal(fresh.error, undefined);
    assert.equal((await connectFromBoard(1, 3000)).error, undefined);
  });

  it('(d) a board\'s leaf nats-server (deploy/nats/board.conf) dials the hub (hub.conf) over TLS across the link; a message crosses', async () => {
    const ca = await createTestCa(join(dir, 'ca'));
    const hubCert = await ca.issue('hub', { ips: [net.workstation.ip] });
    const pass = (): string => `p${randomBytes(12).toString('hex')}`;
    const PASS = { optimizer: pass(), client: pass(), leaf1: pass(), leaf2: pass(), controller: pass(), executor: pass(), profiler: pass(), board: pass() };
    const board = net.boards[0]!;
    const t0 = performance.now();
    const hub = await startNatsServer({
      configFile: join(REPO_ROOT, 'deploy/nats/hub.conf'),
      wrap: net.wrap(net.workstation.ns),
      storeDir: join(dir, 'hub-store'),
      args: ['-m', '8222'],
      env: {
        FULCRUM_NATS_OPTIMIZER_PASS: PASS.optimizer,
        FULCRUM_NATS_CLIENT_PASS: PASS.client,
        FULCRUM_NATS_LEAF_PASS_BOARD_1: PASS.leaf1,
        FULCRUM_NATS_LEAF_PASS_BOARD_2: PASS.leaf2,
        FULCRUM_NATS_TLS_CERT: hubCert.certFile,
        FULCRUM_NATS_TLS_KEY: hubCert.keyFile,
      },
    });
    nats.push(hub);
    assert.equal(hub.port, 4222, 'the config file\'s own port');
    assert.ok(hub.monitorUrl, 'the monitoring endpoint from the ports file');
    const leaf = await startNatsServer({
      configFile: join(REPO_ROOT, 'deploy/nats/board.conf'),
      wrap: net.wrap(board.ns),
      storeDir: join(dir, 'leaf-store'),
      env: {
        FULCRUM_BOARD: board.name,
        FULCRUM_HUB_LEAF_URL: `tls://${board.name}:${PASS.leaf1}@${net.workstation.ip}:7422`,
        FULCRUM_NATS_TLS_CA: ca.caFile,
        FULCRUM_NATS_CONTROLLER_PASS: PASS.controller,
        FULCRUM_NATS_EXECUTOR_PASS: PASS.executor,
        FULCRUM_NATS_PROFILER_PASS: PASS.profiler,
        FULCRUM_NATS_BOARD_PASS: PASS.board,
        FULCRUM_NATS_CLIENT_PASS: PASS.client,
      },
    });
    nats.push(leaf);

    // The hub's /leafz lists the board's leaf, from the board's address on its link.
    let leafz: { leafs?: { ip?: string; account?: string }[] } = {};
    for (let i = 0; i < 50 && (leafz.leafs?.length ?? 0) === 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 200));
      const r = await net.exec(net.workstation.ns, process.execPath, ['-e', FETCH, `${hub.monitorUrl}/leafz`], { timeoutMs: 5000 });
      if (r.code === 0) leafz = JSON.parse(r.stdout) as typeof leafz;
    }
    const connectedMs = performance.now() - t0;
    assert.equal(leafz.leafs?.length, 1, `the hub sees one leaf; hub log:\n${hub.log().slice(-2000)}\nleaf log:\n${leaf.log().slice(-2000)}`);
    assert.equal(leafz.leafs[0]!.ip, board.ip);
    console.log(`netns: leaf ${board.name} → hub over TLS (netem 40±10 ms each end): in /leafz ${connectedMs.toFixed(0)} ms after the hub started`);

    // A message published on the leaf by the board's user reaches a subscriber on the hub.
    const subject = `fulcrum.${board.name}.board.announce`;
    const nodeModule = (ns: string, script: string, args: string[]): ChildProcess =>
      net.spawnIn(ns, process.execPath, ['--input-type=module', '-e', script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const sub = nodeModule(net.workstation.ns, NATS_SUB, [hub.url, 'client', PASS.client, subject]);
    const got = waitForLine(sub, (l) => l.startsWith('got '), 15_000, 'subscriber on the hub');
    got.catch(() => undefined);
    await waitForLine(sub, (l) => l === 'subscribed', 10_000, 'subscriber on the hub');
    const sent = performance.now();
    const pub = nodeModule(board.ns, NATS_PUB, [leaf.url, 'board', PASS.board, subject]);
    try {
      const line = await got;
      assert.match(line, /^got hello \d+$/);
      console.log(`netns: board-1 leaf → hub message: ${line.slice(4)} arrived ${(performance.now() - sent).toFixed(0)} ms after the publisher started`);
    } finally {
      pub.kill('SIGKILL');
    }
  });

  it('(e) close() leaves no namespace of the run and no process it started', async () => {
    const pids = [...net.pids(), ...nats.map((s) => s.pid)].filter((p) => p > 0);
    assert.ok(pids.length >= 5, `pids seen: ${pids.join(', ')}`);
    const t0 = performance.now();
    await net.close();
    await net.close();
    console.log(`netns: close() took ${(performance.now() - t0).toFixed(0)} ms`);
    assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(`${net.id}-`)), []);
    assert.deepEqual(pids.filter(isAlive), []);
    await assert.rejects(net.partition(0), /closed/);
  });
});
