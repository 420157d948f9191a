import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { runCli } from './program.js';
import { loadAllConfigs, startAllServices, type RunningServices } from './stack.js';
import { UsageError } from './usage.js';

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const HEADER = 'device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w';

/** The board and workloads of own-table.test.ts: `my-orin` on a 2×2×3×2 grid, `my-trainer` trained (bT 12), `my-detector` served. */
function myOrinCsv(): string {
  const lines = [HEADER];
  for (const cores of [4, 8])
    for (const cpu of [1000, 2000])
      for (const gpu of [300, 600, 900])
        for (const emc of [2000, 3000]) {
          const speed = (gpu / 900) * 0.7 + (emc / 3000) * 0.2 + (cpu / 2000) * 0.05 + (cores / 8) * 0.05;
          const power = 5 + gpu / 100 + emc / 1000 + cpu / 1000 + cores / 4;
          lines.push(`my-orin,my-trainer,train,12,${cores},${cpu},${gpu},${emc},${(200 / speed).toFixed(3)},${power.toFixed(3)}`);
          for (const b of [1, 2, 4, 8, 16, 32, 64]) lines.push(`my-orin,my-detector,infer,${b},${cores},${cpu},${gpu},${emc},${((5 + 2 * b) / speed).toFixed(3)},${(power * 0.8).toFixed(3)}`);
        }
  return lines.join('\n') + '\n';
}

const MODES = new Set<string>();
for (const cores of [4, 8]) for (const cpu of [1000, 2000]) for (const gpu of [300, 600, 900]) for (const emc of [2000, 3000]) MODES.add(`${cores},${cpu},${gpu},${emc}`);

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
    writeFileSync(csv, myOrinCsv());
    const local = { 'grpc.port': 0, 'metrics.port': -1 };
    // No --device: the device-controller's and executor's device is the table's.
    const configs = loadAllConfigs(['--grpc.token=own-table-token', '--backend=table', `--profiles=${csv}`], {}, {
      env: {},
      defaults: { 'device-controller': local, executor: local, profiler: { ...local, 'store.path': join(dir, 'p.db') }, optimizer: local },
    });
    running = await startAllServices(configs, pino({ level: 'silent' }));
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
      // Not a name at all: refused here, naming the flag.
      [['--device', 'my-orin', '--train', 'my-trainer', '--infer', 'my detector'], /^fulcrum: --infer: unknown workload "my detector"/],
    ] as const) {
      const r = await cli('solve', '--remote', address, ...token, ...argv, ...budgets);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr.trim(), pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
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
