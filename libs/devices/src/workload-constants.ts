/**
 * Per-workload constants of the virtual device: the five workloads Pagoda measured are fitted
 * (calibrated.ts, written by scripts/calibrate.ts); the other three borrow from the physically
 * closest measured workload, with their CPU-side and fixed GPU times scaled by the number of
 * operators (≈ kernels launched) each runs, counted by analytical.ts.
 */
import { getWorkload } from '@fulcrum/core';
import { countBert, countResNet, countVgg16 } from './analytical.js';
import { CALIBRATED, type FittedConstants } from './calibrated.js';
import type { WorkloadConstants } from './physics.js';

/**
 * Data loading per training sample on one core at the top CPU clock (ms). Not calibrated (no
 * training measurements are public): JPEG decode + random-resized-crop + flip + normalise of an
 * ImageNet image ≈ 4 ms on a 2.2 GHz Cortex-A78AE; YOLO's 640×640 mosaic of four images ≈ 12 ms;
 * pre-tokenised text and sequences are a collate (≈ 0.1 ms).
 */
export const LOAD_MS_PER_SAMPLE: Readonly<Record<string, number>> = {
  mobilenet: 4,
  resnet18: 4,
  resnet50: 4,
  vgg16: 4,
  yolov8n: 12,
  'bert-base': 0.15,
  'bert-large': 0.15,
  lstm: 0.05,
};

/** Which measured workload an unmeasured one borrows from, and its operator-count ratio. */
export interface Borrowing {
  readonly from: string;
  readonly operatorRatio: number;
  readonly why: string;
}

export const BORROWED: Readonly<Record<string, Borrowing>> = (() => {
  const r50 = countResNet(50).operators;
  const bl = countBert(24, 1024, 16).operators;
  return {
    resnet18: {
      from: 'resnet50',
      operatorRatio: countResNet(18).operators / r50,
      why: 'same family: dense 3×3/1×1 convolutions, BN folded, residual adds',
    },
    vgg16: {
      from: 'resnet50',
      operatorRatio: countVgg16().operators / r50,
      why: 'dense convolutions with high arithmetic intensity, like ResNet-50 (the closest measured CNN)',
    },
    'bert-base': {
      from: 'bert-large',
      operatorRatio: countBert(12, 768, 12).operators / bl,
      why: 'same transformer encoder, half the layers and 3/4 of the width',
    },
  };
})();

function fromFitted(workload: string, fitted: FittedConstants, provenance: string, operatorRatio = 1): WorkloadConstants {
  return {
    efficiency: fitted.efficiency,
    launchMs: fitted.launchMs * operatorRatio,
    overlap: fitted.overlap,
    gpuFixedMs: fitted.gpuFixedMs * operatorRatio,
    pjPerFlop: fitted.pjPerFlop,
    pjPerByte: fitted.pjPerByte,
    loadMsPerSample: LOAD_MS_PER_SAMPLE[workload] ?? 4,
    provenance,
  };
}

/** The constants the virtual device uses for a workload (fitted, or borrowed as documented). */
export function workloadConstants(workload: string, fits: Readonly<Record<string, FittedConstants>> = CALIBRATED.workloads): WorkloadConstants {
  getWorkload(workload);
  const fitted = fits[workload];
  if (fitted) return fromFitted(workload, fitted, 'fitted to the Orin AGX MAXN inference measurements (data/pagoda_orin_agx_maxn_inference.csv)');
  const b = BORROWED[workload];
  const source = b && fits[b.from];
  if (!b || !source) throw new Error(`no constants for workload ${workload}: neither fitted nor borrowed`);
  return fromFitted(
    workload,
    source,
    `borrowed from ${b.from} (${b.why}); launch and fixed GPU times × ${b.operatorRatio.toFixed(3)} (operator count ratio)`,
    b.operatorRatio,
  );
}
