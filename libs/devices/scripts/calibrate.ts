/**
 * Offline calibration: fits the virtual Orin AGX's per-workload constants to Pagoda's MAXN
 * measurements and writes src/calibrated.ts. Run: npm run calibrate -w @fulcrum/devices
 * (add --dry-run to print without writing).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { calibrationReport, fitCalibration } from '../src/calibration.js';

const fit = fitCalibration();
const report = calibrationReport(fit);
const fmt = (x: number): string => String(Number(x.toPrecision(6)));
console.log(`rms log residual: time ${fit.rms.time.toFixed(4)}, power ${fit.rms.power.toFixed(4)}; fixed power scale ${fmt(fit.fixedPowerScale)}`);
for (const r of report.rows) {
  console.log(
    `${r.workload.padEnd(11)} b=${String(r.batchSize).padStart(2)}  time ${fmt(r.measuredTimeMs).padStart(9)} → ${r.modelTimeMs.toFixed(2).padStart(9)} (${(100 * r.timeError).toFixed(1).padStart(5)}%)` +
      `  power ${fmt(r.measuredPowerW).padStart(7)} → ${r.modelPowerW.toFixed(2).padStart(6)} (${(100 * r.powerError).toFixed(1).padStart(5)}%)${r.powerGlitch ? ' glitch' : ''}`,
  );
}
console.log(`max |error| at batch ≥ 4: time ${(100 * report.maxAbsTimeError).toFixed(2)}%, power ${(100 * report.maxAbsPowerError).toFixed(2)}% → ${report.withinTolerance ? 'within' : 'OUTSIDE'} ±10%`);
for (const [w, c] of Object.entries(fit.workloads)) console.log(w, Object.entries(c).map(([k, v]) => `${k}=${fmt(v)}`).join(' '));

if (!process.argv.includes('--dry-run')) {
  const workloads = Object.entries(fit.workloads)
    .map(([w, c]) => `    ${JSON.stringify(w)}: { ${Object.entries(c).map(([k, v]) => `${k}: ${fmt(v)}`).join(', ')} },`)
    .join('\n');
  const text = `// Written by scripts/calibrate.ts — do not edit by hand; rerun \`npm run calibrate -w @fulcrum/devices\`.
// Fitted to data/pagoda_orin_agx_maxn_inference.csv: max |error| at batch ≥ 4 time ${(100 * report.maxAbsTimeError).toFixed(2)}%, power ${(100 * report.maxAbsPowerError).toFixed(2)}% (glitch row excluded).
export interface FittedConstants {
  readonly efficiency: number;
  readonly launchMs: number;
  readonly overlap: number;
  readonly gpuFixedMs: number;
  readonly pjPerFlop: number;
  readonly pjPerByte: number;
}

export const CALIBRATED: {
  readonly fittedOn: string;
  readonly method: string;
  readonly fixedPowerScale: number;
  readonly workloads: Readonly<Record<string, FittedConstants>>;
} = {
  fittedOn: 'data/pagoda_orin_agx_maxn_inference.csv',
  method: 'bounded Levenberg–Marquardt (ml-levenberg-marquardt) on log(model/measured), Lawson-reweighted towards the smallest largest error: time per workload, then power jointly',
  fixedPowerScale: ${fmt(fit.fixedPowerScale)},
  workloads: {
${workloads}
  },
};
`;
  writeFileSync(fileURLToPath(new URL('../src/calibrated.ts', import.meta.url)), text);
  console.log('wrote src/calibrated.ts');
}
