import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import fc from 'fast-check';
import { ORIN_AGX, getGrid, workloadIds } from '@fulcrum/core';
import { VirtualDevice } from './virtual.js';
import { NotInTableError } from './backend.js';
import { ProfileTable, TableBackend } from './profile-table.js';
import { PROFILE_CSV_HEADER, ProfileCsvError, exportProfiles, formatProfileRow, readProfileCsv, writeProfileCsv } from './profiles-csv.js';

async function exportText(d: VirtualDevice, options: Parameters<typeof exportProfiles>[2]): Promise<string> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  await exportProfiles(d, out, options);
  out.end();
  return chunks.join('');
}

async function tableText(table: ProfileTable): Promise<string> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  await writeProfileCsv(table.rows(), out);
  out.end();
  return chunks.join('');
}

const MODE = '12,2201.6,1300.5,3199';
const row = (rest: string) => `${PROFILE_CSV_HEADER}\norin-agx,resnet50,infer,8,${MODE},20.5,40.25\n${rest}\n`;

async function rejects(text: string, line: number, reason: RegExp): Promise<void> {
  await assert.rejects(readProfileCsv(text, { source: 'bad.csv' }), (err: unknown) => {
    assert.ok(err instanceof ProfileCsvError, String(err));
    assert.equal(err.line, line, err.message);
    assert.match(err.message, reason);
    assert.match(err.message, new RegExp(`^bad\\.csv line ${line}: `));
    return true;
  });
}

describe('profile CSV', () => {
  it('export → import → export is lossless (noisy values, every workload, the 441 grid)', async () => {
    const d = new VirtualDevice('orin-agx', { seed: 42 });
    const text = await exportText(d, { grid: '441', batchSizes: [1, 3, 64] });
    const table = await readProfileCsv(text);
    const s = table.summary();
    assert.equal(s.rows, 441 * workloadIds().length * 4);
    assert.equal(s.modes, 441);
    assert.equal(s.grid, '441');
    assert.deepEqual(s.workloads, workloadIds());
    // every value identical to the bit
    for (const r of table.rows()) {
      const m = d.measure(r);
      assert.ok(Object.is(r.timeMs, m.timeMs) && Object.is(r.powerW, m.powerW), formatProfileRow(r));
    }
    assert.equal(await tableText(table), text);
  });

  it('any finite positive double survives format → parse unchanged (shortest round-trip text)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }), fc.double({ min: 1e-300, max: 1e6, noNaN: true }), async (t, p) => {
        const text = `${PROFILE_CSV_HEADER}\n${formatProfileRow({ device: 'orin-agx', workload: 'lstm', kind: 'train', batchSize: 32, mode: { cores: 4, cpuMhz: 115.2, gpuMhz: 114.75, emcMhz: 204 }, timeMs: t, powerW: p })}\n`;
        const [r] = [...(await readProfileCsv(text)).rows()];
        return Object.is(r!.timeMs, t) && Object.is(r!.powerW, p);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects malformed rows with the line number and the reason', async () => {
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},20.5`), 3, /missing column power_w/);
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},abc,40`), 3, /time_ms is not a number: "abc"/);
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},0,40`), 3, /time_ms must be a positive time, got 0/);
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},-3,40`), 3, /time_ms must be a positive time/);
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},3,-40`), 3, /power_w must be a positive power/);
    await rejects(row(`orin-agx,resnet50,serve,8,${MODE},3,40`), 3, /unknown kind "serve"/);
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},21,41`), 3, /duplicate key resnet50 infer batch 8 on mode 12,2201.6,1300.5,3199 \(first given on line 2\)/);
    await rejects(row(`orin-agx,g pt,infer,8,${MODE},3,40`), 3, /workload: a workload name must be 1–64 letters, digits, '_', '.' or '-', got "g pt"/);
    await rejects(row(`orin-agx,resnet50,infer,2.5,${MODE},3,40`), 3, /batch_size must be a positive integer/);
    await rejects(row(`orin-agx,resnet50,infer,8,12,2201.6,1000,3199,3,40`), 3, /gpuMhz.*not on the orin-agx grid/);
    await rejects(row(`agx-xavier,resnet50,infer,8,${MODE},3,40`), 3, /one table holds one device/);
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},3,40,7`), 3, /too many fields/);
    await rejects(row(`orin-agx,resnet50,infer,8,${MODE},,40`), 3, /time_ms is empty/);
    await rejects(`device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms\n`, 1, /missing column power_w in the header/);
    await rejects(`${PROFILE_CSV_HEADER},extra\n`, 1, /unknown column "extra"/);
    await rejects(`${PROFILE_CSV_HEADER}\nnano 9,resnet50,infer,8,${MODE},3,40\n`, 2, /a device name must be .*got "nano 9"/);
    await rejects(`${PROFILE_CSV_HEADER}\n`, 2, /no rows/);
    await rejects('', 1, /empty file/);
    await rejects(`${PROFILE_CSV_HEADER}\norin-agx,"resnet50,infer,8\n`, 2, /malformed CSV/);
  });

  it('an error about a huge header or binary garbage stays short (issue 14): a prefix of the value, never all of it', async () => {
    const huge = 'x'.repeat(300 * 1024);
    for (const text of [`${PROFILE_CSV_HEADER},${huge}\n`, `${PROFILE_CSV_HEADER.replace('power_w', 'time_ms')}${huge}\n`, `"${huge}`, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)).toString('latin1')]) {
      await assert.rejects(readProfileCsv(text, { source: 'bad.csv' }), (err: unknown) => {
        assert.ok(err instanceof ProfileCsvError, String(err));
        assert.ok(err.message.length < 600, `${err.message.length} characters: ${err.message.slice(0, 120)}`);
        return true;
      });
    }
  });

  it('optional columns samples, time_se_ms, power_se_w (issue 16): kept where given, unknown where empty or absent, written back, bad ones refused by line', async () => {
    const header = `${PROFILE_CSV_HEADER},samples,time_se_ms,power_se_w`;
    const text = `${header}\norin-agx,resnet50,infer,8,${MODE},20.5,40.25,25,0.31,0.08\norin-agx,resnet50,infer,16,${MODE},30.5,42.5,,,\n`;
    const table = await readProfileCsv(text);
    const [sure, plain] = [...table.rows()];
    assert.deepEqual([sure!.samples, sure!.timeSeMs, sure!.powerSeW], [25, 0.31, 0.08]);
    assert.ok(!('samples' in plain!) && !('timeSeMs' in plain!) && !('powerSeW' in plain!), 'empty cells are unknown, not 0');
    assert.deepEqual(table.uncertainty('resnet50', 'infer', 8, sure!.mode), { samples: 25, timeSeMs: 0.31, powerSeW: 0.08 });
    const back = await tableText(table);
    assert.equal(back.split('\n')[1], `orin-agx,resnet50,infer,8,${MODE},20.5,40.25,25,0.31,0.08`);
    assert.equal(back.split('\n')[2], `orin-agx,resnet50,infer,16,${MODE},30.5,42.5,,,`);
    assert.deepEqual([...(await readProfileCsv(back)).rows()], [...table.rows()]);
    // Only some of them, in another order.
    const some = await readProfileCsv(`time_se_ms,${PROFILE_CSV_HEADER}\n0.5,orin-agx,resnet50,infer,8,${MODE},20.5,40.25\n`);
    assert.equal([...some.rows()][0]!.timeSeMs, 0.5);
    for (const [cells, message] of [
      ['0,0.3,0.1', /line 2: samples must be a positive integer, got 0/],
      ['2.5,0.3,0.1', /line 2: samples must be a positive integer, got 2.5/],
      ['5,-0.3,0.1', /line 2: time_se_ms must be ≥ 0, got -0.3/],
      ['5,0.3,x', /line 2: power_se_w is not a number/],
    ] as const) {
      await assert.rejects(readProfileCsv(`${header}\norin-agx,resnet50,infer,8,${MODE},20.5,40.25,${cells}\n`), message);
    }
  });

  it('reads columns in any order, CRLF line ends and a BOM', async () => {
    const text = '\uFEFFkind,workload,device,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,power_w,time_ms\r\ninfer,lstm,orin-agx,4,12,2201.6,1300.5,3199,30.487,1.522864\r\n';
    const [r] = [...(await readProfileCsv(text)).rows()];
    assert.deepEqual(r, { device: 'orin-agx', workload: 'lstm', kind: 'infer', batchSize: 4, mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, timeMs: 1.522864, powerW: 30.487 });
  });

  it('a 4,368-mode export of all workloads, training and inference batch sizes 1..64 finishes in seconds', async () => {
    const d = new VirtualDevice('orin-agx');
    let bytes = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        cb();
      },
    });
    const started = performance.now();
    const s = await exportProfiles(d, sink, { grid: '4368', batchSizes: Array.from({ length: 64 }, (_, i) => i + 1) });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(s.rows, 4368 * workloadIds().length * 65);
    console.log(`# export: ${s.rows} rows, ${(bytes / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s`);
    assert.ok(seconds < 30, `${seconds} s`);
  });
});

describe('table backend', () => {
  it('answers only the modes its table holds, and says so clearly for the others', async () => {
    const d = new VirtualDevice('orin-agx', { noise: 0 });
    const table = await readProfileCsv(await exportText(d, { grid: '441', workloads: ['resnet50'], batchSizes: [8] }));
    const t = new TableBackend(table, { name: 'lab.csv' });
    const inTable = { mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, workload: 'resnet50', kind: 'infer' as const, batchSize: 8 };
    assert.ok(t.has(inTable));
    assert.deepEqual(t.measure(inTable), d.groundTruth(inTable));
    const offTable = { ...inTable, mode: { ...inTable.mode, cores: 11 } };
    assert.equal(t.has(offTable), false);
    assert.throws(() => t.measure(offTable), (err: unknown) => err instanceof NotInTableError && /mode 11,2201.6,1300.5,3199 is not in lab.csv, which holds 441 modes/.test(err.message));
    assert.throws(() => t.measure({ ...inTable, batchSize: 4 }), /no resnet50 infer rows at batch 4 \(it has batch sizes 8\)/);
    assert.throws(() => t.measure({ ...inTable, workload: 'vgg16' }), /no vgg16 infer rows \(workloads in it: resnet50\)/);
    assert.throws(() => t.measure({ ...inTable, mode: { ...inTable.mode, gpuMhz: 1 } }), /mode.gpuMhz/);
    // ground-truth tables: NaN outside the table, exact inside
    const full = t.groundTruthTable('resnet50', 'infer', 8);
    assert.equal(full.index.size, 18096);
    assert.equal(Array.from(full.timeMs).filter((x) => !Number.isNaN(x)).length, 441);
    const sub = t.groundTruthTable('resnet50', 'infer', 8, '441');
    assert.deepEqual(Array.from(sub.timeMs), Array.from(d.groundTruthTable('resnet50', 'infer', 8, '441').timeMs));
    assert.equal(getGrid(ORIN_AGX, '441').cores.length, 3);
  });
});
