import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './test-support.js';


const problem = ['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '20', '--latency', '0.5'];

describe('fulcrum solve', () => {
  it('prints a feasible plan, its cost and how it does on the ground truth (JSON)', async () => {
    const r = await cli('solve', ...problem, '--power', '30', '--strategy', 'gmd', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.strategy, 'gmd');
    assert.match(out.plan.mode, /^\d+,[\d.]+,[\d.]+,[\d.]+$/);
    assert.equal(out.plan.feasible, true);
    assert.ok(out.plan.powerW <= 30);
    assert.ok(out.cost.modesProfiled >= 1 && out.cost.modesProfiled <= 15);
    assert.ok(out.cost.profilingSeconds > 0);
    assert.equal(typeof out.groundTruth.feasible, 'boolean');
  });

  it('an infeasible problem says which constraint binds, exit 0', async () => {
    const r = await cli('solve', '--train', 'resnet18', '--infer', 'mobilenet', '--rate', '2', '--latency', '20', '--power', '3', '--strategy', 'als-50');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verdict: infeasible: binding constraint is peak power [\d.]+ W > 3\.000 W budget/);
    // 3 W is far below any mode (more than ALS's repair reach): its 50 modes, no more.
    assert.match(r.stdout, /cost: 50 modes profiled,/);
  });

  it('ALS: a problem none of its modes meets, but one nearly does, gets a few more modes, and the cost says which are whose', async () => {
    const r = await cli('solve', '--train', 'resnet18', '--infer', 'mobilenet', '--rate', '60', '--latency', '0.6', '--power', '14', '--strategy', 'als-50', '--noise', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.cost.keyModes, 50);
    assert.ok(out.cost.modesProfiled > 50 && out.cost.modesProfiled <= 56, `${out.cost.modesProfiled}`);
    assert.equal(out.plan.feasible, true);
    const text = await cli('solve', '--train', 'resnet18', '--infer', 'mobilenet', '--rate', '60', '--latency', '0.6', '--power', '14', '--strategy', 'als-50', '--noise', '0');
    assert.match(text.stdout, new RegExp(`cost: ${out.cost.modesProfiled} modes profiled \\(50 for the key, which its other problems reuse; ${out.cost.modesProfiled - 50} for this problem\\)`));
  });

  it('--device family:N solves on one variant of the synthetic family the bench runs, with its ground truth', async () => {
    const r = await cli('solve', ...problem, '--power', '20', '--strategy', 'oracle', '--device', 'family:3', '--noise', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.match(out.backend, /synthetic family variant 3/);
    assert.equal(out.groundTruth.ratio, 1);
    // Another variant has other laws, so the same problem gets another answer.
    const other = JSON.parse((await cli('solve', ...problem, '--power', '20', '--strategy', 'oracle', '--device', 'family:5', '--noise', '0', '--json')).stdout);
    assert.notEqual(other.plan.trainThroughputSamplesPerS, out.plan.trainThroughputSamplesPerS);
    for (const [device, message] of [
      ['family:0-2', /--device: solve runs on one device; give one variant \(family:0\)/],
      ['family:x', /--device: unknown virtual device "family:x"; known: .*family:N/],
    ] as const) {
      const bad = await cli('solve', ...problem, '--power', '20', '--device', device);
      assert.equal(bad.code, 2, device);
      assert.match(bad.stderr, message);
    }
  });

  it('two streams with --stream', async () => {
    const r = await cli('solve', '--train', 'resnet18', '--stream', 'workload=mobilenet,rate=10,latency=0.5,name=cam', '--stream', 'workload=bert-base,rate=2,latency=1.5', '--power', '35', '--strategy', 'random-15', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out.plan.batchSizes), ['cam', 'stream1']);
  });

  it('bad input exits 2 naming the flag', async () => {
    for (const [args, flag] of [
      [['--train', 'resnet18', '--infer', 'nope', '--rate', '2', '--latency', '1', '--power', '20'], '--infer'],
      [['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '0', '--latency', '1', '--power', '20'], '--rate'],
      [['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '2', '--latency', '1', '--power', '20', '--strategy', 'magic'], '--strategy'],
      [['--train', 'resnet18', '--rate', '2', '--latency', '1', '--power', '20'], '--infer'],
      [['--train', 'resnet18', '--stream', 'workload=mobilenet,rate=x,latency=1', '--power', '20'], '--stream'],
      [['--train', 'resnet18', '--stream', 'workload=mobilenet,rate=1,latency=1,rate=2', '--power', '20'], '--stream'],
      [['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '2', '--latency', '1', '--power', '20', '--target-probability', '1.2'], '--target-probability'],
      [['--train', 'resnet18', '--infer', 'mobilenet', '--rate', '2', '--latency', '1', '--power', '20', '--target-probability', '0.99', '--remote', '127.0.0.1:1'], '--target-probability'],
    ] as const) {
      const r = await cli('solve', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.ok(r.stderr.includes(flag), r.stderr);
    }
    // A budget past PROBLEM_LIMITS.maxPowerBudgetW is refused (it planned at MAXN), here and before --remote connects.
    for (const remote of [[], ['--remote', '127.0.0.1:1']]) {
      const r = await cli('solve', '--train', 'resnet18', '--infer', 'mobilenet', '--rate', '2', '--latency', '1', '--power', '1e308', ...remote);
      assert.equal(r.code, 2, `${remote.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /--power: must be at most 10000 W \(far above what any board draws\), got 1e\+308/);
    }
    // So are a rate and a latency budget past PROBLEM_LIMITS (1e6 requests/s, 3600 s), named as typed.
    for (const remote of [[], ['--remote', '127.0.0.1:1']]) {
      for (const [args, message] of [
        [['--infer', 'mobilenet', '--rate', '1e308', '--latency', '1'], /^fulcrum: --rate: must be at most 1000000 requests\/s \(far above what any board serves\), got 1e\+308\n$/],
        [['--infer', 'mobilenet', '--rate', '2', '--latency', '1e308'], /^fulcrum: --latency: must be at most 3600 s \(an hour\), got 1e\+308\n$/],
        [['--stream', 'workload=mobilenet,rate=2,latency=1', '--stream', 'workload=mobilenet,rate=2e6,latency=1'], /^fulcrum: --stream #2 rate: must be at most 1000000 requests\/s/],
        // --batch-sizes is one flag for all the streams: named as such, not as a --stream.
        [['--stream', 'workload=mobilenet,rate=2,latency=1', '--batch-sizes', '1,5000'], /^fulcrum: --batch-sizes: must be at most/],
      ] as const) {
        const r = await cli('solve', '--train', 'resnet18', '--power', '20', ...args, ...remote);
        assert.equal(r.code, 2, `${args.join(' ')} ${remote.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, message);
      }
    }
  });
});

describe('fulcrum bench', () => {
  it('checks where --json and --plots go before the sweep: one line naming the flag, exit 2, nothing run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-bench-out-'));
    try {
      const file = join(dir, 'a-file');
      await writeFile(file, 'x');
      for (const [argv, message] of [
        [['--json', dir], `--json: ${dir} is a folder; give a file name`],
        [['--json', join(file, 'x.json')], `--json: cannot write ${join(file, 'x.json')}: a file is in the way of its folder`],
        [['--plots', file], `--plots: ${file} is a file; give a folder`],
        [['--json', join(dir, 'out'), '--plots', join(dir, 'out')], '--json: the same path as --plots (a file and a folder); give them different paths'],
        [['--json', '/proc/fulcrum-no-such/x.json'], '--json: cannot write /proc/fulcrum-no-such/x.json: cannot be created there'],
      ] as const) {
        const r = await cli('bench', '--sweep', 'quick', '--strategies', 'oracle,gmd', ...argv);
        assert.equal(r.code, 2, argv.join(' '));
        assert.equal(r.stderr, `fulcrum: ${message}\n`);
        assert.equal(r.stdout, '', 'no sweep ran');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bad flags exit 2 naming the flag', async () => {
    for (const [args, flag] of [
      [['--sweep', 'huge'], '--sweep'],
      [['--strategies', 'gmd,nope'], '--strategies'],
      [['--profiles', '/nonexistent/x.csv'], '--profiles'],
      [['--workers', '0'], '--workers'],
      [['--target-probability', '0.3'], '--target-probability'],
      [['--device', 'family:x'], '--device'],
    ] as const) {
      const r = await cli('bench', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(flag), r.stderr);
    }
  });

  it('runs on variants of the synthetic device family (issue 16, 4), labelled as such, with the worst and the mean over a range', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-bench-family-'));
    try {
      const json = join(dir, 'family.json');
      const r = await cli('bench', '--device', 'family:2-3', '--noise', '0', '--strategies', 'oracle,gmd', '--sweep', 'quick', '--workers', '1', '--no-progress', '--json', json);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /bench quick on synthetic family variant 2 on orin-agx \(not the roofline shape, not a measured board/);
      assert.match(r.stdout, /bench quick on synthetic family variant 3 on orin-agx/);
      assert.match(r.stdout, /over the 2 variants family:2-3 \(worst and mean\)/);
      const out = JSON.parse(await readFile(json, 'utf8')) as { runs: { summary: { strategies: { strategy: string; meanRatio: number; feasiblePct: number }[] } }[]; across: { strategy: string; worstMeanRatio: number; meanMeanRatio: number; worstFeasiblePct: number }[] };
      assert.equal(out.runs.length, 2);
      const gmd = out.across.find((a) => a.strategy === 'gmd')!;
      const perRun = out.runs.map((x) => x.summary.strategies.find((y) => y.strategy === 'gmd')!);
      assert.equal(gmd.worstMeanRatio, Math.min(...perRun.map((x) => x.meanRatio)));
      assert.ok(Math.abs(gmd.meanMeanRatio - (perRun[0]!.meanRatio + perRun[1]!.meanRatio) / 2) < 1e-12);
      assert.equal(gmd.worstFeasiblePct, Math.min(...perRun.map((x) => x.feasiblePct)));
      const bad = await cli('bench', '--device', 'family:3-1');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--device: .*ends before it starts/);
      const plots = await cli('bench', '--device', 'family:0-1', '--plots', dir);
      assert.equal(plots.code, 2);
      assert.match(plots.stderr, /--plots/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs the quick sweep on a profile table exported from the virtual device, with JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-bench-'));
    try {
      const csv = join(dir, 'orin.csv');
      // A 441-mode table for three workloads, as `fulcrum profiles export` writes it.
      const exp = await cli('profiles', 'export', '--grid', '441', '--workloads', 'resnet18,mobilenet,bert-base', '--out', csv, '--noise', '0');
      assert.equal(exp.code, 0, exp.stderr);
      const json = join(dir, 'out.json');
      const r = await cli('bench', '--profiles', csv, '--strategies', 'oracle,gmd,random-15', '--sweep', 'quick', '--workers', '1', '--no-progress', '--json', json);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /│ oracle +│ 100\.0 +│ 1\.000 /);
      const out = JSON.parse(await readFile(json, 'utf8'));
      assert.equal(out.summary.configurations, 108);
      assert.equal(out.keys.length, 3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

