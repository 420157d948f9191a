import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './test-support.js';


let dir: string;
let profile: string;
let trace: string;

/** Two modes of a made-up board: fast (40 W) and slow (22 W); tI = a + c·b. */
function profileCsv(): string {
  const rows = ['device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w'];
  for (const [gpu, tT, a, c, p] of [[1300.5, 150, 10, 3, 40], [624.75, 300, 20, 6, 22]] as const) {
    rows.push(`orin-agx,resnet18,train,16,12,2201.6,${gpu},3199,${tT},${p}`);
    for (const b of [1, 2, 4, 8, 16, 32]) rows.push(`orin-agx,mobilenet,infer,${b},12,2201.6,${gpu},3199,${a + c * b},${p - 2}`);
  }
  return rows.join('\n') + '\n';
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-cli-sim-'));
  profile = join(dir, 'orin.csv');
  trace = join(dir, 'rates.csv');
  writeFileSync(profile, profileCsv());
  writeFileSync(trace, 'time_s,stream,rate_per_s\n0,cam,20\n300,cam,60\n600,cam,8\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const base = () => ['simulate', '--profiles', profile, '--train', 'resnet18', '--train-batch', '16', '--power', '45'];

describe('fulcrum simulate', () => {
  it('event-driven run of a rate trace: re-plans, answers every request, keeps p99 within L, writes the timeline', async () => {
    const timeline = join(dir, 'timeline.csv');
    const r = await cli(...base(), '--stream', 'name=cam,workload=mobilenet,latency=0.6', '--trace', trace, '--duration', '900', '--timeline', timeline, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.allAnswered, true);
    assert.ok(out.plans.length >= 3);
    assert.ok(out.streams[0].latency.p99S <= 0.6);
    const csv = readFileSync(timeline, 'utf8').trim().split('\n');
    assert.match(csv[0]!, /^t_s,stream,plan_id,arrival_rate_per_s/);
    assert.ok(csv.length > 100);
  });

  it('on the virtual Jetson (default): plans among the modes ALS profiled, re-plans on a trace, writes the timeline plot', async () => {
    const svg = join(dir, 'timeline.svg');
    const r = await cli('simulate', '--train', 'resnet18', '--power', '40', '--stream', 'name=cam,workload=mobilenet,latency=0.3', '--trace', trace, '--duration', '900', '--plot', svg, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.allAnswered, true);
    assert.ok(out.plans.length >= 2);
    assert.ok(out.plans[0].plan.mode.gpuMhz > 0);
    assert.ok(out.streams[0].latency.p99S <= 0.3);
    assert.match(readFileSync(svg, 'utf8'), /^<svg/);
    assert.match(r.stderr, /ALS profiled \d+ modes/);
    assert.match(r.stdout, /"planId": "als-100-/);
    const bad = await cli('simulate', '--train', 'resnet18', '--power', '40', '--stream', 'name=cam,workload=mobilenet,latency=0.3,rate=5', '--plot', join(dir, 'x.gif'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--plot/);
    const grid = await cli('simulate', '--train', 'resnet18', '--power', '40', '--stream', 'name=cam,workload=mobilenet,latency=0.3,rate=5', '--front', 'grid', '--grid', 'nope');
    assert.equal(grid.code, 2);
    assert.match(grid.stderr, /--grid/);
  });

  it('time-scaled run (--scale) with a constant rate prints a summary', async () => {
    const r = await cli(...base(), '--stream', 'name=cam,workload=mobilenet,latency=0.6,rate=20', '--duration', '20', '--scale', '100');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /time-scaled ×100/);
    assert.match(r.stdout, /every request answered: yes/);
  });

  it('bad input exits 2 naming the flag', async () => {
    assert.equal((await cli(...base(), '--stream', 'name=cam,workload=mobilenet,latency=0.6')).code, 2);
    const noRate = await cli(...base(), '--stream', 'name=cam,workload=mobilenet,latency=0.6');
    assert.match(noRate.stderr, /--stream cam: give rate=/);
    const badTrace = join(dir, 'bad.csv');
    writeFileSync(badTrace, 'a,b\n');
    const t = await cli(...base(), '--stream', 'name=cam,workload=mobilenet,latency=0.6', '--trace', badTrace);
    assert.equal(t.code, 2);
    assert.match(t.stderr, /--trace: expected a CSV header/);
    const w = await cli(...base(), '--stream', 'name=cam,workload=nope,latency=0.6,rate=3');
    assert.equal(w.code, 2);
    assert.match(w.stderr, /--stream: unknown workload/);
    const missing = await cli('simulate', '--profiles', join(dir, 'none.csv'), '--train', 'resnet18', '--power', '4', '--stream', 'workload=mobilenet,latency=1,rate=1');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--profiles: cannot read/);
    // The old names (--profile, --train-workload) are still accepted, not both names at once.
    const old = await cli('simulate', '--profile', profile, '--train-workload', 'resnet18', '--train-batch', '16', '--power', '45', '--stream', 'name=cam,workload=mobilenet,latency=0.6,rate=2', '--duration', '60', '--json');
    assert.equal(old.code, 0, old.stderr);
    const twice = await cli('simulate', '--profile', profile, '--profiles', profile, '--train', 'resnet18', '--power', '45', '--stream', 'name=cam,workload=mobilenet,latency=0.6,rate=2');
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /--profiles: give it once/);
    const noTrain = await cli('simulate', '--power', '45', '--stream', 'name=cam,workload=mobilenet,latency=0.6,rate=2');
    assert.equal(noTrain.code, 2);
    assert.match(noTrain.stderr, /--train: name the workload to train/);
    const scale = await cli(...base(), '--stream', 'name=cam,workload=mobilenet,latency=0.6,rate=2', '--scale', '-1');
    assert.equal(scale.code, 2);
    assert.match(scale.stderr, /--scale/);
  });

  it('a rate, latency budget or power budget past the problem limits exits 2 naming the flag, before anything runs', async () => {
    const hugeTrace = join(dir, 'huge.csv');
    writeFileSync(hugeTrace, 'time_s,stream,rate_per_s\n0,cam,20\n60,cam,1e308\n');
    for (const [args, message] of [
      [['--stream', 'name=cam,workload=mobilenet,latency=0.6,rate=1e308'], /^fulcrum: --stream #1 rate: must be at most 1000000 requests\/s \(far above what any board serves\), got 1e\+308\n$/],
      [['--stream', 'name=cam,workload=mobilenet,latency=1e308,rate=2'], /^fulcrum: --stream #1 latency: must be at most 3600 s \(an hour\), got 1e\+308\n$/],
      [['--stream', 'name=cam,workload=mobilenet,latency=0.6', '--trace', hugeTrace], /^fulcrum: --trace: line 3: rate_per_s must be at most 1000000 requests\/s .*, got 1e\+308\n$/],
      [['--stream', 'name=cam,workload=mobilenet,latency=0.6,rate=2', '--power', '1e308'], /^fulcrum: --power: must be at most 10000 W \(far above what any board draws\), got 1e\+308\n$/],
    ] as const) {
      const r = await cli(...base(), ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
