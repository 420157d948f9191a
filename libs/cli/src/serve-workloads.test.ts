// A remote solve for the user's own workloads: `serve all --workloads DIR --executor.runner=host`
// profiles real PyTorch minibatches of workload folders this test writes (CPU here), and the
// profiles' software stack carries each folder's content hash.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stackBase, stackTag } from '@fulcrum/core';
import { eventFilter } from '@fulcrum/bus';
import { createVirtualDevice } from '@fulcrum/devices';
import { WorkloadRegistry, contentHash, virtualWorkloadsOf } from '@fulcrum/workloads';
import { writeTinyWorkload } from '@fulcrum/workloads/testing';
import { cli, startLocalServices } from './test-support.js';
import type { RunningServices } from './stack.js';

describe('fulcrum serve all --workloads on the host engine + solve --remote', () => {
  let dir: string;
  let models: string;
  let running: RunningServices;
  let address: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-serve-wl-'));
    models = join(dir, 'my-models');
    writeTinyWorkload(join(models, 'my-trainer'), { name: 'my-trainer' });
    writeTinyWorkload(join(models, 'my-detector'), { name: 'my-detector', train: false });
    running = await startLocalServices([`--workloads.paths=${models}`, '--executor.runner=host', '--executor.host.device=cpu', '--executor.checkpoints.enabled=false'], dir);
    address = running.optimizer!.address;
  });
  after(async () => {
    await running?.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("profiles real minibatches of the user's folders and applies a plan; the keys' stack names each folder's hash", async () => {
    const r = await cli('solve', '--remote', address, '--train', 'my-trainer', '--train-batch', '16', '--infer', 'my-detector', '--batch-sizes', '1,2,4', '--rate', '10', '--latency', '0.5', '--power', '60', '--strategy', 'gmd', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.plan.feasible, true, JSON.stringify(out.plan));
    assert.ok(out.cost.modesProfiled >= 1);
    // Real minibatches: the executor's host engine measured them (its Python workers ran).
    const engine = running.executor!.runner.engine;
    assert.equal(engine.name, 'python-torch');
    const page = await running.profiler!.profiler.getProfiles({ workload: 'my-trainer' });
    assert.ok(page.results.length >= 1);
    const tag = stackTag(page.results[0]!.softwareStack);
    assert.equal(tag, `my-trainer@${contentHash(join(models, 'my-trainer')).slice(0, 12)}`);
    assert.ok(page.results.every((p) => p.timeMs > 0 && p.timeMs < 1000), 'CPU times of a tiny MLP');
    const det = await running.profiler!.profiler.getProfiles({ workload: 'my-detector' });
    assert.equal(stackTag(det.results[0]!.softwareStack), `my-detector@${contentHash(join(models, 'my-detector')).slice(0, 12)}`);
    assert.equal(stackBase(det.results[0]!.softwareStack), stackBase(page.results[0]!.softwareStack));
    // The plan runs on the executor: the user's trainer trains there.
    const applied = running.executor!.node.status().applied;
    assert.equal(applied?.problem.trainWorkload, 'my-trainer', JSON.stringify({ applied: out.applied, status: running.executor!.node.status().state }));
    // Its status reaches the bus with the worker's training step (a uint64: every executor.status
    // of a real worker failed its own check and was dropped, so live views saw no board).
    const steps: number[] = [];
    const sub = running.bus!.subscribe(eventFilter('executor.status'), (m) => {
      if (m.event.trainStep !== undefined) steps.push(m.event.trainStep);
    });
    const deadline = Date.now() + 10_000;
    while (steps.length === 0 && Date.now() < deadline) await sleep(100);
    sub.unsubscribe();
    assert.ok(steps.length > 0 && typeof steps[0] === 'number' && steps[0] > 0, `executor.status with a training step: ${JSON.stringify(steps)}`);
  });

  it('a workload no folder defines is refused naming the field', async () => {
    const r = await cli('solve', '--remote', address, '--train', 'my-trainer', '--infer', 'their-model', '--rate', '10', '--latency', '0.5', '--power', '60');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /problem\.streams\[0\]\.workload\.name: unknown workload "their-model"; known workloads: .*my-detector/);
  });
});

describe('fulcrum serve all --workloads on the virtual board + solve --remote', () => {
  let dir: string;
  let models: string;
  let running: RunningServices;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-serve-wl-virtual-'));
    models = join(dir, 'my-models');
    writeTinyWorkload(join(models, 'my-trainer'), { name: 'my-trainer' });
    writeTinyWorkload(join(models, 'my-detector'), { name: 'my-detector', train: false });
    running = await startLocalServices([`--workloads.paths=${models}`], dir);
  });
  after(async () => {
    await running?.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("plans for the user's workloads from their cost: sections on the virtual Orin AGX, and the controller's power follows them", async () => {
    const r = await cli('solve', '--remote', running.optimizer!.address, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '50', '--latency', '0.1', '--power', '20', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.plan.feasible, true, JSON.stringify(out.plan));
    assert.ok(out.plan.powerW <= 20);
    // No --batch-sizes: the optimizer planned among the folder's own (infer.batch_sizes), not 1…64.
    assert.deepEqual(out.problem.streams[0].candidateBatchSizes, [1, 2, 4, 8]);
    assert.ok([1, 2, 4, 8].includes(out.plan.batchSizes.stream0), JSON.stringify(out.plan.batchSizes));
    const given = await cli('solve', '--remote', running.optimizer!.address, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '50', '--latency', '0.1', '--power', '20', '--batch-sizes', '2,4', '--json');
    assert.deepEqual(JSON.parse(given.stdout).problem.streams[0].candidateBatchSizes, [2, 4], given.stderr);
    const page = await running.profiler!.profiler.getProfiles({ workload: 'my-trainer', kind: 'train' });
    assert.ok(page.results.length >= 1);
    // The controller's power while the user's model trains is the virtual model of that workload
    // (from its cost: section), not idle power: within the board's noise of the noise-free model.
    const model = createVirtualDevice('orin-agx', { noise: 0, workloads: virtualWorkloadsOf(WorkloadRegistry.load([models]).userFolders()) });
    for (const p of page.results) {
      const truth = model.groundTruth({ mode: p.mode, workload: 'my-trainer', kind: 'train', batchSize: p.batchSize }).powerW;
      assert.ok(Math.abs(p.powerW - truth) / truth < 0.1, `measured ${p.powerW.toFixed(2)} W vs model ${truth.toFixed(2)} W at ${JSON.stringify(p.mode)}`);
    }
  });
});
