/**
 * Fulcrum's eight built-in workload folders (libs/workloads/builtin): the registry loads exactly
 * them, each manifest matches its folder and core's descriptor, can be trained and served, and
 * costs what the virtual board's table (libs/devices/src/workload-costs.ts) says. No Python runs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { WORKLOADS } from '@fulcrum/core';
import { WorkloadRegistry } from './registry.js';

interface DeviceCost {
  readonly workload: string;
  readonly flopsPerSample: number;
  readonly flopsPerBatch: number;
  readonly activationBytesPerSample: number;
  readonly paramBytes: number;
}

// Loaded by name at run time rather than imported: @fulcrum/devices may come to depend on this
// package, so nothing here (this test included) may put devices into workloads' build graph.
const DEVICES_INTERNAL = '@fulcrum/devices/internal';
const { WORKLOAD_COSTS } = (await import(DEVICES_INTERNAL)) as { WORKLOAD_COSTS: readonly DeviceCost[] };

const BUILTIN = ['bert-base', 'bert-large', 'lstm', 'mobilenet', 'resnet18', 'resnet50', 'vgg16', 'yolov8n'];

describe('built-in workload folders', () => {
  const registry = WorkloadRegistry.builtin();

  it('the registry loads exactly the eight built-in workloads, all marked built-in', () => {
    assert.deepEqual(registry.names(), BUILTIN);
    assert.deepEqual(registry.userFolders(), []);
    assert.deepEqual([...WORKLOADS.map((w) => w.id)].sort(), BUILTIN);
  });

  for (const name of BUILTIN) {
    it(`${name}: named as its folder, trainable and servable, as core describes it`, () => {
      const folder = registry.get(name);
      const m = folder.manifest;
      assert.equal(basename(folder.dir), name);
      assert.equal(m.name, name);
      const core = WORKLOADS.find((w) => w.id === name)!;
      assert.equal(m.displayName, core.displayName);
      assert.ok(m.train, 'train: section');
      assert.equal(m.train.batchSize, core.defaultTrainBatchSize);
      assert.ok(m.infer, 'infer: section');
      assert.ok(m.infer.input, 'infer.input');
      assert.ok(m.infer.batchSizes.includes(1));
      assert.equal(m.infer.input.dtype, name.startsWith('bert') || name === 'lstm' ? 'int64' : 'float32');
      assert.equal(m.approximation !== undefined, name === 'yolov8n', 'only yolov8n is an approximation');
      assert.match(readFileSync(folder.modulePath!, 'utf8'), /^class FulcrumWorkload\b/m);
    });

    it(`${name}: its cost is the virtual board's (workload-costs.ts), shared form`, () => {
      const expected = WORKLOAD_COSTS.find((c) => c.workload === name);
      assert.ok(expected, `workload-costs.ts has no ${name}`);
      const cost = registry.get(name).manifest.cost;
      assert.deepEqual(cost?.infer, {
        flopsPerSample: expected.flopsPerSample,
        bytesPerSample: expected.activationBytesPerSample,
        flopsPerBatch: expected.flopsPerBatch,
        paramBytes: expected.paramBytes,
      });
      // A shared cost: a training minibatch counts 3× (forward and two backward passes).
      assert.equal(cost?.train?.flopsPerSample, 3 * expected.flopsPerSample);
    });
  }
});
