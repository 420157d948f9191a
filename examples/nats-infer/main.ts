/**
 * Sending inference requests over NATS, as a camera or microphone pipeline would: requests on
 * `fulcrum.<device>.infer.<stream>` (request/reply), each answered with a result (latency, queue
 * time, the batch it ran in) or an explicit error (`deadline`, `shed`, `unavailable`, …).
 *
 *   FULCRUM_NATS=nats://board-1.lab:4222 FULCRUM_STREAM=cam npx tsx examples/nats-infer/main.ts
 *
 * Environment: FULCRUM_NATS (default nats://127.0.0.1:4222), FULCRUM_NATS_TOKEN, FULCRUM_DEVICE
 * (default orin-agx), FULCRUM_STREAM (default cam), FULCRUM_REQUESTS (default 20), FULCRUM_RATE
 * (requests per second, default 10). Exit 0 when every request got a result, 1 otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectNatsBus, inferSubject, isErrorReply, type InferenceReply } from '@fulcrum/bus';

const env = process.env;
const requests = Number(env['FULCRUM_REQUESTS'] ?? 20);
const ratePerS = Number(env['FULCRUM_RATE'] ?? 10);
const subject = inferSubject(env['FULCRUM_DEVICE'] ?? 'orin-agx', env['FULCRUM_STREAM'] ?? 'cam');

const bus = await connectNatsBus({ url: env['FULCRUM_NATS'] ?? 'nats://127.0.0.1:4222', name: 'nats-infer-example', token: env['FULCRUM_NATS_TOKEN'] });
let ok = 0;
const failures = new Map<string, number>();
try {
  // Poisson arrivals at `ratePerS`; every request is answered within its timeout, never left hanging.
  const pending: Promise<void>[] = [];
  for (let i = 0; i < requests; i++) {
    const requestId = `example-${i}`;
    // The input is any JSON value; its shape is the stream's model's business.
    const sent = bus.request(subject, { requestId, input: [[i % 10, 0.5, 0.25]] }, { timeoutMs: 5000 }).then((reply: InferenceReply) => {
      if (isErrorReply(reply)) {
        failures.set(reply.error.code, (failures.get(reply.error.code) ?? 0) + 1);
        console.log(`${requestId}: ${reply.error.code}: ${reply.error.message}`);
      } else {
        ok++;
        console.log(`${requestId}: latency ${(reply.latencyS * 1000).toFixed(1)} ms (queued ${(reply.queueS * 1000).toFixed(1)} ms) in a batch of ${reply.batchSize}`);
      }
    });
    pending.push(sent.catch((err: unknown) => void failures.set(String((err as { code?: string }).code ?? err), (failures.get(String(err)) ?? 0) + 1)));
    await sleep((-Math.log(1 - Math.random()) / ratePerS) * 1000);
  }
  await Promise.all(pending);
} finally {
  await bus.close();
}
console.log(`${ok} of ${requests} answered with a result${failures.size ? `; errors: ${[...failures].map(([c, n]) => `${c} ×${n}`).join(', ')}` : ''}`);
process.exitCode = ok === requests ? 0 : 1;
