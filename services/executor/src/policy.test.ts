import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Fifo, InterleavingScheduler, type QueuedRequest, type TimeEstimates } from './policy.js';

const est = (trainTimeS: number, inferTimeS: number): TimeEstimates => ({ trainTimeS: () => trainTimeS, inferTimeS: () => inferTimeS });
const req = (arrivalS: number, budgetS = 1): QueuedRequest => ({ arrivalS, deadlineS: arrivalS + budgetS });

describe('Fifo', () => {
  it('pushes, shifts and takes in order across compactions', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    assert.equal(q.shift(), 0);
    assert.deepEqual(q.take(3), [1, 2, 3]);
    for (let i = 4; i < 3000; i++) assert.equal(q.shift(), i);
    assert.equal(q.length, 2000);
    assert.equal(q.peek(), 3000);
    assert.equal(q.drain().length, 2000);
    assert.equal(q.shift(), undefined);
  });
});

describe('InterleavingScheduler (SPEC §2 policy)', () => {
  it('trains while no batch is full, and runs a full batch of b first', () => {
    const s = new InterleavingScheduler([{ name: 'a', latencyBudgetS: 1, batchSize: 3 }]);
    assert.deepEqual(s.decide(0, true, est(0.1, 0.05)), { kind: 'train' });
    s.enqueue(0, req(0));
    s.enqueue(0, req(0.01));
    assert.deepEqual(s.decide(0.02, true, est(0.1, 0.05)), { kind: 'train' });
    s.enqueue(0, req(0.02));
    s.enqueue(0, req(0.03));
    assert.deepEqual(s.decide(0.03, true, est(0.1, 0.05)), { kind: 'infer', stream: 0, count: 3, reason: 'full' });
    assert.equal(s.take(0, 3).length, 3);
    assert.equal(s.queued(), 1);
  });

  it('deadline rule: a partial batch when age + tT + tI > L, training when it still fits', () => {
    const s = new InterleavingScheduler([{ name: 'a', latencyBudgetS: 0.5, batchSize: 8 }]);
    s.enqueue(0, req(0, 0.5));
    s.enqueue(0, req(0.1, 0.5));
    // age 0.3 + 0.15 + 0.05 = 0.5, not > 0.5: train.
    assert.deepEqual(s.decide(0.3, true, est(0.15, 0.05)), { kind: 'train' });
    // age 0.31: would finish at 0.51 > 0.5: serve the two now.
    assert.deepEqual(s.decide(0.31, true, est(0.15, 0.05)), { kind: 'infer', stream: 0, count: 2, reason: 'deadline' });
  });

  it('deadline rule off: only full batches preempt training', () => {
    const s = new InterleavingScheduler([{ name: 'a', latencyBudgetS: 0.5, batchSize: 8 }], { deadlineRule: false });
    s.enqueue(0, req(0, 0.5));
    assert.deepEqual(s.decide(10, true, est(0.15, 0.05)), { kind: 'train' });
  });

  it('K = 2: earliest deadline first among full batches; the rule counts every stream’s tI', () => {
    const s = new InterleavingScheduler([
      { name: 'a', latencyBudgetS: 1, batchSize: 1 },
      { name: 'b', latencyBudgetS: 0.2, batchSize: 1 },
    ]);
    s.enqueue(0, req(0, 1));
    s.enqueue(1, req(0.05, 0.2));
    assert.deepEqual(s.decide(0.06, true, est(0.1, 0.01)), { kind: 'infer', stream: 1, count: 1, reason: 'full' });
    const t = new InterleavingScheduler([
      { name: 'a', latencyBudgetS: 0.4, batchSize: 4 },
      { name: 'b', latencyBudgetS: 10, batchSize: 4 },
    ]);
    t.enqueue(0, req(0, 0.4));
    // 0.2 + tT 0.1 + tI,a 0.05 + tI,b 0.05 = 0.4: fits; with 0.21 it does not.
    assert.equal(t.decide(0.2, true, est(0.1, 0.05)).kind, 'train');
    assert.deepEqual(t.decide(0.21, true, est(0.1, 0.05)), { kind: 'infer', stream: 0, count: 1, reason: 'deadline' });
  });

  it('no training job: waits for a full batch or until waiting longer would miss', () => {
    const s = new InterleavingScheduler([{ name: 'a', latencyBudgetS: 0.5, batchSize: 4 }]);
    assert.deepEqual(s.decide(0, false, est(0.1, 0.1)), { kind: 'idle', wakeAtS: Infinity });
    s.enqueue(0, req(0, 0.5));
    const d = s.decide(0.1, false, est(0.1, 0.1));
    assert.equal(d.kind, 'idle');
    assert.ok(d.kind === 'idle' && Math.abs(d.wakeAtS - 0.4) < 1e-12);
    assert.deepEqual(s.decide(0.4, false, est(0.1, 0.1)), { kind: 'infer', stream: 0, count: 1, reason: 'no-training' });
  });

  it('draining serves partial batches and never trains', () => {
    const s = new InterleavingScheduler([{ name: 'a', latencyBudgetS: 5, batchSize: 4 }]);
    s.enqueue(0, req(0, 5));
    assert.deepEqual(s.decide(0, true, est(0.1, 0.1), true), { kind: 'infer', stream: 0, count: 1, reason: 'drain' });
    s.take(0, 1);
    assert.deepEqual(s.decide(0, true, est(0.1, 0.1), true), { kind: 'idle', wakeAtS: Infinity });
  });

  it('a new plan keeps queues of streams that stay and returns the others’ requests', () => {
    const s = new InterleavingScheduler([
      { name: 'a', latencyBudgetS: 1, batchSize: 4 },
      { name: 'b', latencyBudgetS: 1, batchSize: 4 },
    ]);
    s.enqueue(0, req(0));
    s.enqueue(1, req(0));
    const orphans = s.configure([{ name: 'a', latencyBudgetS: 2, batchSize: 1 }]);
    assert.equal(orphans.length, 1);
    assert.equal(s.streams[0]!.batchSize, 1);
    assert.equal(s.queued(), 1);
    assert.deepEqual(s.decide(0, true, est(0.1, 0.1)), { kind: 'infer', stream: 0, count: 1, reason: 'full' });
  });

  it('takeExpired removes requests past their deadline', () => {
    const s = new InterleavingScheduler([{ name: 'a', latencyBudgetS: 1, batchSize: 4 }]);
    s.enqueue(0, req(0, 1));
    s.enqueue(0, req(0.5, 1));
    assert.equal(s.takeExpired(1.2).length, 1);
    assert.equal(s.queued(), 1);
  });
});
