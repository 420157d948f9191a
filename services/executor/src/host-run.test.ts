// `fulcrum run`'s engine with the Python worker killed by SIGKILL mid-run: a workload folder this
// test writes trains (checkpoints every few steps) and serves the stream from the same worker, so
// the kill hits training and inference. Training resumes from the last checkpoint; every request
// is answered or gets an explicit error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '@fulcrum/core';
import { WorkloadRegistry } from '@fulcrum/workloads';
import { writeTinyWorkload } from '@fulcrum/workloads/testing';
import { runOnHost } from './host-run.js';

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-host-run-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('runOnHost arguments', () => {
  it("refuses a stream's rate and latency budget past the problem limits, naming the field, before any worker starts", async () => {
    writeTinyWorkload(join(dir, 'args', 'my-model'), { name: 'my-model' });
    const registry = WorkloadRegistry.load([join(dir, 'args')]);
    const stream = { name: 'cam', workload: 'my-model', arrivalRatePerS: 40, latencyBudgetS: 0.5, batchSize: 2 };
    for (const [bad, field, reason] of [
      [{ arrivalRatePerS: 1e308 }, 'streams[0].arrivalRatePerS', /must be at most 1000000 requests\/s .*, got 1e\+308/],
      [{ latencyBudgetS: 1e308 }, 'streams[0].latencyBudgetS', /must be at most 3600 s .*, got 1e\+308/],
    ] as const) {
      await assert.rejects(
        runOnHost({ registry, trainWorkload: 'my-model', streams: [{ ...stream, ...bad }], durationS: 1, device: 'cpu' }),
        (e: unknown) => e instanceof ValidationError && e.field === field && reason.test(e.message),
      );
    }
  });
});

describe('runOnHost with a worker killed mid-run', () => {
  it('resumes training from the last checkpoint (the step count continues), every request answered or an explicit error', async () => {
    // A loader that takes 5 ms keeps the step count small enough to follow.
    writeTinyWorkload(join(dir, 'wl', 'my-model'), { name: 'my-model', loadDelayS: 0.005 });
    const registry = WorkloadRegistry.load([join(dir, 'wl')]);
    const checkpoints = join(dir, 'checkpoints');
    let killedAtStep = -1;
    const report = await runOnHost({
      registry,
      trainWorkload: 'my-model',
      streams: [{ name: 'cam', workload: 'my-model', arrivalRatePerS: 40, latencyBudgetS: 0.5, batchSize: 2 }],
      durationS: 4,
      device: 'cpu',
      process: 'poisson',
      checkpoints: { dir: checkpoints, everySteps: 10, everyS: 0 },
      onStarted: (engine) => {
        setTimeout(() => {
          const worker = engine.workerOf('my-model')!;
          killedAtStep = worker.info?.step ?? -1;
          worker.kill('SIGKILL');
        }, 1500);
      },
    });
    // Two starts: the first at step 0, the restart resumed from a checkpoint with steps already made.
    assert.equal(report.training.starts.length, 2, JSON.stringify(report.training.starts));
    assert.deepEqual(report.training.starts[0], { step: 0, resumed: false, checkpointError: null });
    const restart = report.training.starts[1]!;
    assert.equal(restart.resumed, true);
    assert.ok(restart.step >= 10 && restart.step % 10 === 0, `resumed at a checkpoint step, got ${restart.step}`);
    assert.ok(report.training.lastStep > restart.step, `training went on after the restart: ${restart.step} → ${report.training.lastStep}`);
    assert.ok(killedAtStep >= 0);
    // Every request: an answer, or an explicit error code counted in the stream's failures.
    const s = report.streams[0]!;
    const failed = Object.values(s.failed).reduce((a, b) => a + b, 0);
    assert.ok(s.sent > 100);
    assert.equal(s.completed + failed, s.sent, `sent ${s.sent}, answered ${s.completed}, errors ${JSON.stringify(s.failed)}`);
    for (const code of Object.keys(s.failed)) assert.match(code, /^(worker|deadline|shed)$/);
    assert.ok(s.completed > 0.9 * s.sent, 'only the minibatch in flight at the kill fails');
    // The checkpoint is one file (atomic write, no temporary left) named after the folder's hash.
    const files = readdirSync(checkpoints);
    assert.equal(files.length, 1, files.join(', '));
    assert.match(files[0]!, new RegExp(`^my-model-${registry.get('my-model').contentHash().slice(0, 12)}\\.pt$`));
    assert.ok(existsSync(join(checkpoints, files[0]!)));
  });
});
