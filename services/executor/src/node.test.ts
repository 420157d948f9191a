// The executor node as a Node program embeds it: no gRPC, a simulated device at 100× on a
// scaled clock; plans applied from code, inference, measurements, status, close — and on an
// in-process bus, the same counted inference handler answering the infer subjects.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { isValidationError, validateProblem, type PowerMode } from '@fulcrum/core';
import { createBackend } from '@fulcrum/devices';
import { createInProcessBus, eventFilter, inferSubject, isErrorReply, type PlanAppliedEvent } from '@fulcrum/bus';
import { ScaledClock } from './clock.js';
import { isInferenceError } from './errors.js';
import { createExecutorServiceMetrics, STREAM_LABEL_LIMIT } from './metrics.js';
import { STREAM_STATS_LIMIT } from './executor.js';
import { ExecutorNode } from './node.js';
import { SimulatedEngine } from './service-runner.js';

const MAXN: PowerMode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const LOW_GPU: PowerMode = { ...MAXN, gpuMhz: 420.75 };
const problem = validateProblem({ device: 'orin-agx', trainWorkload: 'resnet18', trainBatchSize: 32, powerBudgetW: 50, streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.6 }] });

function newNode(options: { bus?: ReturnType<typeof createInProcessBus> } = {}) {
  const model = createBackend({ type: 'virtual', device: 'orin-agx', seed: 1, noise: 0 });
  const clock = new ScaledClock(100);
  const registry = new Registry();
  let node: ExecutorNode | undefined;
  const metrics = createExecutorServiceMetrics(registry, () => node?.executor?.status());
  node = new ExecutorNode({ board: 'test-board', device: 'orin-agx', engine: new SimulatedEngine(model, clock, 'test-stack', MAXN), clock, model, metrics, ...(options.bus ? { bus: options.bus } : {}) });
  const streamLabels = async (): Promise<number> => new Set([...(await metrics.requests.get()).values, ...(await metrics.latency.get()).values].map((v) => v.labels.stream)).size;
  const answered = async (): Promise<number> => (await metrics.requests.get()).values.filter((v) => v.labels.outcome === 'ok' || v.labels.outcome === 'late').reduce((a, v) => a + v.value, 0);
  return { node, answered, streamLabels };
}

describe('ExecutorNode (embedded, no gRPC)', () => {
  it('applies plans from code one at a time, serves inference, measures, reports status and closes', async () => {
    const { node, answered } = newNode();
    assert.equal(node.status().state, 'idle');
    await assert.rejects(node.infer('cam'), (err) => isInferenceError(err) && err.code === 'not-running');
    await assert.rejects(node.applyPlan(problem, { planId: 'bad', mode: { ...MAXN, gpuMhz: 1000 }, batchSizes: { cam: 4 } }), (err) => isValidationError(err) && err.field === 'plan.mode.gpuMhz');

    // Two plans at once: applied in call order, the second at a minibatch boundary.
    const [first, second] = await Promise.all([
      node.applyPlan(problem, { planId: 'n1', mode: LOW_GPU, batchSizes: { cam: 4 }, strategy: 'manual' }),
      node.applyPlan(problem, { planId: 'n2', mode: MAXN, batchSizes: { cam: 2 } }),
    ]);
    assert.equal(first.plan.planId, 'n1');
    assert.deepEqual(first.plan.mode, LOW_GPU);
    assert.equal(second.plan.planId, 'n2');
    assert.equal(second.record.streams[0]!.batchSize, 2);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => node.infer('cam', [i])));
    assert.ok(results.every((r) => r.planId === 'n2'));
    assert.equal(await answered(), 10);
    await assert.rejects(node.infer('lidar'), (err) => isInferenceError(err) && err.code === 'unknown-stream');

    const m = await node.measure({ workload: 'resnet18', kind: 'train', batchSize: 8, warmupMinibatches: 0, measuredMinibatches: 2 });
    assert.equal(m.minibatchTimesMs.length, 2);
    assert.equal(m.runner, 'simulated');
    assert.equal(m.softwareStack, 'test-stack');
    await assert.rejects(node.measure({ workload: 'alexnet', kind: 'train', batchSize: 8, warmupMinibatches: 0, measuredMinibatches: 1 }), (err) => isValidationError(err) && err.field === 'workload');

    const s = node.status();
    assert.equal(s.state, 'running');
    assert.equal(s.applied?.plan.planId, 'n2');
    assert.equal(s.executor?.streams[0]?.completed, 10);
    assert.ok(s.executor!.trainMinibatches >= 0);

    await node.close();
    await assert.rejects(node.infer('cam'), (err) => isInferenceError(err) && err.code === 'shutdown');
    await assert.rejects(node.applyPlan(problem, { planId: 'late', mode: MAXN, batchSizes: { cam: 1 } }));
  });

  it('on a bus: answers the infer subjects through the same counted handler and publishes plan.applied', async () => {
    const bus = createInProcessBus();
    const { node, answered } = newNode({ bus });
    const seen: PlanAppliedEvent[] = [];
    const sub = bus.subscribe(eventFilter('plan.applied', 'test-board'), (m) => void seen.push(m.event));
    await sub.ready;
    await node.applyPlan(problem, { planId: 'b1', mode: MAXN, batchSizes: { cam: 4 }, strategy: 'manual' });
    const reply = await bus.request(inferSubject('test-board', 'cam'), { requestId: 'q1', input: [1] }, { timeoutMs: 5000 });
    assert.ok(!isErrorReply(reply), JSON.stringify(reply));
    await node.infer('cam', [2]);
    assert.equal(await answered(), 2, 'the bus request and the direct call are counted alike');
    await sub.drain();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.planId, 'b1');
    assert.equal(seen[0]!.trainWorkload, 'resnet18');
    assert.equal(seen[0]!.strategy, 'manual');
    assert.equal(seen[0]!.feasible, undefined, 'a plan from code carries no planner verdict');
    await node.close();
    await bus.close();
  });

  it('plan after plan with new stream names keeps its statistics, rate meters and metric series bounded (issue 14, soak)', async () => {
    const { node, streamLabels } = newNode();
    for (let i = 0; i < STREAM_STATS_LIMIT + 40; i++) {
      const name = `s${i}`;
      const p = validateProblem({ ...problem, streams: [{ name, workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.6 }] });
      await node.applyPlan(p, { planId: `p${i}`, mode: MAXN, batchSizes: { [name]: 1 } });
      await node.infer(name, [i]);
    }
    await new Promise((r) => setTimeout(r, 50)); // the last retainStreams is asynchronous
    assert.ok(node.executor!.trackedStreams <= STREAM_STATS_LIMIT + 1, `${node.executor!.trackedStreams} streams tracked`);
    assert.ok((await streamLabels()) <= STREAM_LABEL_LIMIT + 2, `${await streamLabels()} stream label values`);
    // The running plan's stream is kept and still counted.
    assert.equal(node.status().executor?.streams[0]?.stream, `s${STREAM_STATS_LIMIT + 39}`);
    await node.close();
  });
});
