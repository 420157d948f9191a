// The executor on a real nats-server (started for this file on a random loopback port).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectNatsBus, eventFilter, inferSubject, isErrorReply, type EventBus, type ExecutorStatusEvent, type ArrivalRatesEvent, type PlanAppliedEvent } from '@fulcrum/bus';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { ScaledClock } from './clock.js';
import { Executor } from './executor.js';
import { busEventSink, serveInference } from './bus-adapter.js';
import { SimulatedRunner, fixedTimes } from './runners/simulated.js';

let server: NatsServer;
let bus: EventBus;
let client: EventBus;

before(async () => {
  server = await startNatsServer({ jetStream: false });
  bus = await connectNatsBus({ url: server.url, name: 'executor-test' });
  client = await connectNatsBus({ url: server.url, name: 'client-test' });
});
after(async () => {
  await client?.close();
  await bus?.close();
  await server?.stop();
});

describe('executor over NATS (@fulcrum/bus)', () => {
  it('answers requests on fulcrum.<device>.infer.<stream> with results or explicit errors, and publishes what it measures', async () => {
    const device = 'bench1';
    const telemetry: ExecutorStatusEvent[] = [];
    const rates: ArrivalRatesEvent[] = [];
    const plans: PlanAppliedEvent[] = [];
    const subs = [
      client.subscribe(eventFilter('executor.status', device), (m) => void telemetry.push(m.event)),
      client.subscribe(eventFilter('arrivals.rate', device), (m) => void rates.push(m.event)),
      client.subscribe(eventFilter('plan.applied', device), (m) => void plans.push(m.event)),
    ];
    await Promise.all(subs.map((s) => s.ready));
    const sink = busEventSink(bus, device);
    const clock = new ScaledClock(20);
    const executor = new Executor({
      runner: new SimulatedRunner(fixedTimes({ trainTimeS: 0.1, inferTimeS: { cam: (b) => 0.01 * b } }), { clock }),
      problem: { trainBatchSize: 8, streams: [{ name: 'cam', arrivalRatePerS: 40, latencyBudgetS: 1 }] },
      plan: { planId: 'nats-1', mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, batchSizes: { cam: 2 } },
      clock,
      events: sink,
      telemetryIntervalS: 0.2,
      windowS: 0.5,
    });
    executor.start();
    const service = serveInference(executor, bus, device);
    await service.ready;
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => client.request(inferSubject(device, 'cam'), { requestId: `q${i}`, input: i })));
    for (const [i, r] of replies.entries()) {
      assert.ok(!isErrorReply(r), JSON.stringify(r));
      assert.equal(r.requestId, `q${i}`);
      assert.equal(r.batchSize, 2);
    }
    const unknown = await client.request(inferSubject(device, 'other'), { requestId: 'u1' });
    assert.ok(isErrorReply(unknown));
    assert.equal(unknown.error.code, 'shed');
    await clock.sleep(1);
    await service.drain();
    await executor.stop();
    const late = await client.request(inferSubject(device, 'cam'), { requestId: 'late' }, { timeoutMs: 500 }).catch((e: Error) => e);
    assert.ok(late instanceof Error || isErrorReply(late));
    // Events are at-most-once core NATS messages: give the last ones a moment to arrive.
    for (let i = 0; i < 100 && !telemetry.some((t) => t.streams?.[0]?.completed === 20); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(telemetry.length > 0);
    assert.ok(telemetry.some((t) => t.streams?.[0]?.completed === 20));
    assert.ok(rates.length > 0);
    assert.equal(plans[0]?.planId, 'nats-1');
    assert.equal(sink.failures(), 0);
  });
});
