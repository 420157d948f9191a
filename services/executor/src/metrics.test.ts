// The executor's plan gauges (issue 17, 2: what the Grafana dashboard draws the measured values
// against): the running plan's power budget, its predicted power and training throughput, each
// stream's latency budget and its p99 since the plan was applied. No sample before the first plan
// (a budget of 0 W would be drawn as one), and a plan without a prediction has none either.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { validateProblem, type PowerMode } from '@fulcrum/core';
import { createBackend } from '@fulcrum/devices';
import { common } from '@fulcrum/proto';
import { ScaledClock } from './clock.js';
import { createExecutorServiceMetrics } from './metrics.js';
import { ExecutorNode } from './node.js';
import { planFigures } from './service.js';
import { SimulatedEngine } from './service-runner.js';

const MAXN: PowerMode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const problem = validateProblem({
  device: 'orin-agx',
  trainWorkload: 'resnet18',
  trainBatchSize: 32,
  powerBudgetW: 42,
  streams: [
    { name: 'cam', workload: 'mobilenet', arrivalRatePerS: 20, latencyBudgetS: 0.6 },
    { name: 'lidar', workload: 'mobilenet', arrivalRatePerS: 5, latencyBudgetS: 0.25 },
  ],
});

/** The samples of one metric in the registry's text output, as `{labels} value` lines. */
async function samples(registry: Registry, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

describe('executor plan gauges', () => {
  it('report the running plan’s budgets and predictions, and nothing before a plan', async () => {
    const model = createBackend({ type: 'virtual', device: 'orin-agx', seed: 1, noise: 0 });
    const clock = new ScaledClock(100);
    const registry = new Registry();
    let node: ExecutorNode | undefined;
    // The same wiring as the service (service.ts).
    const metrics = createExecutorServiceMetrics(registry, () => node?.executor?.status(), () => planFigures(node));
    node = new ExecutorNode({ board: 'test-board', device: 'orin-agx', engine: new SimulatedEngine(model, clock, 'test-stack', MAXN), clock, model, metrics });
    try {
      for (const name of [
        'fulcrum_executor_power_budget_watts',
        'fulcrum_executor_predicted_power_watts',
        'fulcrum_executor_predicted_train_throughput_samples_per_second',
        'fulcrum_executor_latency_budget_seconds',
        'fulcrum_executor_request_latency_p99_seconds',
      ]) {
        assert.equal((await samples(registry, name)).size, 0, `${name}: no sample before the first plan`);
      }

      // A plan made in code: a throughput prediction, no power prediction.
      await node.applyPlan(problem, { planId: 'p1', mode: MAXN, batchSizes: { cam: 4, lidar: 1 }, predictedTrainThroughputSamplesPerS: 123.5 });
      assert.deepEqual(await samples(registry, 'fulcrum_executor_power_budget_watts'), new Map([['', 42]]));
      assert.deepEqual(await samples(registry, 'fulcrum_executor_predicted_train_throughput_samples_per_second'), new Map([['', 123.5]]));
      assert.equal((await samples(registry, 'fulcrum_executor_predicted_power_watts')).size, 0, 'no power prediction: no sample');
      assert.deepEqual(
        await samples(registry, 'fulcrum_executor_latency_budget_seconds'),
        new Map([
          ['{stream="cam"}', 0.6],
          ['{stream="lidar"}', 0.25],
        ]),
      );
      assert.equal((await samples(registry, 'fulcrum_executor_request_latency_p99_seconds')).size, 0, 'no request answered yet');

      await Promise.all(Array.from({ length: 8 }, (_, i) => node!.infer('cam', [i])));
      const p99 = await samples(registry, 'fulcrum_executor_request_latency_p99_seconds');
      assert.deepEqual([...p99.keys()], ['{stream="cam"}'], 'only the stream that answered has a p99');
      const statusP99 = node.executor!.status().streams.find((s) => s.stream === 'cam')!.latency.p99S;
      assert.ok(statusP99 > 0);
      assert.equal(p99.get('{stream="cam"}'), statusP99, 'the p99 Status reports');

      // The planner's record: its predicted power and throughput are what the gauges show.
      const record = common.Plan.fromPartial({ planId: 'p2', predictedPowerW: 31.25, predictedTrainThroughputSamplesPerS: 99, streams: [{ stream: 'cam', batchSize: 2 }] });
      await node.applyPlan({ ...problem, powerBudgetW: 35, streams: problem.streams.slice(0, 1) }, { planId: 'p2', mode: MAXN, batchSizes: { cam: 2 } }, { record });
      assert.deepEqual(await samples(registry, 'fulcrum_executor_power_budget_watts'), new Map([['', 35]]));
      assert.deepEqual(await samples(registry, 'fulcrum_executor_predicted_power_watts'), new Map([['', 31.25]]));
      assert.deepEqual(await samples(registry, 'fulcrum_executor_predicted_train_throughput_samples_per_second'), new Map([['', 99]]));
      assert.deepEqual(await samples(registry, 'fulcrum_executor_latency_budget_seconds'), new Map([['{stream="cam"}', 0.6]]), 'the dropped stream has no budget any more');
    } finally {
      await node.close();
    }
  });
});
