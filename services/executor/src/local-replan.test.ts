// One owner for re-planning (issue 15, 3): the optimizer re-plans when rates move; the executor
// keeps the front its plan came with and re-plans from it itself only when no new plan came
// within executor.localReplanAfterS — and says so (Status: replanOwner local, localReplans, the
// plan's strategy local-front). A plan without a front never re-plans locally.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateProblem, type PowerMode } from '@fulcrum/core';
import { createBackend } from '@fulcrum/devices';
import type { FrontModeRecord } from '@fulcrum/proto';
import { ScaledClock } from './clock.js';
import { ExecutorNode } from './node.js';
import { SimulatedEngine } from './service-runner.js';

const MAXN: PowerMode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const MODES: PowerMode[] = [MAXN, { ...MAXN, gpuMhz: 828.75 }, { ...MAXN, gpuMhz: 420.75 }];
const model = createBackend({ type: 'virtual', device: 'orin-agx', seed: 1, noise: 0 });
// Planned for 2 requests/s; the traffic below comes at about 8/s.
const problem = validateProblem({ device: 'orin-agx', trainWorkload: 'resnet18', trainBatchSize: 32, powerBudgetW: 60, streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 2, latencyBudgetS: 2, candidateBatchSizes: [1, 2, 4, 8] }] });

function frontOf(modes: readonly PowerMode[]): FrontModeRecord[] {
  return modes.map((mode) => {
    const t = model.groundTruth({ mode, workload: 'resnet18', kind: 'train', batchSize: 32 });
    return {
      mode,
      training: { timeS: t.timeMs / 1000, powerW: t.powerW },
      inference: problem.streams[0]!.candidateBatchSizes.map((b) => {
        const x = model.groundTruth({ mode, workload: 'mobilenet', kind: 'infer', batchSize: b });
        return { stream: 'cam', batchSize: b, timeS: x.timeMs / 1000, powerW: x.powerW };
      }),
    };
  });
}

async function traffic(node: ExecutorNode, clock: ScaledClock, ratePerDeviceS: number, wallS: number): Promise<void> {
  const gapMs = 1000 / (ratePerDeviceS * clock.scale);
  const pending: Promise<unknown>[] = [];
  for (const end = Date.now() + wallS * 1000; Date.now() < end; await sleep(gapMs)) pending.push(node.infer('cam').catch(() => undefined));
  await Promise.all(pending);
}

describe('local re-planning while the optimizer is silent', () => {
  it('re-plans from the front after localReplanAfterS when no new plan came, and says so', async () => {
    const clock = new ScaledClock(5);
    const node = new ExecutorNode({ board: 'test-board', device: 'orin-agx', engine: new SimulatedEngine(model, clock, 'test-stack', MAXN), clock, model, limits: { localReplanAfterS: 0.3 } });
    try {
      await node.applyPlan(problem, { planId: 'from-optimizer', mode: MODES[2]!, batchSizes: { cam: 1 }, strategy: 'gmd' }, { front: frontOf(MODES) });
      assert.deepEqual([node.status().replanOwner, node.status().localReplans], ['optimizer', 0]);
      // 10 device-s window = 2 s wall at scale 5; the rate is 4× the plan's.
      await traffic(node, clock, 8, 4.5);
      const s = node.status();
      assert.equal(s.replanOwner, 'local', 'the executor re-planned itself');
      assert.ok(s.localReplans >= 1);
      assert.equal(s.applied?.plan.strategy, 'local-front');
      assert.match(s.applied!.plan.planId, /^local-front-\d+$/);
      assert.ok(MODES.some((m) => JSON.stringify(m) === JSON.stringify(s.applied!.plan.mode)), 'a mode of the front');
      assert.ok(s.applied!.problem.streams[0]!.arrivalRatePerS > 4, `planned for the measured rate (${s.applied!.problem.streams[0]!.arrivalRatePerS.toFixed(1)}/s)`);
      // The optimizer's next plan takes re-planning back.
      await node.applyPlan(problem, { planId: 'optimizer-again', mode: MAXN, batchSizes: { cam: 4 } });
      assert.equal(node.status().replanOwner, 'optimizer');
    } finally {
      await node.close();
    }
  });

  it('never re-plans locally without a front, nor while the optimizer answers in time', async () => {
    const clock = new ScaledClock(5);
    const node = new ExecutorNode({ board: 'test-board', device: 'orin-agx', engine: new SimulatedEngine(model, clock, 'test-stack', MAXN), clock, model, limits: { localReplanAfterS: 0.3 } });
    try {
      await node.applyPlan(problem, { planId: 'no-front', mode: MODES[2]!, batchSizes: { cam: 1 } });
      await traffic(node, clock, 8, 3);
      assert.deepEqual([node.status().replanOwner, node.status().localReplans, node.status().applied?.plan.planId], ['optimizer', 0, 'no-front']);
    } finally {
      await node.close();
    }
    const clock2 = new ScaledClock(5);
    const answered = new ExecutorNode({ board: 'test-board', device: 'orin-agx', engine: new SimulatedEngine(model, clock2, 'test-stack', MAXN), clock: clock2, model, limits: { localReplanAfterS: 3 } });
    try {
      await answered.applyPlan(problem, { planId: 'with-front', mode: MODES[2]!, batchSizes: { cam: 1 } }, { front: frontOf(MODES) });
      const load = traffic(answered, clock2, 8, 4);
      // The "optimizer" answers the moved rate 2.5 s in, inside the 3 s wait.
      await sleep(2500);
      await answered.applyPlan({ ...problem, streams: [{ ...problem.streams[0]!, arrivalRatePerS: 8 }] }, { planId: 'optimizer-replan', mode: MAXN, batchSizes: { cam: 2 } }, { front: frontOf(MODES) });
      await load;
      await sleep(700);
      assert.deepEqual([answered.status().replanOwner, answered.status().localReplans, answered.status().applied?.plan.planId], ['optimizer', 0, 'optimizer-replan']);
    } finally {
      await answered.close();
    }
  });
});
