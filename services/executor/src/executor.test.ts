import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ScaledClock } from './clock.js';
import { InferenceError, WorkerCrashedError } from './errors.js';
import { ValidationError } from '@fulcrum/core';
import { Executor, MAX_QUEUE_DEPTH, type InferOutcome } from './executor.js';
import { SimulatedRunner, fixedTimes } from './runners/simulated.js';
import type { ExecutorEvent, InferenceBatchResult, MinibatchRunner, TrainingResult } from './types.js';

const problem = { trainBatchSize: 8, streams: [{ name: 'cam', arrivalRatePerS: 50, latencyBudgetS: 2 }] };
const plan = { planId: 'p1', batchSizes: { cam: 4 }, trainTimeS: 0.2, inferTimeS: { cam: 0.05 } };

// A failed assertion must not leave an executor's loop running: the file would then hang until the
// runner's timeout instead of reporting the failure.
const started = new Set<Executor>();
afterEach(async () => {
  await Promise.all([...started].map((e) => e.stop({ drain: false })));
  started.clear();
});

function simulatedExecutor(extra: Partial<ConstructorParameters<typeof Executor>[0]> = {}, scale = 50) {
  const clock = new ScaledClock(scale);
  const runner = new SimulatedRunner(fixedTimes({ trainTimeS: 0.2, inferTimeS: { cam: (b) => 0.02 + 0.01 * b } }), { clock });
  const events: ExecutorEvent[] = [];
  const executor = new Executor({ runner, problem, plan, clock, events: { publish: (e) => events.push(e) }, telemetryIntervalS: 0.5, ...extra });
  started.add(executor);
  return { executor, events, clock };
}

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof InferenceError, String(err));
    return err.code;
  }
};

describe('Executor (simulated runner, scaled clock)', () => {
  it('answers every request: full batches of b, a partial batch at the end on drain, training in between', async () => {
    const { executor, events } = simulatedExecutor();
    executor.start();
    const answers: Promise<InferOutcome>[] = [];
    for (let i = 0; i < 10; i++) answers.push(executor.infer('cam', { i }));
    const results = await Promise.all(answers.slice(0, 8));
    assert.deepEqual(results.map((r) => r.batchSize), [4, 4, 4, 4, 4, 4, 4, 4]);
    const status = await executor.stop();
    const rest = await Promise.all(answers.slice(8));
    assert.deepEqual(rest.map((r) => r.batchSize), [2, 2]);
    assert.equal(status.state, 'stopped');
    assert.equal(status.streams[0]!.completed, 10);
    assert.equal(status.streams[0]!.accepted, 10);
    assert.ok(status.trainMinibatchesTotal >= 1);
    assert.ok(events.some((e) => e.type === 'plan.applied'));
    assert.equal(await codeOf(executor.infer('cam')), 'shutdown');
  });

  it('refuses a maxQueueDepth that is not a positive integer ≤ MAX_QUEUE_DEPTH (100,000), naming it', () => {
    for (const [depth, reason] of [
      [0, /must be a positive integer, got 0/],
      [-5, /must be a positive integer, got -5/],
      [Number.NaN, /must be a positive integer, got NaN/],
      [2.5, /must be a positive integer, got 2\.5/],
      [1e12, /must be at most 100000 \(each queued request holds memory; deeper queues only hold late requests\), got 1000000000000/],
      [MAX_QUEUE_DEPTH + 1, /must be at most 100000/],
    ] as const) {
      assert.throws(
        () => new Executor({ runner: new SimulatedRunner(fixedTimes({ trainTimeS: 0.2, inferTimeS: { cam: () => 0.02 } })), problem, plan, maxQueueDepth: depth }),
        (e: unknown) => e instanceof ValidationError && e.field === 'maxQueueDepth' && reason.test(e.message),
        String(depth),
      );
    }
    // The limit itself, and the default, are taken.
    assert.equal(simulatedExecutor({ maxQueueDepth: MAX_QUEUE_DEPTH }).executor.status().state, 'idle');
    assert.equal(simulatedExecutor().executor.status().state, 'idle');
  });

  it('explicit errors: unknown stream, not running, shed, shutdown without drain', async () => {
    const { executor } = simulatedExecutor({ maxQueueDepth: 2, training: true });
    assert.equal(await codeOf(executor.infer('cam')), 'not-running');
    executor.start();
    assert.equal(await codeOf(executor.infer('nope')), 'unknown-stream');
    // A 100 KB stream name is quoted short (the message becomes a gRPC status; found by test/fuzz).
    const long = await executor.infer('\u0000'.repeat(100_000)).then(() => assert.fail('answered'), (err: unknown) => err as InferenceError);
    assert.equal(long.code, 'unknown-stream');
    assert.ok(long.message.length < 1000, `${long.message.length} characters`);
    assert.match(long.message, /100000 characters/);
    // b = 4 never fills with 2 queued; the third is shed.
    const a = executor.infer('cam');
    const b = executor.infer('cam');
    assert.equal(await codeOf(executor.infer('cam')), 'shed');
    const status = executor.stop({ drain: false });
    assert.deepEqual(await Promise.all([codeOf(a), codeOf(b)]), ['shutdown', 'shutdown']);
    const s = await status;
    assert.deepEqual(s.streams[0]!.failed, { shed: 1, shutdown: 2 });
  });

  it('applyPlan switches batch size at a minibatch boundary', async () => {
    const { executor, events } = simulatedExecutor();
    executor.start();
    await executor.applyPlan({ planId: 'p2', batchSizes: { cam: 1 } });
    const r = await executor.infer('cam');
    assert.equal(r.batchSize, 1);
    assert.equal(r.planId, 'p2');
    await executor.stop();
    assert.deepEqual(events.filter((e) => e.type === 'plan.applied').map((e) => (e.type === 'plan.applied' ? e.plan.planId : '')), ['p1', 'p2']);
  });

  it('the deadline rule serves a partial batch before the budget runs out', async () => {
    // Scale 5, not 50: the 0.6 s budget is 120 ms of real time, so a loaded CI machine's timer
    // jitter (which failed this test at 12 ms) does not decide it.
    const { executor } = simulatedExecutor({}, 5);
    executor.start();
    await executor.applyPlan(plan, { ...problem, streams: [{ name: 'cam', arrivalRatePerS: 1, latencyBudgetS: 0.6 }] });
    const r = await executor.infer('cam');
    assert.equal(r.batchSize, 1);
    assert.ok(r.queueS < 0.6, `queued ${r.queueS.toFixed(3)} s against a 0.6 s budget`);
    await executor.stop();
  });

  it('publishes telemetry and measured rates; asks the replanner when the rate moves', async () => {
    const requests: number[] = [];
    const { executor, events } = simulatedExecutor({
      windowS: 1,
      replanMinIntervalS: 1,
      noiseSigmas: 0,
      replanner: { replan: (req) => (requests.push(req.measuredRatesPerS['cam']!), { planId: 'p-new', batchSizes: { cam: 2 } }) },
    });
    executor.start();
    // 20/s instead of the planned 50/s, for 2.5 clock seconds (scale 50: 50 ms), and on until the
    // re-plan is applied (a loaded host may take longer to get there), at most 60 clock seconds.
    const clock = new ScaledClock(50);
    const answers: Promise<InferOutcome>[] = [];
    const applied = (): boolean => events.some((e) => e.type === 'plan.applied' && e.plan.planId === 'p-new');
    while (clock.nowS() < 2.5 || (!applied() && clock.nowS() < 60)) {
      answers.push(executor.infer('cam'));
      await clock.sleep(0.05);
    }
    await executor.stop();
    await Promise.all(answers);
    assert.ok(requests.length >= 1);
    assert.ok(events.some((e) => e.type === 'telemetry'));
    assert.ok(events.some((e) => e.type === 'arrivals.rate'));
    assert.ok(events.some((e) => e.type === 'plan.applied' && e.plan.planId === 'p-new'));
  });
});

class FlakyRunner implements MinibatchRunner {
  readonly name = 'flaky';
  inferCalls = 0;
  async runTraining(): Promise<TrainingResult> {
    await new Promise((r) => setTimeout(r, 1));
    return { timeS: 0.001 };
  }
  async runInference(_stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    if (++this.inferCalls === 1) throw new WorkerCrashedError('flaky', 'worker exited with signal SIGKILL');
    return { timeS: 0.001, outputs: inputs.map((x) => x) };
  }
  async close(): Promise<void> {}
}

describe('Executor with a failing worker', () => {
  it('a crash fails the in-flight batch with explicit errors, is reported, and serving continues', async () => {
    const events: ExecutorEvent[] = [];
    const executor = new Executor({ runner: new FlakyRunner(), problem, plan: { planId: 'p', batchSizes: { cam: 2 } }, events: { publish: (e) => events.push(e) } });
    executor.start();
    const first = [executor.infer('cam', 1), executor.infer('cam', 2)];
    assert.deepEqual(await Promise.all(first.map(codeOf)), ['worker', 'worker']);
    const second = await Promise.all([executor.infer('cam', 3), executor.infer('cam', 4)]);
    assert.deepEqual(second.map((r) => r.output), [3, 4]);
    const status = await executor.stop();
    assert.equal(status.workerCrashes, 1);
    assert.ok(events.some((e) => e.type === 'worker.crashed' && e.failedRequests === 2));
  });
});
