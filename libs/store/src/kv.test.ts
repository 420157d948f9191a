import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectNatsBus, createInProcessBus, type BusLogger, type EventBus } from '@fulcrum/bus';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { openProfileStore } from './config.js';
import { openKvProfileStore, profileKvKey } from './kv.js';
import { freshDevice, profileStoreSuite, result } from './store.suite.js';

const silent: BusLogger = { warn: () => undefined, info: () => undefined };
let nats: NatsServer;
let bus: EventBus;
before(async () => {
  nats = await startNatsServer();
  bus = await connectNatsBus({ url: nats.url, reconnectTimeWaitMs: 100, logger: silent });
});
after(async () => {
  await bus.close();
  await nats.stop();
});

profileStoreSuite('JetStream KV', () => openKvProfileStore(bus));

const inProcess = createInProcessBus({ logger: silent });
after(() => inProcess.close());
profileStoreSuite('KV on the in-process bus', () => openKvProfileStore(inProcess, { bucket: 'profiles-test' }));

test('kv: key layout is one token per key part', () => {
  assert.equal(
    profileKvKey(result('orin-1')),
    'orin-1.jp6=2E0=2Ftorch-2=2E3.resnet18.infer.b4.12=2C2201=2E6=2C1300=2E5=2C3199',
  );
});

test('kv: two boards share profiles through one bucket; results survive a NATS restart', async (t) => {
  const device = freshDevice();
  const other = await connectNatsBus({ url: nats.url, reconnectTimeWaitMs: 100, logger: silent });
  t.after(() => other.close());
  const a = await openProfileStore({ backend: 'kv', bus, bucket: 'shared-profiles' });
  const b = await openProfileStore({ backend: 'kv', bus: other, bucket: 'shared-profiles' });
  assert.equal(await a.putIfAbsent(result(device)), true);
  assert.equal(await b.putIfAbsent(result(device, { timeMs: 1 })), false, 'the other board sees it is already profiled');
  await nats.kill();
  await nats.restart();
  const waitConnected = async (x: EventBus): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (x.status() !== 'connected') {
      if (Date.now() > deadline) throw new Error('no reconnect');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all([waitConnected(bus), waitConnected(other)]);
  assert.deepEqual(await b.get(result(device)), result(device));
  assert.deepEqual(await a.query({ device }), [result(device)]);
});
