/**
 * Sending inference requests over NATS, as a camera or microphone pipeline would: requests on
 * `fulcrum.<board>.infer.<stream>` (request/reply), each answered with a result (latency, queue
 * time, the batch it ran in) or an explicit error (`deadline`, `shed`, `unavailable`, …).
 *
 *   FULCRUM_NATS=nats://board-1.lab:4222 FULCRUM_STREAM=cam npx tsx examples/nats-infer/main.ts
 *
 * Environment: FULCRUM_NATS (default nats://127.0.0.1:4222), FULCRUM_NATS_TOKEN, FULCRUM_BOARD
 * (the board's id; default this host's, as `fulcrum serve` picks it), FULCRUM_STREAM (default cam), FULCRUM_REQUESTS (default 20), FULCRUM_RATE
 * (requests per second, default 10). Exit 0 when every request got a result, 1 otherwise.
 *
 * Latencies are on the executor's clock: on a board, seconds; on a simulated board, device
 * seconds (`fulcrum serve` runs the virtual board faster than real time, `--executor.time-scale`),
 * so requests sent at 10/s here arrive there at 10/s ÷ the time scale.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { connectNatsBus, inferSubject, isBusError, isErrorReply, type EventBus, type InferenceReply } from '@fulcrum/bus';
import { boardIdFrom } from '@fulcrum/core';

const env = process.env;
const requests = Number(env['FULCRUM_REQUESTS'] ?? 20);
const ratePerS = Number(env['FULCRUM_RATE'] ?? 10);
const subject = inferSubject(env['FULCRUM_BOARD'] ?? boardIdFrom(hostname()), env['FULCRUM_STREAM'] ?? 'cam');

const natsUrl = env['FULCRUM_NATS'] ?? 'nats://127.0.0.1:4222';
let bus: EventBus;
try {
  bus = await connectNatsBus({ url: natsUrl, name: 'nats-infer-example', token: env['FULCRUM_NATS_TOKEN'] || undefined });
} catch (err) {
  console.error(`cannot reach NATS at ${natsUrl}: ${(err as Error).message}`);
  process.exit(1);
}
let ok = 0;
const failures = new Map<string, number>();
try {
  // Poisson arrivals at `ratePerS`; every request is answered within its timeout, never left hanging.
  const pending: Promise<void>[] = [];
  for (let i = 0; i < requests; i++) {
    const requestId = `example-${i}`;
    const count = (code: string): void => void failures.set(code, (failures.get(code) ?? 0) + 1);
    // The input is any JSON value; its shape is the stream's model's business.
    const sent = bus
      .request(subject, { requestId, input: [[i % 10, 0.5, 0.25]] }, { timeoutMs: 5000 })
      .then((reply: InferenceReply) => {
        if (isErrorReply(reply)) {
          count(reply.error.code);
          console.log(`${requestId}: ${reply.error.code}: ${reply.error.message}`);
        } else {
          ok++;
          console.log(`${requestId}: latency ${(reply.latencyS * 1000).toFixed(1)} ms (queued ${(reply.queueS * 1000).toFixed(1)} ms) in a batch of ${reply.batchSize}`);
        }
      })
      // No answer at all: `no-responders` (no executor serves the subject), `timeout`, `unavailable`.
      .catch((err: unknown) => {
        const code = isBusError(err) ? err.code : 'error';
        count(code);
        console.log(`${requestId}: ${code}: ${(err as Error).message}`);
      });
    pending.push(sent);
    await sleep((-Math.log(1 - Math.random()) / ratePerS) * 1000);
  }
  await Promise.all(pending);
} finally {
  await bus.close();
}
console.log(`${ok} of ${requests} answered with a result${failures.size ? `; errors: ${[...failures].map(([c, n]) => `${c} ×${n}`).join(', ')}` : ''}`);
if (failures.has('no-responders')) console.log(`nothing answers ${subject.subject}: start the board's services (fulcrum serve all --nats ${natsUrl}) and apply a plan (remote-solve)`);
process.exitCode = ok === requests ? 0 : 1;
