import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { busBehaviourSuite, capturingLogger, freshDevice, profile, silentLogger, executorStatus, waitFor } from './bus.suite.js';
import { createEventBus } from './config.js';
import { isBusError } from './errors.js';
import { connectNatsBus } from './nats.js';
import { eventFilter, inferFilter, inferSubject, profileCompletedSubject, executorStatusSubject } from './subjects.js';
import { startNatsServer, type NatsServer } from './testing/nats-server.js';
import type { BusStatus, EventBus } from './types.js';

let server: NatsServer;
before(async () => {
  server = await startNatsServer();
});
after(() => server.stop());

busBehaviourSuite('nats', (options) => connectNatsBus({ url: server.url, reconnectTimeWaitMs: 100, ...options }));

function statusLog(bus: EventBus): BusStatus[] {
  const seen: BusStatus[] = [];
  bus.onStatus((s) => seen.push(s));
  return seen;
}

describe('NATS backend', () => {
  test('createEventBus with a URL connects to NATS', async () => {
    const bus = await createEventBus({ natsUrl: server.url, logger: silentLogger });
    assert.equal(bus.backend, 'nats');
    assert.equal(bus.status(), 'connected');
    await bus.close();
    assert.equal(bus.status(), 'closed');
  });

  test('connecting where no server listens fails with unavailable, within the connect timeout', async () => {
    const started = Date.now();
    await assert.rejects(connectNatsBus({ url: 'nats://127.0.0.1:1', connectTimeoutMs: 1000, logger: silentLogger }), (err: unknown) => {
      assert.ok(isBusError(err, 'unavailable'), String(err));
      assert.match((err as Error).message, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
  });

  test('a reply that is not a valid reply is an invalid-reply error for the requester', async (t) => {
    const bus = await connectNatsBus({ url: server.url, logger: silentLogger });
    const raw = await connect({ servers: server.url });
    t.after(async () => {
      await bus.close();
      await raw.close();
    });
    const device = freshDevice();
    raw.subscribe(inferSubject(device, 'cam').subject, { callback: (_err, msg) => void msg.respond('{"requestId": 7}') });
    await raw.flush();
    await assert.rejects(bus.request(inferSubject(device, 'cam'), { requestId: 'r' }), (err: unknown) => {
      assert.ok(isBusError(err, 'invalid-reply'), String(err));
      assert.match((err as Error).message, /requestId: expected string, got 7/);
      return true;
    });
  });

  test('garbage written straight into a KV bucket is reported by get and skipped by watchers', async (t) => {
    const bus = await connectNatsBus({ url: server.url, logger: silentLogger });
    t.after(() => bus.close());
    const bucket = `kv-${freshDevice()}`;
    const kv = await bus.keyValue(bucket, { decode: (v) => v as number });
    const seen: unknown[] = [];
    const strict = await bus.keyValue(bucket, {
      decode: (v) => {
        if (typeof v !== 'number') throw new Error('not a number');
        return v;
      },
    });
    const w = strict.watch({}, (c) => void seen.push(c.value));
    await w.ready;
    await bus.publishRaw(`$KV.${bucket}.k`, 'not json');
    await kv.put('k2', 5);
    await waitFor('the good value', () => seen.length === 1);
    assert.deepEqual(seen, [5]);
    assert.equal(w.stats().rejected, 1);
    await assert.rejects(strict.get('k'), /malformed payload on kv .*\/k: payload: is not JSON/);
  });

  test('without JetStream, durable kinds go out at most once after one warning; buckets and followBoard fail with unavailable instead of hanging', async (t) => {
    const plain = await startNatsServer({ jetStream: false });
    const logger = capturingLogger();
    const bus = await connectNatsBus({ url: plain.url, jetStreamTimeoutMs: 1000, logger });
    t.after(async () => {
      await bus.close();
      await plain.stop();
    });
    const device = freshDevice();
    assert.equal(await bus.jetStream(), undefined);
    const seen: number[] = [];
    const sub = bus.subscribe(eventFilter('profile.completed', device), (m) => void seen.push(m.event.batchSize));
    await sub.ready;
    assert.deepEqual(await bus.publish(profileCompletedSubject(device), profile(device, 1)), { durable: false });
    assert.deepEqual(await bus.publish(profileCompletedSubject(device), profile(device, 2)), { durable: false });
    await waitFor('both events', () => seen.length === 2);
    assert.deepEqual(seen, [1, 2]);
    assert.equal(logger.warnings.filter((l) => /no JetStream/.test(l)).length, 1, 'one warning');
    await assert.rejects(bus.keyValue('profiles', { decode: (v) => v }), (err: unknown) => isBusError(err, 'unavailable'));
    const follow = bus.followBoard(device);
    await assert.rejects(follow.ready, (err: unknown) => isBusError(err, 'unavailable') && /no JetStream/.test((err as Error).message));
    // core NATS still works
    await bus.publish(executorStatusSubject(device), executorStatus(1));
  });

  test('following a board that has no stream creates none, nor a mirror of a domain that does not hold it: an announced name reserves no storage', async (t) => {
    const bus = await connectNatsBus({ url: server.url, jetStreamTimeoutMs: 2000, logger: silentLogger });
    const raw = await connect({ servers: server.url });
    t.after(async () => {
      await bus.close();
      await raw.close();
    });
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(raw);
    const count = async () => (await jsm.streams.names().next()).filter((n) => n.startsWith('FULCRUM_EVENTS_')).length;
    const before = await count();
    const board = freshDevice();
    const plain = bus.followBoard(board);
    await assert.rejects(plain.ready, (err: unknown) => isBusError(err, 'unavailable') && /has no durable stream FULCRUM_EVENTS_/.test((err as Error).message));
    const mirrored = bus.followBoard(freshDevice(), undefined, { domain: 'nowhere' });
    await assert.rejects(mirrored.ready, (err: unknown) => isBusError(err, 'unavailable') && /domain nowhere holds no stream/.test((err as Error).message));
    // A replay that does not follow reads what is stored: nothing, and makes nothing.
    const replayed: unknown[] = [];
    for await (const m of bus.replayProfiles(freshDevice())) replayed.push(m);
    assert.deepEqual(replayed, []);
    assert.equal(await count(), before, 'no stream was made');
    // Once the board publishes (its stream exists), the same follow works.
    await bus.publish(profileCompletedSubject(board), profile(board, 3));
    const seen: number[] = [];
    const follow = bus.followBoard(board, (m) => void (m.kind === 'profile.completed' && seen.push(m.event.batchSize)));
    await follow.ready;
    await waitFor('the stored profile', () => seen.length === 1);
    follow.unsubscribe();
  });

  test('profile.completed survives a server crash and restart on the same store dir: nothing is lost', async (t) => {
    const nats = await startNatsServer();
    t.after(() => nats.stop());
    const device = freshDevice('orin');
    const writer = await connectNatsBus({ url: nats.url, reconnectTimeWaitMs: 100, logger: silentLogger });
    t.after(() => writer.close());
    const batchSizes = Array.from({ length: 25 }, (_, i) => i + 1);
    for (const b of batchSizes) await writer.publish(profileCompletedSubject(device), profile(device, b), { msgId: `${device}-${b}` });

    await nats.kill(); // SIGKILL: no orderly shutdown
    await nats.restart();

    const reader = await connectNatsBus({ url: nats.url, logger: silentLogger });
    t.after(() => reader.close());
    const replayed: number[] = [];
    for await (const m of reader.replayProfiles(device)) replayed.push(m.event.batchSize);
    assert.deepEqual(replayed, batchSizes);

    // The writer reconnects by itself and keeps appending to the same stream.
    await waitFor('the writer to reconnect', () => writer.status() === 'connected', 10_000);
    const ack = await writer.publish(profileCompletedSubject(device), profile(device, 99));
    assert.equal(ack.sequence, 26);
  });

  test('reconnect after a NATS restart: fail fast while down, then subscriptions, services and buckets resume', async (t) => {
    const nats = await startNatsServer();
    t.after(() => nats.stop());
    const device = freshDevice();
    const logger = capturingLogger();
    // Long timeouts, so that failing within a fraction of them shows the fast path, not a timeout.
    const bus = await connectNatsBus({ url: nats.url, reconnectTimeWaitMs: 100, requestTimeoutMs: 30_000, jetStreamTimeoutMs: 30_000, logger });
    const peer = await connectNatsBus({ url: nats.url, reconnectTimeWaitMs: 100, logger: silentLogger });
    t.after(() => Promise.all([bus.close(), peer.close()]));
    const statuses = statusLog(bus);

    const got: number[] = [];
    const sub = bus.subscribe(executorStatusSubject(device), (m) => void got.push(m.event.streams[0]!.queueDepth));
    const service = peer.serve(inferFilter(device), (r) => ({ requestId: r.requestId, latencyS: 0.01, queueS: 0, batchSize: 1 }));
    const kv = await bus.keyValue(`kv-${device}`, { decode: (v) => v as number });
    await Promise.all([sub.ready, service.ready]);
    await kv.put('before', 1);
    await peer.publish(executorStatusSubject(device), executorStatus(1));
    await waitFor('the first event', () => got.length === 1);

    await nats.kill();
    await waitFor('the bus to notice', () => bus.status() === 'reconnecting');
    const started = Date.now();
    await assert.rejects(bus.publish(executorStatusSubject(device), executorStatus(2)), (err: unknown) => {
      assert.ok(isBusError(err, 'unavailable'), String(err));
      assert.match((err as Error).message, /unreachable \(reconnecting\)/);
      return true;
    });
    await assert.rejects(bus.request(inferSubject(device, 'cam'), { requestId: 'down' }), (err: unknown) => isBusError(err, 'unavailable'));
    await assert.rejects(bus.publish(profileCompletedSubject(device), profile(device, 1)), (err: unknown) => isBusError(err, 'unavailable'));
    await assert.rejects(kv.get('before'), (err: unknown) => isBusError(err, 'unavailable'));
    assert.ok(Date.now() - started < 10_000, 'failures are immediate, not timeouts');

    await nats.restart();
    await waitFor('both to reconnect', () => bus.status() === 'connected' && peer.status() === 'connected', 10_000);
    assert.deepEqual(statuses.slice(0, 2), ['reconnecting', 'connected']);
    assert.ok(logger.warnings.some((w) => w.includes('NATS connection lost; reconnecting')));

    // The subscription and the service were re-registered by the client.
    await waitFor('the subscription to resume', () => {
      void peer.publish(executorStatusSubject(device), executorStatus(3)).catch(() => undefined);
      return got.includes(3);
    }, 10_000);
    const reply = await bus.request(inferSubject(device, 'cam'), { requestId: 'up' });
    assert.equal(reply.requestId, 'up');
    assert.equal((await kv.get('before'))?.value, 1, 'the bucket kept its value across the restart');
    await kv.put('after', 2);
    assert.equal((await kv.get('after'))?.value, 2);
  });
});
