import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './test-support.js';


const dir = mkdtempSync(join(tmpdir(), 'fulcrum-cli-devices-'));

describe('fulcrum device', () => {
  it('calibrate prints the model vs measurement table, within tolerance', async () => {
    const r = await cli('device', 'calibrate');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bert-large/);
    assert.match(r.stdout, /power: flagged glitch, not judged/);
    assert.match(r.stdout, /within tolerance/);
    const j = JSON.parse((await cli('device', 'calibrate', '--json')).stdout);
    assert.equal(j.rows.length, 25);
    assert.equal(j.withinTolerance, true);
    assert.ok(j.maxAbsTimeError < 0.1 && j.maxAbsPowerError < 0.1);
  });

  it('plot writes SVG and PNG files for time, power and the Pareto front', async () => {
    const out = join(dir, 'plots');
    const r = await cli('device', 'plot', '--workload', 'mobilenet', '--batch-size', '4', '--grid', '441', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const files = readdirSync(out).sort();
    assert.deepEqual(files, [
      'orin-agx-mobilenet-infer-b4-pareto.png',
      'orin-agx-mobilenet-infer-b4-pareto.svg',
      'orin-agx-mobilenet-infer-b4-power-vs-gpu.png',
      'orin-agx-mobilenet-infer-b4-power-vs-gpu.svg',
      'orin-agx-mobilenet-infer-b4-time-vs-gpu.png',
      'orin-agx-mobilenet-infer-b4-time-vs-gpu.svg',
    ]);
    assert.match(readFileSync(join(out, 'orin-agx-mobilenet-infer-b4-time-vs-gpu.svg'), 'utf8'), /EMC 204 MHz/);
  });

  it('bad input is a usage error (exit 2) naming the flag', async () => {
    const w = await cli('device', 'plot', '--workload', 'gpt', '--out', dir);
    assert.equal(w.code, 2);
    assert.match(w.stderr, /--workload: unknown workload "gpt"/);
    const c = await cli('device', 'plot', '--workload', 'lstm', '--cpu-mhz', '1000', '--out', dir);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /--cpu-mhz: 1000 is not on the orin-agx grid/);
    const b = await cli('device', 'plot', '--workload', 'lstm', '--batch-size', '0', '--out', dir);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--batch-size/);
  });
});

describe('fulcrum profiles', () => {
  it('export → import round trip through a file, with a summary', async () => {
    const file = join(dir, 'p.csv');
    const e = await cli('profiles', 'export', '--grid', '441', '--workloads', 'resnet50,lstm', '--batch-sizes', '1-4', '--seed', '3', '--out', file);
    assert.equal(e.code, 0, e.stderr);
    const text = readFileSync(file, 'utf8');
    assert.equal(text.trim().split('\n').length, 1 + 441 * 2 * 5);
    const stdout = await cli('profiles', 'export', '--grid', '441', '--workloads', 'resnet50,lstm', '--batch-sizes', '1,2,3,4', '--seed', '3');
    assert.equal(stdout.stdout, text, 'stdout and --out give the same bytes');
    const i = await cli('profiles', 'import', file, '--json');
    assert.equal(i.code, 0, i.stderr);
    const s = JSON.parse(i.stdout);
    assert.equal(s.device, 'orin-agx');
    assert.deepEqual(s.workloads, ['resnet50', 'lstm']);
    assert.equal(s.modes, 441);
    assert.equal(s.grid, '441');
    assert.equal(s.rows, 441 * 10);
    const human = await cli('profiles', 'import', file);
    assert.match(human.stdout, /modes: +441 \(exactly the 441 grid\)/);
    assert.deepEqual(s.incomplete, {});
    assert.doesNotMatch(human.stdout, /incomplete/);
    // A row taken out: the table still spans the grid, but one group lacks a mode, and the summary says so.
    const holed = join(dir, 'holed.csv');
    const rows = text.trim().split('\n');
    writeFileSync(holed, [...rows.slice(0, 5), ...rows.slice(6)].join('\n') + '\n');
    const gone = rows[5]!.split(',');
    const h = await cli('profiles', 'import', holed);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`incomplete: 1 of 10 \\(workload, kind, batch\\) groups lack modes.*\\n  ${gone[1]}/${gone[2]}/b${gone[3]}: 440 of 441 modes`));
  });

  it('export --out replaces a symlink at that path instead of overwriting its target, and leaves no temporary file (issue 14)', async () => {
    const target = join(dir, 'precious.txt');
    writeFileSync(target, 'keep me\n');
    const link = join(dir, 'link.csv');
    symlinkSync(target, link);
    const e = await cli('profiles', 'export', '--grid', '441', '--workloads', 'lstm', '--batch-sizes', '1', '--kinds', 'infer', '--out', link);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(readFileSync(target, 'utf8'), 'keep me\n', 'the symlink target is untouched');
    assert.ok(!lstatSync(link).isSymbolicLink(), 'the export is a new file at --out');
    assert.equal(readFileSync(link, 'utf8').trim().split('\n').length, 1 + 441);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
  });

  it('--noise 0 exports the ground truth; a bad --noise, --grid or workload is a usage error', async () => {
    const a = await cli('profiles', 'export', '--grid', '441', '--workloads', 'vgg16', '--kinds', 'train', '--noise', '0', '--seed', '1');
    const b = await cli('profiles', 'export', '--grid', '441', '--workloads', 'vgg16', '--kinds', 'train', '--noise', '0', '--seed', '2');
    assert.equal(a.stdout, b.stdout);
    assert.equal(a.stdout.trim().split('\n').length, 442);
    for (const [args, re] of [
      [['--noise', 'lots'], /--noise/],
      [['--grid', '999'], /--grid: unknown grid "999"/],
      [['--workloads', 'resnet50,gpt'], /--workloads: unknown workload "gpt"/],
      [['--batch-sizes', '0'], /--batch-sizes/],
      [['--device', 'orin-nano'], /--device/],
    ] as const) {
      const r = await cli('profiles', 'export', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });

  it('import rejects a malformed row with its line number (exit 2)', async () => {
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w\norin-agx,lstm,infer,4,12,2201.6,1300.5,3199,1.5,30\norin-agx,lstm,infer,4,12,2201.6,1300.5,2133,-1,30\n');
    const r = await cli('profiles', 'import', file);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.csv line 3: time_ms must be a positive time, got -1/);
    const missing = await cli('profiles', 'import', join(dir, 'nope.csv'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file/);
  });
});
