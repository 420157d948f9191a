// The built-in workload folders are real workloads: `fulcrum workload check` imports each module in
// the real Python worker (torchvision models, fulcrum_torch's loop), runs one training step and
// inference minibatches, and checks their output counts. The four cheapest run here at batch 1;
// resnet50 and vgg16 share resnet18's code path (SyntheticImageClassifier), bert-large bert-base's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BUILTIN_WORKLOADS_DIR } from '@fulcrum/workloads';
import { cli } from './test-support.js';

describe('built-in workload folders in the real worker', () => {
  for (const name of ['resnet18', 'mobilenet', 'lstm', 'yolov8n']) {
    it(`${name}: one training step and inference at batch 1 and 2, outputs per sample`, async () => {
      const r = await cli('workload', 'check', join(BUILTIN_WORKLOADS_DIR, name), '--train-batch', '1', '--device', 'cpu', '--json');
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const report = JSON.parse(r.stdout);
      assert.deepEqual(report.problems, []);
      assert.ok(Number.isFinite(report.train.loss) && report.train.loss > 0);
      assert.deepEqual(report.infer.map((i: { batchSize: number; outputs: number }) => [i.batchSize, i.outputs]), [[1, 1], [2, 2]]);
    });
  }
});
