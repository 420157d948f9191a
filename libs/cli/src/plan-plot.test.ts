import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVirtualDevice } from '@fulcrum/devices';
import { DEFAULT_CANDIDATE_BATCH_SIZES, type Problem } from '@fulcrum/core';
import { Planner, fromDeviceBackend, getStrategy } from '@fulcrum/strategies';
import { localPlotInput, planPoints } from './commands/plan-plot.js';
import { cli } from './test-support.js';

const problem: Problem = {
  device: 'orin-agx',
  trainWorkload: 'resnet18',
  trainBatchSize: 32,
  powerBudgetW: 30,
  powerSemantics: 'peak',
  streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 30, latencyBudgetS: 0.3, candidateBatchSizes: [...DEFAULT_CANDIDATE_BATCH_SIZES] }],
};

describe('the plan plot', () => {
  it('draws every profiled mode once, the plan as measured, and a true front no mode beats', () => {
    const planner = new Planner(fromDeviceBackend(createVirtualDevice('orin-agx')));
    const plan = planner.solveSync(getStrategy('gmd'), problem);
    const points = planPoints(localPlotInput(planner, problem, plan));
    const profiled = points.filter((p) => p.set === 'profiled');
    assert.equal(profiled.length, new Set(plan.profiledModes).size);
    const chosen = profiled.filter((p) => p.chosen);
    assert.equal(chosen.length, 1);
    assert.equal(chosen[0]!.throughput, plan.predicted.trainThroughputSamplesPerS);
    assert.equal(chosen[0]!.powerW, plan.predicted.powerW);
    assert.ok(chosen[0]!.latencyRatio <= 1, 'the plan meets its latency budget on the measurements');
    if (plan.cost.remeasures > 0) assert.ok(profiled.some((p) => (p.windows ?? 1) > 1));
    const front = points.filter((p) => p.set === 'true front');
    assert.ok(front.length > 10);
    // Non-dominated: X rises with power along it.
    const byPower = [...front].sort((a, b) => a.powerW - b.powerW);
    for (let i = 1; i < byPower.length; i++) assert.ok(byPower[i]!.throughput > byPower[i - 1]!.throughput);
    // No profiled mode meeting latency lies above the true front at its power (it is noise-free, measurements are within noise).
    for (const p of profiled.filter((q) => q.meetsLatency)) {
      const below = byPower.filter((f) => f.powerW <= p.powerW * 1.08);
      if (below.length) assert.ok(p.throughput <= below[below.length - 1]!.throughput * 1.08, `${p.label}: ${p.throughput} at ${p.powerW} W`);
    }
  });

  it('fulcrum solve --plot writes an SVG or PNG; another extension exits 2 before solving', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-plot-'));
    try {
      const args = ['solve', '--train', 'resnet18', '--infer', 'mobilenet', '--rate', '30', '--latency', '0.3', '--power', '30'];
      const svg = await cli(...args, '--plot', join(dir, 'plan.svg'));
      assert.equal(svg.code, 0, svg.stderr);
      assert.match(svg.stdout, /plot: .*plan\.svg/);
      const text = await readFile(join(dir, 'plan.svg'), 'utf8');
      assert.match(text, /^<svg/);
      for (const s of ['budget 30 W', 'chosen plan', 'true front', 'peak power (W)']) assert.ok(text.includes(s), s);
      const png = await cli(...args, '--plot', join(dir, 'plan.png'));
      assert.equal(png.code, 0, png.stderr);
      const bytes = await readFile(join(dir, 'plan.png'));
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      const bad = await cli(...args, '--plot', join(dir, 'plan.pdf'));
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--plot: the file name must end in \.svg or \.png/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
