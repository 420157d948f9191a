import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CALIBRATION_TOLERANCE, calibrationReport, loadCalibrationMeasurements } from './calibration.js';

describe('calibration against the Orin AGX MAXN measurements', () => {
  it('reads the 25 measured rows and flags the resnet50 bs=32 power glitch', () => {
    const rows = loadCalibrationMeasurements();
    assert.equal(rows.length, 25);
    assert.deepEqual(
      rows.filter((r) => r.powerGlitch).map((r) => [r.workload, r.batchSize]),
      [['resnet50', 32]],
    );
    assert.deepEqual(rows[0]!.mode, { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 });
  });

  it('the committed constants are within 10% on time and power at batch ≥ 4', () => {
    const report = calibrationReport();
    const judged = report.rows.filter((r) => r.judged);
    assert.equal(judged.length, 20);
    for (const r of judged) {
      assert.ok(Math.abs(r.timeError) <= CALIBRATION_TOLERANCE, `${r.workload} b=${r.batchSize} time ${(100 * r.timeError).toFixed(1)}%`);
      if (!r.powerGlitch) assert.ok(Math.abs(r.powerError) <= CALIBRATION_TOLERANCE, `${r.workload} b=${r.batchSize} power ${(100 * r.powerError).toFixed(1)}%`);
    }
    assert.ok(report.withinTolerance);
    assert.ok(report.maxAbsTimeError < 0.1 && report.maxAbsPowerError < 0.1);
  });

  it('batch 1 (not judged) is still in the right range: within 20%', () => {
    for (const r of calibrationReport().rows.filter((x) => x.batchSize === 1)) {
      assert.ok(Math.abs(r.timeError) < 0.2 && Math.abs(r.powerError) < 0.2, `${r.workload}`);
    }
  });
});
