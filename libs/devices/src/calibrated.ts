// Written by scripts/calibrate.ts — do not edit by hand; rerun `npm run calibrate -w @fulcrum/devices`.
// Fitted to data/pagoda_orin_agx_maxn_inference.csv: max |error| at batch ≥ 4 time 6.30%, power 9.58% (glitch row excluded).
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
  fixedPowerScale: 0.999792,
  workloads: {
    "lstm": { efficiency: 0.592613, launchMs: 1.1033, overlap: 1, gpuFixedMs: 0, pjPerFlop: 5.48447, pjPerByte: 278.762 },
    "yolov8n": { efficiency: 0.41639, launchMs: 17.6188, overlap: 2.55685, gpuFixedMs: 0, pjPerFlop: 16.5515, pjPerByte: 0 },
    "mobilenet": { efficiency: 0.247171, launchMs: 19.0562, overlap: 3.23913, gpuFixedMs: 0, pjPerFlop: 63.8667, pjPerByte: 58.7683 },
    "resnet50": { efficiency: 0.570169, launchMs: 14.1533, overlap: 1.79841, gpuFixedMs: 0, pjPerFlop: 11.7622, pjPerByte: 50.0377 },
    "bert-large": { efficiency: 0.267123, launchMs: 0.697454, overlap: 2.28924, gpuFixedMs: 0, pjPerFlop: 28.4471, pjPerByte: 50.3379 },
  },
};
