import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cli } from './test-support.js';


const oneStream = [
  '--train-batch', '16', '--train-time-ms', '200', '--train-power-w', '30',
  '--rate', '20', '--latency', '0.5', '--batch', '4', '--infer-time-ms', '50', '--infer-power-w', '25',
];

describe('fulcrum model', () => {
  it('gives the hand-computed numbers for one stream (JSON)', async () => {
    // ρ = 20·0.05/4 = 0.25; latency = 3/20 + 0.2 + 0.05 = 0.4 s; X = 0.75·16/0.2 = 60; peak 30 W.
    // Against 40 W, latency has the least room: (0.5−0.4)/0.5 = 20 % vs power (40−30)/40 = 25 %.
    const r = await cli('model', ...oneStream, '--power', '40', '--mode', '12,2201.6,1300.5,3199', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.mode, '12,2201.6,1300.5,3199');
    assert.ok(Math.abs(out.utilization - 0.25) < 1e-12);
    assert.ok(Math.abs(out.streams[0].latencyBoundS - 0.4) < 1e-12);
    assert.ok(Math.abs(out.trainThroughputSamplesPerS - 60) < 1e-9);
    assert.equal(out.powerW, 30);
    assert.equal(out.feasible, true);
    assert.equal(out.binding.kind, 'latency');
  });

  it('average semantics: 28.75 W fits a 29 W budget that peak semantics misses', async () => {
    const peak = JSON.parse((await cli('model', ...oneStream, '--power', '29', '--json')).stdout);
    assert.equal(peak.feasible, false);
    assert.equal(peak.binding.kind, 'power');
    assert.match(peak.verdict, /^infeasible: binding constraint is peak power 30\.00 W > 29\.00 W budget$/);
    const avg = JSON.parse((await cli('model', ...oneStream, '--power', '29', '--semantics', 'average', '--json')).stdout);
    assert.equal(avg.feasible, true);
    assert.ok(Math.abs(avg.powerW - 28.75) < 1e-9);
  });

  it('K = 2 streams with --stream: names the stream that misses its budget', async () => {
    const r = await cli(
      'model', '--train-batch', '32', '--train-time-ms', '400', '--train-power-w', '40', '--power', '50', '--semantics', 'average',
      '--stream', 'name=a,rate=10,latency=1,batch=2,time_ms=40,power_w=35',
      '--stream', 'name=b,rate=50,latency=0.6,batch=8,time_ms=80,power_w=45', '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.ok(Math.abs(out.utilization - 0.7) < 1e-12);
    assert.ok(Math.abs(out.trainThroughputSamplesPerS - 24) < 1e-9);
    assert.ok(Math.abs(out.powerW - 41.5) < 1e-9);
    assert.deepEqual(out.streams.map((s: { latencyBoundS: number }) => s.latencyBoundS.toFixed(2)), ['0.62', '0.66']);
    assert.deepEqual(out.streams.map((s: { latencyOk: boolean }) => s.latencyOk), [true, false]);
    assert.equal(out.feasible, false);
    assert.equal(out.binding.stream, 'b');
  });

  it('prints a readable table and verdict', async () => {
    const r = await cli('model', ...oneStream, '--power', '40');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /training throughput X = 60\.00 samples\/s/);
    assert.match(r.stdout, /verdict: feasible: tightest constraint is worst-case latency of stream stream0: 0\.4000 s ≤ 0\.5000 s budget/);
  });

  const usage = async (args: string[], message: RegExp): Promise<void> => {
    const r = await cli('model', ...args);
    assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  };

  it('bad input exits 2 with a message naming the flag', async () => {
    await usage([...oneStream, '--power', '-5'], /option '--power <w>' argument '-5' is invalid\. must be a positive number/);
    await usage([...oneStream, '--power', '1e308'], /fulcrum: --power: must be at most 10000 W \(far above what any board draws\), got 1e\+308/);
    // λ and L past the problem limits (1e6 requests/s, 3600 s), single-stream flags and --stream alike.
    const train = ['--train-batch', '16', '--train-time-ms', '200', '--train-power-w', '30', '--power', '35'];
    const single = (flag: string, value: string): string[] => [...train, '--rate', '20', '--latency', '0.5', '--batch', '4', '--infer-time-ms', '50', '--infer-power-w', '25', flag, value];
    await usage(single('--rate', '1e308'), /^fulcrum: --rate: must be at most 1000000 requests\/s \(far above what any board serves\), got 1e\+308\n$/);
    await usage(single('--latency', '1e308'), /^fulcrum: --latency: must be at most 3600 s \(an hour\), got 1e\+308\n$/);
    await usage([...train, '--stream', 'name=a,rate=2e6,latency=1,batch=1,time_ms=1,power_w=1'], /^fulcrum: --stream #1 rate: must be at most 1000000 requests\/s/);
    await usage([...train, '--stream', 'name=a,rate=2,latency=1,batch=1,time_ms=1,power_w=1', '--stream', 'name=b,rate=2,latency=4000,batch=1,time_ms=1,power_w=1'], /^fulcrum: --stream #2 latency: must be at most 3600 s/);
    await usage([...oneStream, '--power', '35', '--batch', '2.5'], /'--batch <n>' argument '2\.5' is invalid\. must be a positive integer/);
    await usage([...oneStream, '--power', '35', '--semantics', 'max'], /'--semantics <peak\|average>' argument 'max' is invalid\. must be one of peak, average/);
    await usage([...oneStream], /required option '--power <w>' not specified/);
    await usage([...oneStream, '--power', '35', '--mode', '12,2201.6,1000,3199'], /fulcrum: --mode\.gpuMhz: 1000 is not on the orin-agx grid .* nearest GPU MHz values: 930\.75, 1032\.75/);
    await usage([...oneStream, '--power', '35', '--device', 'tx2'], /fulcrum: --device: unknown device "tx2"; known devices: orin-agx, agx-xavier, orin-nano/);
    await usage([...oneStream.slice(0, 14), '--power', '35'], /--infer-power-w is required for the inference stream/);
    await usage(['--train-batch', '16', '--train-time-ms', '200', '--train-power-w', '30', '--power', '35'], /no inference stream/);
    await usage([...oneStream, '--power', '35', '--stream', 'name=x,rate=1,latency=1,batch=1,time_ms=1,power_w=1'], /--rate: give streams either with --stream or with the single-stream flags/);
    await usage(['--train-batch', '16', '--train-time-ms', '200', '--train-power-w', '30', '--power', '35', '--stream', 'name=a,rate=-1,latency=1,batch=1,time_ms=1,power_w=1'], /--stream #1 rate: must be a positive number, got "-1"/);
    await usage(['--train-batch', '16', '--train-time-ms', '200', '--train-power-w', '30', '--power', '35', '--stream', 'name=a,speed=3'], /--stream #1: unknown key "speed"/);
    // A key given twice is refused, not the last one silently taken.
    await usage(['--train-batch', '16', '--train-time-ms', '200', '--train-power-w', '30', '--power', '35', '--stream', 'name=a,rate=10,latency=1,batch=2,time_ms=5,power_w=20,rate=3'], /--stream #1: rate is given twice/);
    await usage([...oneStream, '--power', '35', '--bogus'], /unknown option '--bogus'/);
  });
});

describe('fulcrum executable', () => {
  const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--conditions=@fulcrum/source', '--import', 'tsx', bin, ...args], { encoding: 'utf8' });
  it('--help lists the model command and exits 0', () => {
    const r = run('--help');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /model \[options\]/);
  });
  it('exits 2 on a bad flag value, 0 on a good run', () => {
    assert.equal(run('model', ...oneStream, '--power', 'abc').status, 2);
    const ok = run('model', ...oneStream, '--power', '35', '--json');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).feasible, true);
  });
});
