import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ActivityState, type ExecutorActivity } from '@fulcrum/bus';
import { ActivityPublisher, IDLE } from './activity.js';

const train: ExecutorActivity = { state: ActivityState.TRAIN, workload: 'resnet18', batchSize: 32 };
const infer: ExecutorActivity = { state: ActivityState.INFER, workload: 'mobilenet', batchSize: 4, stream: 'cam' };

test('publishes a change at once, coalesces changes within the interval into the latest, and skips repeats', async () => {
  const sent: ExecutorActivity[] = [];
  const p = new ActivityPublisher({ publish: (a) => void sent.push(a), minIntervalMs: 40, heartbeatMs: 0, idleGraceMs: 5 });
  p.set(train);
  assert.deepEqual(sent, [train], 'the first change goes out at once');
  p.set(infer);
  p.set(train);
  p.set(infer);
  assert.equal(sent.length, 1, 'changes inside the interval wait');
  await sleep(80);
  assert.deepEqual(sent, [train, infer], 'then only the latest state goes out');
  p.set(infer);
  await sleep(60);
  assert.equal(sent.length, 2, 'an unchanged state is not re-sent');
  p.close();
});

test('idleSoon turns idle only when nothing starts within the grace period', async () => {
  const sent: ExecutorActivity[] = [];
  const p = new ActivityPublisher({ publish: (a) => void sent.push(a), minIntervalMs: 0, heartbeatMs: 0, idleGraceMs: 20 });
  p.set(train);
  p.idleSoon();
  p.set(train); // back-to-back minibatch: no idle in between
  await sleep(40);
  assert.deepEqual(sent, [train]);
  p.idleSoon();
  await sleep(40);
  assert.deepEqual(sent, [train, IDLE]);
  p.close();
});

test('now() bypasses the rate limit and waits for the publish; the heartbeat re-sends; failures are counted', async () => {
  const sent: ExecutorActivity[] = [];
  let fail = false;
  const errors: unknown[] = [];
  const p = new ActivityPublisher({
    publish: async (a) => {
      if (fail) throw new Error('bus down');
      sent.push(a);
    },
    minIntervalMs: 10_000,
    heartbeatMs: 30,
    onError: (e) => errors.push(e),
  });
  p.set(train);
  await p.now(infer);
  assert.deepEqual(sent.slice(0, 2), [train, infer], 'now() is not held back by the interval');
  await sleep(80);
  assert.ok(sent.length >= 3 && sent.slice(2).every((a) => a === infer), 'heartbeats repeat the current state');
  fail = true;
  await p.now(IDLE);
  assert.equal(p.failures, 1);
  assert.equal(errors.length, 1);
  p.close();
  const n = sent.length;
  await sleep(80);
  assert.equal(sent.length, n, 'nothing after close');
});
