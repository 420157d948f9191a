/**
 * What the multi-host fleet test (fleet-netns.test.ts) runs *inside* a network namespace, where
 * the test process itself cannot reach: one subcommand per run, arguments as JSON in argv[2].
 *
 *   traffic       Poisson inference requests on the board's NATS (user `client`) until stdin says
 *                 `stop`; `rate R` on stdin changes the rate. Every request ends as a reply, an
 *                 explicit error reply, or a bus error (timeout included): one JSON line each on
 *                 stdout, `{"t": sentAtEpochMs, "o": "ok"|"error:<code>", "l": latencyS|null}`.
 *   stream-range  The messages of a JetStream stream between two sequences (subject + SHA-256 of
 *                 the payload), and the stream's last sequence: `{"last": n, "messages": [...]}`.
 *   status        The executor's Status over gRPC (TLS + token) as JSON.
 *   metrics       A service's Prometheus text (`{"text": …}`).
 *   publish       Core NATS publishes of raw payloads (`messages: [{subject, data}]`) as a board-side
 *                 user: what a compromised service on the board could send (`{"published": n}`).
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { connectNatsBus, inferSubject, isBusError, isErrorReply } from '@fulcrum/bus';
import { seededRandom } from '@fulcrum/core';
import { executor } from '@fulcrum/proto';
import { GrpcConnection } from '@fulcrum/runtime';

interface NatsArgs {
  readonly url: string;
  readonly user: string;
  readonly pass: string;
}

async function traffic(a: NatsArgs & { board: string; stream: string; ratePerS: number; timeoutS: number; seed: number }): Promise<void> {
  const bus = await connectNatsBus({ url: a.url, user: a.user, pass: a.pass, name: 'fleet-traffic', reconnectTimeWaitMs: 250, logger: { warn: () => undefined, info: () => undefined } });
  let rate = a.ratePerS;
  let stopping = false;
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, value] = line.trim().split(/\s+/);
    if (cmd === 'rate' && Number(value) > 0) rate = Number(value);
    if (cmd === 'stop') stopping = true;
  });
  process.stdin.on('end', () => (stopping = true));
  const rand = seededRandom(a.seed);
  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  const subject = inferSubject(a.board, a.stream);
  const out = (t: number, o: string, l: number | null): void => void process.stdout.write(`${JSON.stringify({ t, o, l })}\n`);
  // Bounded: at most 1 hour, and never more than 10,000 requests in flight.
  for (const end = Date.now() + 3_600_000; !stopping && Date.now() < end; ) {
    await sleep(-Math.log(1 - rand()) * (1000 / rate));
    if (stopping || inFlight.size >= 10_000) continue;
    const t = Date.now();
    const p = bus
      .request(subject, { requestId: `r${++seq}` }, { timeoutMs: a.timeoutS * 1000 })
      .then(
        (reply) => out(t, isErrorReply(reply) ? `error:${reply.error.code}` : 'ok', isErrorReply(reply) ? null : reply.latencyS),
        (err: unknown) => out(t, isBusError(err) ? `error:bus-${err.code}` : `error:${(err as Error).name}`, null),
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  process.stdout.write(`${JSON.stringify({ sent: seq })}\n`);
  await bus.close();
}

async function streamRange(a: NatsArgs & { stream: string; from: number; to: number }): Promise<void> {
  const nc = await connect({ servers: a.url, user: a.user, pass: a.pass, name: 'fleet-probe' });
  try {
    const jsm = await jetstreamManager(nc);
    const last = (await jsm.streams.info(a.stream)).state.last_seq;
    const messages: { seq: number; subject: string; sha: string }[] = [];
    for (let seq = a.from; seq <= Math.min(a.to, last) && messages.length < 100_000; seq++) {
      const m = await jsm.streams.getMessage(a.stream, { seq }).catch(() => undefined);
      if (m) messages.push({ seq, subject: m.subject, sha: createHash('sha256').update(m.data).digest('hex').slice(0, 16) });
    }
    process.stdout.write(`${JSON.stringify({ last, messages })}\n`);
  } finally {
    await nc.close();
  }
}

async function status(a: { address: string; token: string; tlsCa: string }): Promise<void> {
  const conn = new GrpcConnection(executor.ExecutorClient, { peer: 'executor', address: a.address, token: a.token, tls: true, tlsCa: a.tlsCa, timeoutMs: 5000, attempts: 2 });
  try {
    const res = await conn.unary<executor.StatusResponse>('Status', (c, md, o, cb) => c.status({}, md, o, cb));
    process.stdout.write(`${JSON.stringify(res)}\n`);
  } finally {
    conn.close();
  }
}

async function metrics(a: { url: string }): Promise<void> {
  const res = await fetch(a.url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${a.url}: ${res.status}`);
  process.stdout.write(`${JSON.stringify({ text: await res.text() })}\n`);
}

async function publish(a: NatsArgs & { messages: { subject: string; data: string }[] }): Promise<void> {
  const nc = await connect({ servers: a.url, user: a.user, pass: a.pass });
  for (const m of a.messages) nc.publish(m.subject, m.data);
  await nc.flush();
  await nc.close();
  process.stdout.write(`${JSON.stringify({ published: a.messages.length })}\n`);
}

const [command, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}');
const probes: Record<string, (a: never) => Promise<void>> = { traffic, 'stream-range': streamRange, status, metrics, publish };
const run = probes[command ?? ''] ? probes[command!]!(args as never) : Promise.reject(new Error(`unknown probe ${command}`));
run.then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`fleet-probe ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
