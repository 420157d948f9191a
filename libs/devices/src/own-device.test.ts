import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateProblem, type PowerMode } from '@fulcrum/core';
import { NotInTableError } from './backend.js';
import { TableBackend } from './profile-table.js';
import { PROFILE_CSV_HEADER, ProfileCsvError, readProfileCsv } from './profiles-csv.js';

/** A board and workloads Fulcrum has never seen: `my-trainer` is only trained, `my-detector` only served. */
function myOrinCsv(): string {
  const lines = [PROFILE_CSV_HEADER];
  // Rows deliberately out of grid order, so the grid grows and re-indexes while reading.
  for (const emc of [3000, 2000])
    for (const gpu of [900, 300, 600])
      for (const cpu of [2000, 1000])
        for (const cores of [8, 4]) {
          const speed = (gpu / 900) * 0.7 + (emc / 3000) * 0.2 + (cpu / 2000) * 0.05 + (cores / 8) * 0.05;
          const power = 5 + gpu / 100 + emc / 1000 + cpu / 1000 + cores / 4;
          lines.push(`my-orin,my-trainer,train,16,${cores},${cpu},${gpu},${emc},${(200 / speed).toFixed(3)},${power.toFixed(3)}`);
          for (const b of [1, 2, 4, 8]) lines.push(`my-orin,my-detector,infer,${b},${cores},${cpu},${gpu},${emc},${((5 + 2 * b) / speed).toFixed(3)},${(power * 0.8).toFixed(3)}`);
        }
  return lines.join('\n') + '\n';
}

describe('a profile table of a device of its own', () => {
  it('takes its grid from the modes it holds, sorted per knob, with no presets', async () => {
    const table = await readProfileCsv(myOrinCsv(), { source: 'T.csv' });
    assert.equal(table.ownGrid, true);
    assert.equal(table.device.id, 'my-orin');
    assert.deepEqual(table.device.grid, { cores: [4, 8], cpuMhz: [1000, 2000], gpuMhz: [300, 600, 900], emcMhz: [2000, 3000] });
    assert.deepEqual(table.device.presets, []);
    assert.equal(table.modes().length, 24);
    assert.deepEqual(table.workloads().sort(), ['my-detector', 'my-trainer']);
    assert.deepEqual(table.batchSizes('my-detector', 'infer'), [1, 2, 4, 8]);
    assert.equal(table.size, 24 * 5);
    // Every row is still found after the grid grew under it.
    const mode: PowerMode = { cores: 4, cpuMhz: 1000, gpuMhz: 300, emcMhz: 2000 };
    const speed = (300 / 900) * 0.7 + (2000 / 3000) * 0.2 + (1000 / 2000) * 0.05 + (4 / 8) * 0.05;
    assert.equal(table.get('my-trainer', 'train', 16, mode)!.timeMs, Number((200 / speed).toFixed(3)));
    assert.equal(table.summary().grid, 'full');
  });

  it('its catalog names the device and workloads, with bT from the table', async () => {
    const table = await readProfileCsv(myOrinCsv());
    const backend = new TableBackend(table, { name: 'T.csv' });
    const catalog = backend.catalog;
    assert.equal(catalog.device('my-orin').grid.gpuMhz.length, 3);
    assert.equal(catalog.workload('my-trainer').defaultTrainBatchSize, 16);
    assert.equal(table.trainBatchSize('my-trainer'), 16);
    assert.equal(table.trainBatchSize('my-detector'), undefined);
    assert.ok(catalog.deviceIds().includes('orin-agx'));
    const p = validateProblem({ device: 'my-orin', trainWorkload: 'my-trainer', powerBudgetW: 20, streams: [{ workload: 'my-detector', arrivalRatePerS: 5, latencyBudgetS: 1 }] }, catalog);
    assert.equal(p.trainBatchSize, 16);
    // A stream that names no batch sizes gets those the table serves (SPEC §2), not 1…64.
    assert.deepEqual(p.streams[0]!.candidateBatchSizes, [1, 2, 4, 8]);
    // Answers only what it holds.
    assert.throws(() => backend.groundTruth({ workload: 'my-detector', kind: 'train', batchSize: 16, mode: { cores: 4, cpuMhz: 1000, gpuMhz: 300, emcMhz: 2000 } }), NotInTableError);
  });

  it('refuses a bad row by line and field, and a known board still has its grid', async () => {
    const bad = myOrinCsv().replace('my-orin,my-trainer,train,16,8,2000,900,3000', 'my-orin,my trainer,train,16,8,2000,900,3000');
    await assert.rejects(readProfileCsv(bad, { source: 'T.csv' }), (e: unknown) => e instanceof ProfileCsvError && e.line === 2 && /^ValidationError: T\.csv line 2: workload: a workload name must be/.test(String(e)));
    const offGrid = `${PROFILE_CSV_HEADER}\norin-agx,my-detector,infer,8,12,2201.6,1000,3199,3,40\n`;
    await assert.rejects(readProfileCsv(offGrid, { source: 'T.csv' }), /T\.csv line 2: mode\.gpuMhz: 1000 is not on the orin-agx grid/);
    // A workload name Fulcrum has never seen is fine on a known board.
    const ok = await readProfileCsv(`${PROFILE_CSV_HEADER}\norin-agx,my.detector_v2,infer,8,12,2201.6,1300.5,3199,3,40\n`);
    assert.equal(ok.ownGrid, false);
    assert.deepEqual(ok.workloads(), ['my.detector_v2']);
  });
});
