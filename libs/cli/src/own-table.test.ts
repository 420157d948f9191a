import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MY_ORIN_MODES as MODES, PROFILE_CSV_HEADER as HEADER, cli, myOrinCsv } from './test-support.js';


describe('a profile table of a device and workloads Fulcrum has never seen', () => {
  let dir = '';
  let csv = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fulcrum-own-'));
    csv = join(dir, 'T.csv');
    await writeFile(csv, myOrinCsv());
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a table file that cannot be read (missing, a folder) is one line naming the flag, exit 2, for every command that reads one', async () => {
    const missing = join(dir, 'missing.csv');
    const problem = ['--train', 'my-trainer', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18'];
    for (const [path, why] of [[missing, 'no such file'], [dir, 'a folder, not a CSV file']] as const) {
      for (const [argv, flag] of [
        [['solve', '--profiles', path, ...problem], '--profiles'],
        [['bench', '--profiles', path, '--sweep', 'quick'], '--profiles'],
        [['simulate', '--profiles', path, '--train', 'my-trainer', '--power', '18', '--stream', 'name=s,workload=my-detector,latency=1,rate=5'], '--profiles'],
        [['profiles', 'import', path], 'profiles import'],
        [['serve', 'all', '--backend', 'table', '--profiles', path, '--grpc.port', '0', '--metrics.port', '-1'], '--profiles'],
      ] as const) {
        const r = await cli(...argv);
        assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stderr, `fulcrum: ${flag}: cannot read ${path}: ${why}\n`, argv.join(' '));
      }
    }
  });

  it('a batch size the table does not serve is named, exit 2', async () => {
    const r = await cli('solve', '--profiles', csv, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18', '--batch-sizes', '4,3', '--strategy', 'gmd');
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /^fulcrum: --batch-sizes: .*T\.csv.* has no my-detector inference rows at batch 3 \(it has 1, 2, 4, 8, 16, 32, 64\)\n$/);
  });

  it('a table serving more than 32 batch sizes: a problem naming none is planned among the 32 smallest, and solve shows the list', async () => {
    const many = join(dir, 'many.csv');
    const sizes = Array.from({ length: 40 }, (_, i) => i + 1);
    await writeFile(many, myOrinCsv(sizes));
    const r = await cli('solve', '--profiles', many, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18', '--strategy', 'gmd');
    assert.equal(r.code, 0, r.stderr);
    const row = r.stdout.split('\n').find((l) => l.startsWith('│ stream0'));
    assert.ok(row?.includes(` ${sizes.slice(0, 32).join(',')} `), r.stdout);
  });

  it('solve finds a feasible plan on one of the table’s modes, bT from the table', async () => {
    const r = await cli('solve', '--profiles', csv, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.problem.device, 'my-orin');
    assert.equal(out.problem.trainBatchSize, 12);
    assert.equal(out.plan.feasible, true);
    assert.ok(MODES.has(out.plan.mode), out.plan.mode);
    assert.ok(out.plan.powerW <= 18);
    assert.equal(out.groundTruth.feasible, true);
    // A workload the table only serves cannot be trained.
    const wrong = await cli('solve', '--profiles', csv, '--train', 'my-detector', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18');
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--train: table .*T\.csv .* has no training rows for my-detector \(it trains my-trainer\)/);
    assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
    // A name the table does not hold: the table's workloads are listed, not every built-in one.
    const unknown = await cli('solve', '--profiles', csv, '--train', 'nope', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^fulcrum: --train: unknown workload "nope"; table .*T\.csv .* has my-trainer, my-detector\n$/);
  });

  it('simulate runs the table’s device and workloads', async () => {
    const r = await cli('simulate', '--profiles', csv, '--train', 'my-trainer', '--power', '18', '--stream', 'name=cam,workload=my-detector,latency=1,rate=5', '--duration', '60');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mode (\d+,\d+,\d+,\d+)/);
    assert.ok(MODES.has(/mode (\d+,\d+,\d+,\d+)/.exec(r.stdout)![1]!));
    assert.match(r.stdout, /every request answered: yes/);
  });

  it('simulate stops at its minibatch limit, before it starts where it is plain: times written far too small are named, not run for hours', async () => {
    // Training times a million times too small (1 ns): 3.6e12 minibatches in the default hour.
    const tiny = join(dir, 'T-tiny.csv');
    await writeFile(tiny, myOrinCsv().replace(/^(my-orin,my-trainer,train,\d+,[\d.]+,[\d.]+,[\d.]+,[\d.]+),[\d.]+,/gm, '$1,0.000001,'));
    const t0 = performance.now();
    const r = await cli('simulate', '--profiles', tiny, '--train', 'my-trainer', '--power', '18', '--stream', 'name=cam,workload=my-detector,latency=1,rate=5');
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /^fulcrum: --duration: the simulation would run up to [\d,]+ training minibatches in 3600 s, over the limit of 20,000,000 \(a training minibatch takes 0\.00000100 ms\): shorten the duration, or check the minibatch times/);
    assert.ok(performance.now() - t0 < 30_000, 'refused before running');
  });

  for (const sweep of ['quick', 'paper'] as const) {
    it(`bench --sweep ${sweep} draws keys from what the table trains and serves`, async () => {
      const json = join(dir, `${sweep}.json`);
      const r = await cli('bench', '--profiles', csv, '--sweep', sweep, '--workers', '1', '--no-progress', '--json', json);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /│ oracle +│ 100\.0 +│ 1\.000 /);
      assert.match(r.stdout, /│ gmd /);
      const out = JSON.parse(await readFile(json, 'utf8'));
      const keys = out.keys.map((k: { train: string; infer: string[] }) => `${k.train}>${k.infer.join('+')}`);
      for (const k of keys) assert.match(k, /^my-trainer>my-detector(\+my-detector)?$/);
      assert.ok(keys.includes('my-trainer>my-detector+my-detector'), 'a two-stream key');
      assert.equal(out.summary.configurations, sweep === 'quick' ? 108 : 16 ** 3 + 4 ** 3);
    });
  }

  it('a bad row is one line naming the file, line and field (exit 2)', async () => {
    const bad = join(dir, 'bad.csv');
    const lines = myOrinCsv().split('\n');
    lines[3] = lines[3]!.replace('my-detector', 'my detector');
    await writeFile(bad, lines.join('\n'));
    for (const argv of [
      ['solve', '--profiles', bad, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18'],
      ['bench', '--profiles', bad, '--sweep', 'quick', '--workers', '1', '--no-progress'],
    ]) {
      const r = await cli(...argv);
      assert.equal(r.code, 2, argv[0]);
      assert.match(r.stderr, /bad\.csv line 4: workload: a workload name must be .*got "my detector"/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  it('a table that serves nothing cannot be benchmarked: one line, exit 2', async () => {
    const trainOnly = join(dir, 'train-only.csv');
    await writeFile(trainOnly, myOrinCsv().split('\n').filter((l) => !l.includes(',infer,')).join('\n'));
    const r = await cli('bench', '--profiles', trainOnly, '--sweep', 'quick', '--workers', '1', '--no-progress');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nothing is served/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  it('a known board’s row off its grid is still refused', async () => {
    const off = join(dir, 'off.csv');
    await writeFile(off, `${HEADER}\norin-agx,my-detector,infer,8,12,2201.6,1000,3199,3,40\n`);
    const r = await cli('solve', '--profiles', off, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '5', '--latency', '1', '--power', '18');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /off\.csv line 2: mode\.gpuMhz: 1000 is not on the orin-agx grid/);
  });
});
