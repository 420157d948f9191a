import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MY_ORIN_MODES as MODES, cli, myOrinCsv, startLocalServices } from './test-support.js';
import { loadAllConfigs, loadServeConfig, startAllServices, startOneService, type RunningServices } from './stack.js';
import { UsageError } from './usage.js';


describe('fulcrum serve all --backend table on a device and workloads of one’s own + solve --remote', () => {
  let dir: string;
  let csv: string;
  let running: RunningServices;
  let address: string;
  const token = ['--token', 'own-table-token'];
  const budgets = ['--rate', '5', '--latency', '1', '--power', '18'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-serve-own-'));
    csv = join(dir, 'T.csv');
    // The detector is served at 1, 2, 4 and 8 only: a problem that names no batch sizes gets these.
    writeFileSync(csv, myOrinCsv([1, 2, 4, 8]));
    // No --device: the device-controller's and executor's device is the table's.
    running = await startLocalServices(['--grpc.token=own-table-token', '--backend=table', `--profiles=${csv}`], dir);
    address = running.optimizer!.address;
  });
  after(async () => {
    await running?.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('profiles the table’s own workloads through the services and applies a feasible plan on one of its modes', async () => {
    const r = await cli('solve', '--remote', address, ...token, '--device', 'my-orin', '--train', 'my-trainer', '--infer', 'my-detector', ...budgets, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.plan.feasible, true);
    assert.ok(MODES.has(out.plan.mode), out.plan.mode);
    assert.ok(out.plan.powerW <= 18, `${out.plan.powerW} W`);
    assert.ok(out.cost.modesProfiled >= 1, `${out.cost.modesProfiled} modes`);
    assert.equal(out.problem.trainBatchSize, 12, 'bT from the table, as the optimizer used it');
    assert.deepEqual(out.problem.streams[0].candidateBatchSizes, [1, 2, 4, 8], 'the batch sizes the table serves, as the optimizer used them');
    // The plan runs on the executor, for the table's device (the services' device without --device).
    const applied = running.executor!.node.status().applied;
    assert.equal(applied?.plan.planId, out.plan.planId);
    assert.equal(applied?.problem.device, 'my-orin');
    assert.equal(applied?.problem.trainWorkload, 'my-trainer');
    assert.equal(applied?.problem.trainBatchSize, 12);
    assert.equal(running.executor!.node.device, 'my-orin');
  });

  it('a workload or device the table does not have is one line naming the field, exit 2', async () => {
    for (const [argv, pattern] of [
      [['--device', 'my-orin', '--train', 'my-trainer', '--infer', 'resnet18'], /rejected the problem: problem\.streams\[0\]\.workload\.name: unknown workload "resnet18"; the profile table T\.csv has my-trainer, my-detector$/],
      [['--device', 'my-orin', '--train', 'nope-trainer', '--infer', 'my-detector'], /problem\.trainWorkload\.name: unknown workload "nope-trainer"/],
      [['--device', 'my-orin', '--train', 'my-detector', '--infer', 'my-detector'], /problem\.trainWorkload\.name: the profile table T\.csv has no training rows for my-detector \(it trains my-trainer\)/],
      [['--device', 'my-orin', '--train', 'my-trainer', '--train-batch', '16', '--infer', 'my-detector'], /problem\.trainBatchSize: the profile table T\.csv trains my-trainer at batch 12, not 16/],
      [['--device', 'orin-agx', '--train', 'my-trainer', '--infer', 'my-detector'], /problem\.device: unknown device "orin-agx": this optimizer's board is the profile table T\.csv's my-orin/],
      [['--device', 'my-orin', '--train', 'my-trainer', '--infer', 'my-detector', '--batch-sizes', '4,16'], /problem\.streams\[0\]\.candidateBatchSizes: the profile table T\.csv has no my-detector inference rows at batch 16 \(it has 1, 2, 4, 8; send none for those\)$/],
      // Not a name at all: refused here, naming the flag.
      [['--device', 'my-orin', '--train', 'my-trainer', '--infer', 'my detector'], /^fulcrum: --infer: unknown workload "my detector"/],
    ] as const) {
      const r = await cli('solve', '--remote', address, ...token, ...argv, ...budgets);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr.trim(), pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  it('one service alone on the table takes the table’s device; an explicit other device, even orin-agx, is refused', async () => {
    const executor = await startOneService('executor', loadServeConfig('executor', ['--backend=table', `--profiles=${csv}`, '--grpc.port=0', '--metrics.port=-1'], {}, {}), pino({ level: 'silent' }));
    try {
      assert.equal(executor.executor!.device, 'my-orin');
    } finally {
      await executor.close(0);
    }
    const configs = loadAllConfigs(['--backend=table', `--profiles=${csv}`, '--device=orin-agx', '--grpc.port=0', '--metrics.port=-1'], {}, { env: {}, defaults: { profiler: { 'store.path': join(dir, 'r.db') } } });
    await assert.rejects(startAllServices(configs, pino({ level: 'silent' })), /--device: the profile table .*T\.csv is of my-orin, not orin-agx/);
    await assert.rejects(
      startOneService('executor', loadServeConfig('executor', ['--backend=table', `--profiles=${csv}`, '--device=orin-agx', '--grpc.port=0', '--metrics.port=-1'], {}, {}), pino({ level: 'silent' })),
      /device: the profile table T\.csv is of my-orin, not orin-agx/,
    );
  });

  it('serve all refuses a --device that is not the table’s', async () => {
    const configs = loadAllConfigs(['--backend=table', `--profiles=${csv}`, '--device=agx-xavier', '--grpc.port=0', '--metrics.port=-1'], {}, { env: {}, defaults: { profiler: { 'store.path': join(dir, 'q.db') } } });
    await assert.rejects(startAllServices(configs, pino({ level: 'silent' })), (err: unknown) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, /^--device: the profile table .*T\.csv is of my-orin, not agx-xavier/);
      return true;
    });
  });
});
