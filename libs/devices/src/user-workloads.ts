/**
 * Workloads the virtual board simulates beyond its eight built-in ones: a user's workload folder
 * (docs/WORKLOADS.md) turned into plain data — FLOPs and bytes per kind (from the manifest's
 * `cost:` section or counted on its ONNX graph) — by `@fulcrum/workloads`' virtual-cost.ts. This
 * package does not read folders; it only takes the numbers.
 *
 * A user workload has no measurements, so it borrows the fitted constants of the physically
 * closest calibrated workload, as the three unmeasured built-ins do (workload-constants.ts): the
 * closest by arithmetic intensity (FLOPs per byte of one inference pass at batch 1 and at batch 16,
 * |Δ log| summed) among the calibrated workloads of the same compute class (convolutions, matrix
 * products or recurrent cells: the operators that carry most of its FLOPs) when the class is known,
 * else among all five; its CPU-side launch and fixed GPU times are scaled by its operator count
 * over the source's, when it has one.
 */
import { ValidationError, type WorkloadDescriptor, type WorkloadKind } from '@fulcrum/core';
import { requireName } from '@fulcrum/core/internal';
import { countBert, countResNet } from './analytical.js';
import { CALIBRATED, type FittedConstants } from './calibrated.js';
import type { WorkloadConstants } from './physics.js';
import { LOAD_MS_PER_SAMPLE } from './workload-constants.js';
import { TRAINING_COST_FACTOR, getWorkloadCost, type WorkloadCost } from './workload-costs.js';

/** What one minibatch of one kind costs, as straight lines in the batch size b. */
export interface MinibatchCostLine {
  /** FLOPs per sample. */
  readonly flopsPerSample: number;
  /** FLOPs per minibatch that do not grow with b (default 0). */
  readonly flopsPerBatch?: number;
  /** Bytes moved per sample (activations). */
  readonly activationBytesPerSample: number;
  /** Bytes moved once per minibatch whatever its size (weights; default 0). */
  readonly paramBytes?: number;
}

/** Which operators carry most of a workload's FLOPs. */
export type ComputeClass = 'conv' | 'matmul' | 'recurrent';
export const COMPUTE_CLASSES: readonly ComputeClass[] = ['conv', 'matmul', 'recurrent'];

/** A workload the virtual board simulates from its costs (plain data; see virtual-cost.ts in @fulcrum/workloads). */
export interface VirtualWorkloadSpec {
  /** The workload's name (the name rule of core). */
  readonly id: string;
  readonly displayName?: string;
  /** One sample's input, for the catalog (e.g. `3×224×224 float32`). */
  readonly input?: string;
  /** The training minibatch size bT used when a problem does not give one. */
  readonly defaultTrainBatchSize: number;
  /**
   * FLOPs and bytes of one training minibatch (forward, backward, update) and of one inference
   * pass. At least one; a missing kind is the other × or ÷ TRAINING_COST_FACTOR (3).
   */
  readonly cost: { readonly train?: MinibatchCostLine; readonly infer?: MinibatchCostLine };
  /** Operators (≈ kernels) of one inference pass, when counted: scales the borrowed launch times. */
  readonly operators?: number;
  /** Which operators carry most of its FLOPs, when known: picks the calibrated workloads it may borrow from. */
  readonly computeClass?: ComputeClass;
  /** Data loading per training sample on one core at the top CPU clock, ms (default: the borrowed workload's). */
  readonly loadMsPerSample?: number;
  /** Where the costs come from (one line; shown in the constants' provenance). */
  readonly source?: string;
}

/** A checked spec with both kinds' lines filled in. */
export interface UserWorkload {
  readonly spec: VirtualWorkloadSpec;
  readonly descriptor: WorkloadDescriptor;
  readonly lines: Readonly<Record<WorkloadKind, Required<MinibatchCostLine>>>;
}

/**
 * Operators of one inference pass of the calibrated workloads, with the conventions of
 * analytical.ts (and of @fulcrum/workloads' ONNX counter, which reproduces analytical.ts's
 * ResNet-18/50 counts exactly).
 */
export const CALIBRATED_OPERATORS: Readonly<Record<string, { readonly operators: number; readonly how: string }>> = {
  resnet50: { operators: countResNet(50).operators, how: 'analytical.ts' },
  'bert-large': { operators: countBert(24, 1024, 16).operators, how: 'analytical.ts' },
  mobilenet: {
    operators: 161,
    how:
      "counted by @fulcrum/workloads' ONNX counter on torchvision 0.14's mobilenet_v3_large exported at opset 13 (Pagoda's mobnet: " +
      'the same 21,805,088 weight bytes, FLOPs within 0.3%): 62 Conv, 29 HardSigmoid, 29 Mul, 19 Relu, 10 Add, 9 pools, Flatten, 2 Gemm',
  },
  yolov8n: {
    operators: 225,
    how: 'an estimate from the architecture: 57 Conv+SiLU modules (3 operators each), 7 plain Conv, C2f Split/Add/Concat, SPPF, 2 Resize and the Detect head\'s ≈ 15 post-processing operators',
  },
  lstm: { operators: 5, how: 'an estimate from the architecture: embedding Gather, two LSTM layers, decoder MatMul and bias Add' },
};

/** The compute class of each calibrated workload. */
export const CALIBRATED_CLASSES: Readonly<Record<string, ComputeClass>> = {
  mobilenet: 'conv',
  resnet50: 'conv',
  yolov8n: 'conv',
  'bert-large': 'matmul',
  lstm: 'recurrent',
};

/** The batch sizes at which arithmetic intensity is compared. */
export const INTENSITY_BATCH_SIZES: readonly number[] = [1, 16];

function requireFinite(field: string, v: unknown, min: 'positive' | 'non-negative'): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (min === 'positive' ? v <= 0 : v < 0)) {
    throw new ValidationError(field, `must be a ${min === 'positive' ? 'positive' : 'non-negative'} number, got ${String(v)}`);
  }
  return v;
}

function checkLine(field: string, line: MinibatchCostLine): Required<MinibatchCostLine> {
  if (line === null || typeof line !== 'object') throw new ValidationError(field, 'must be an object with flopsPerSample and activationBytesPerSample');
  return {
    flopsPerSample: requireFinite(`${field}.flopsPerSample`, line.flopsPerSample, 'positive'),
    flopsPerBatch: requireFinite(`${field}.flopsPerBatch`, line.flopsPerBatch ?? 0, 'non-negative'),
    activationBytesPerSample: requireFinite(`${field}.activationBytesPerSample`, line.activationBytesPerSample, 'positive'),
    paramBytes: requireFinite(`${field}.paramBytes`, line.paramBytes ?? 0, 'non-negative'),
  };
}

function scaleLine(line: Required<MinibatchCostLine>, f: number): Required<MinibatchCostLine> {
  return { flopsPerSample: line.flopsPerSample * f, flopsPerBatch: line.flopsPerBatch * f, activationBytesPerSample: line.activationBytesPerSample * f, paramBytes: line.paramBytes * f };
}

/** Checks a spec (errors name `field`, e.g. `workloads[2].cost.infer.flopsPerSample`) and fills the missing kind. */
export function checkUserWorkload(spec: VirtualWorkloadSpec, field = 'workload'): UserWorkload {
  if (spec === null || typeof spec !== 'object') throw new ValidationError(field, 'must be an object with id, defaultTrainBatchSize and cost');
  requireName(`${field}.id`, spec.id, 'a workload name');
  const bt = spec.defaultTrainBatchSize;
  if (typeof bt !== 'number' || !Number.isInteger(bt) || bt <= 0) throw new ValidationError(`${field}.defaultTrainBatchSize`, `must be a positive integer, got ${String(bt)}`);
  const cost = spec.cost ?? {};
  if (!cost.train && !cost.infer) throw new ValidationError(`${field}.cost`, 'needs train or infer FLOPs and bytes (or both)');
  const train = cost.train ? checkLine(`${field}.cost.train`, cost.train) : undefined;
  const infer = cost.infer ? checkLine(`${field}.cost.infer`, cost.infer) : undefined;
  if (spec.operators !== undefined) requireFinite(`${field}.operators`, spec.operators, 'positive');
  if (spec.loadMsPerSample !== undefined) requireFinite(`${field}.loadMsPerSample`, spec.loadMsPerSample, 'non-negative');
  if (spec.computeClass !== undefined && !COMPUTE_CLASSES.includes(spec.computeClass)) {
    throw new ValidationError(`${field}.computeClass`, `must be one of ${COMPUTE_CLASSES.join(', ')}, got ${String(spec.computeClass)}`);
  }
  const lines = {
    train: train ?? scaleLine(infer!, TRAINING_COST_FACTOR),
    infer: infer ?? scaleLine(train!, 1 / TRAINING_COST_FACTOR),
  };
  return {
    spec,
    descriptor: {
      id: spec.id,
      displayName: spec.displayName ?? spec.id,
      ...(spec.input ? { input: spec.input } : {}),
      defaultTrainBatchSize: bt,
    },
    lines,
  };
}

/** FLOPs and bytes of one minibatch of `batchSize` on a line. */
export function lineCost(line: Required<MinibatchCostLine>, batchSize: number): { flops: number; bytes: number } {
  return { flops: line.flopsPerBatch + batchSize * line.flopsPerSample, bytes: line.paramBytes + batchSize * line.activationBytesPerSample };
}

function intensity(line: { flopsPerSample: number; flopsPerBatch: number; activationBytesPerSample: number; paramBytes: number }, b: number): number {
  return (line.flopsPerBatch + b * line.flopsPerSample) / (line.paramBytes + b * line.activationBytesPerSample);
}

function builtinLine(c: WorkloadCost): Required<MinibatchCostLine> {
  return { flopsPerSample: c.flopsPerSample, flopsPerBatch: c.flopsPerBatch, activationBytesPerSample: c.activationBytesPerSample, paramBytes: c.paramBytes };
}

/** How a user workload's constants were chosen. */
export interface BorrowChoice {
  readonly from: string;
  /** Σ |log(intensity ratio)| at INTENSITY_BATCH_SIZES. */
  readonly distance: number;
  /** The user workload's intensity (FLOP/byte) at INTENSITY_BATCH_SIZES, and the source's. */
  readonly intensity: readonly number[];
  readonly sourceIntensity: readonly number[];
  /** Launch and fixed GPU times × this (operator count ratio; 1 when no count is known). */
  readonly operatorRatio: number;
}

/** The calibrated workload a user workload borrows from (see the file's comment). */
export function chooseBorrowing(user: UserWorkload, fits: Readonly<Record<string, FittedConstants>> = CALIBRATED.workloads): BorrowChoice {
  const line = user.lines.infer;
  const mine = INTENSITY_BATCH_SIZES.map((b) => intensity(line, b));
  const all = Object.keys(fits).sort();
  const cls = user.spec.computeClass;
  const sameClass = cls ? all.filter((w) => CALIBRATED_CLASSES[w] === cls) : [];
  const candidates = sameClass.length > 0 ? sameClass : all;
  let best: BorrowChoice | undefined;
  for (const w of candidates) {
    const theirs = INTENSITY_BATCH_SIZES.map((b) => intensity(builtinLine(getWorkloadCost(w)), b));
    const distance = mine.reduce((s, v, i) => s + Math.abs(Math.log(v / theirs[i]!)), 0);
    if (!best || distance < best.distance) {
      const ops = CALIBRATED_OPERATORS[w]?.operators;
      const operatorRatio = user.spec.operators !== undefined && ops ? user.spec.operators / ops : 1;
      best = { from: w, distance, intensity: mine, sourceIntensity: theirs, operatorRatio };
    }
  }
  if (!best) throw new Error('no calibrated workload to borrow constants from');
  return best;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** The constants the virtual board uses for a user workload, borrowed as documented above. */
export function userWorkloadConstants(user: UserWorkload, fits: Readonly<Record<string, FittedConstants>> = CALIBRATED.workloads): WorkloadConstants {
  const choice = chooseBorrowing(user, fits);
  const fitted = fits[choice.from]!;
  const spec = user.spec;
  const bs = INTENSITY_BATCH_SIZES.join(' and ');
  const cls = spec.computeClass ? `of the same compute class (${spec.computeClass})` : 'of any class (compute class unknown)';
  const ops =
    spec.operators !== undefined
      ? `; launch and fixed GPU times × ${choice.operatorRatio.toFixed(3)} (${spec.operators} operators over ${choice.from}'s ${CALIBRATED_OPERATORS[choice.from]?.operators ?? '?'})`
      : '; launch and fixed GPU times as fitted (no operator count)';
  const load = spec.loadMsPerSample ?? LOAD_MS_PER_SAMPLE[choice.from] ?? 4;
  return {
    efficiency: fitted.efficiency,
    launchMs: fitted.launchMs * choice.operatorRatio,
    overlap: fitted.overlap,
    gpuFixedMs: fitted.gpuFixedMs * choice.operatorRatio,
    pjPerFlop: fitted.pjPerFlop,
    pjPerByte: fitted.pjPerByte,
    loadMsPerSample: load,
    provenance:
      `borrowed from ${choice.from}, the closest calibrated workload ${cls} by arithmetic intensity ` +
      `(${choice.intensity.map(fmt).join(' / ')} vs ${choice.sourceIntensity.map(fmt).join(' / ')} FLOP/byte at batch ${bs})${ops}; ` +
      `data loading ${load} ms/sample${spec.loadMsPerSample === undefined ? ` (${choice.from}'s)` : ''}` +
      (spec.source ? `; costs ${spec.source}` : ''),
  };
}
