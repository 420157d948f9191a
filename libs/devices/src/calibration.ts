/**
 * Calibration of the virtual Orin AGX against Pagoda's MAXN inference measurements
 * (data/pagoda_orin_agx_maxn_inference.csv): the fitting routine (Levenberg–Marquardt from
 * ml-levenberg-marquardt, run offline by scripts/calibrate.ts) and the report that compares the
 * committed constants with the measurements.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { levenbergMarquardt } from 'ml-levenberg-marquardt';
import type { PowerMode } from '@fulcrum/core';
import { CALIBRATED, type FittedConstants } from './calibrated.js';
import { ORIN_AGX_PHYSICS, ORIN_AGX_PRIOR, withFixedPowerScale } from './device-physics.js';
import { CompiledWorkpiece, type DevicePhysics } from './physics.js';
import { PAGODA_MODEL_NAMES, getWorkloadCost, minibatchCost } from './workload-costs.js';
import { LOAD_MS_PER_SAMPLE } from './workload-constants.js';

/** The files shipped in this package's data/ folder. */
export function dataFile(name: string): string {
  return fileURLToPath(new URL(`../data/${name}`, import.meta.url));
}

export const MEASUREMENTS_FILE = 'pagoda_orin_agx_maxn_inference.csv';

/** Time and power tolerances of SPEC §3, for batch sizes ≥ 4. */
export const CALIBRATION_TOLERANCE = 0.1;
export const CALIBRATION_MIN_BATCH = 4;

export interface CalibrationMeasurement {
  readonly workload: string;
  /** Pagoda's model name. */
  readonly model: string;
  readonly batchSize: number;
  readonly mode: PowerMode;
  readonly timeMs: number;
  readonly powerW: number;
  /** The flagged outlier (resnet50 bs=32 power, 18.4 W between 53.5 and 55.4 W). */
  readonly powerGlitch: boolean;
}

let cachedMeasurements: CalibrationMeasurement[] | undefined;

/** The 25 MAXN rows, with Pagoda's model names mapped to Fulcrum's workload ids and units to MHz. */
export function loadCalibrationMeasurements(): readonly CalibrationMeasurement[] {
  if (cachedMeasurements) return cachedMeasurements;
  const text = readFileSync(dataFile(MEASUREMENTS_FILE), 'utf8');
  const [header, ...lines] = text.trim().split(/\r?\n/);
  const cols = header!.split(',');
  const at = (cells: string[], name: string): string => cells[cols.indexOf(name)]!;
  const byModel = Object.fromEntries(Object.entries(PAGODA_MODEL_NAMES).map(([w, m]) => [m, w]));
  cachedMeasurements = lines.map((line) => {
    const c = line.split(',');
    const model = at(c, 'model');
    const workload = byModel[model];
    if (!workload) throw new Error(`${MEASUREMENTS_FILE}: unknown model ${model}`);
    const batchSize = Number(at(c, 'batch_size'));
    return {
      workload,
      model,
      batchSize,
      mode: {
        cores: Number(at(c, 'cores')),
        cpuMhz: Number(at(c, 'cpu_freq_khz')) / 1000,
        gpuMhz: Number(at(c, 'gpu_freq_hz')) / 1e6,
        emcMhz: Number(at(c, 'mem_freq_hz')) / 1e6,
      },
      timeMs: Number(at(c, 'observed_time_ms')),
      powerW: Number(at(c, 'observed_power_w')),
      powerGlitch: model === 'resnet50' && batchSize === 32,
    };
  });
  return cachedMeasurements;
}

function modelAt(physics: DevicePhysics, workload: string, fitted: FittedConstants, m: CalibrationMeasurement): { timeMs: number; powerW: number } {
  const cost = minibatchCost(getWorkloadCost(workload), 'infer', m.batchSize);
  const compiled = new CompiledWorkpiece(physics, {
    ...cost,
    batchSize: m.batchSize,
    kind: 'infer',
    constants: { ...fitted, loadMsPerSample: LOAD_MS_PER_SAMPLE[workload] ?? 0, provenance: '' },
  });
  return compiled.evaluateMode(m.mode);
}

// ---------------------------------------------------------------------------------------------
// Fitting

export interface CalibrationFit {
  readonly fixedPowerScale: number;
  readonly workloads: Record<string, FittedConstants>;
  /** Root-mean-square of the weighted log residuals, per stage. */
  readonly rms: { readonly time: number; readonly power: number };
}

/** Batch-1 rows are not judged; their residuals count at this weight so that they still shape the fit. */
const BATCH1_WEIGHT = 0.5;
/**
 * Bounds on the fitted energies. They are energies per *analytically counted* FLOP and byte:
 * Pagoda's byte counts ignore caches (real DRAM traffic can be much lower, so a counted byte may
 * cost little) and count an LSTM's weights once although they are re-read every step (so a counted
 * byte may cost a lot); hence the wide byte range. An FP32 FMA plus operand delivery on an 8 nm GPU
 * costs a few to tens of pJ per FLOP.
 */
const PJ_PER_FLOP_RANGE = [1, 200] as const;
const PJ_PER_BYTE_RANGE = [0, 400] as const;
const TIME_MIN = [0.02, 0.01, 1, 0];
const TIME_MAX = [1, 200, 8, 0];
const TIME_STARTS: number[][] = [
  [0.3, 10, 2, 0.5],
  [0.5, 1, 1.5, 0.1],
  [0.2, 15, 4, 2],
  [0.6, 5, 1.2, 5],
  [0.3, 17, 6, 0],
];

/** Bounded Levenberg–Marquardt (weighted least squares) from several starts; returns the best. */
function fitLm(
  residual: (params: number[], i: number) => number,
  n: number,
  starts: number[][],
  min: number[],
  max: number[],
  weights: readonly number[] = new Array<number>(n).fill(1),
): { params: number[]; rms: number } {
  let best: { params: number[]; rms: number } | undefined;
  const x = Array.from({ length: n }, (_, i) => i);
  const y = new Array<number>(n).fill(0);
  const weighted = (params: number[], i: number): number => Math.sqrt(weights[i]!) * residual(params, i);
  for (const start of starts) {
    const result = levenbergMarquardt({ x, y }, (params) => (i) => weighted(params, i), {
      initialValues: start,
      minValues: min,
      maxValues: max,
      damping: 1e-2,
      gradientDifference: start.map((v) => Math.max(Math.abs(v) * 1e-4, 1e-6)),
      centralDifference: true,
      maxIterations: 400,
      errorTolerance: 1e-12,
    });
    const params = result.parameterValues.map((v, k) => Math.min(max[k]!, Math.max(min[k]!, v)));
    const rms = Math.sqrt(x.reduce((s, i) => s + weighted(params, i) ** 2, 0) / n);
    if (!best || rms < best.rms) best = { params, rms };
  }
  return best!;
}

/**
 * Minimax fit: least squares, then Lawson's iteratively reweighted least squares (each row's
 * weight multiplied by its |residual|), which drives the fit towards the smallest largest error —
 * the tolerance is judged on the worst row, not on the average. Returns the round whose largest
 * |residual| is smallest.
 */
function fitMinimax(
  residual: (params: number[], i: number) => number,
  n: number,
  starts: number[][],
  min: number[],
  max: number[],
  rounds = 25,
): { params: number[]; maxAbs: number; rms: number } {
  const score = (params: number[]): { maxAbs: number; rms: number } => {
    let maxAbs = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const r = residual(params, i);
      maxAbs = Math.max(maxAbs, Math.abs(r));
      sq += r * r;
    }
    return { maxAbs, rms: Math.sqrt(sq / n) };
  };
  let current = fitLm(residual, n, starts, min, max).params;
  let best = { params: current, ...score(current) };
  let weights = new Array<number>(n).fill(1);
  for (let round = 0; round < rounds; round++) {
    const r = Array.from({ length: n }, (_, i) => Math.abs(residual(current, i)) + 1e-6);
    const raw = weights.map((w, i) => w * r[i]!);
    const mean = raw.reduce((a, b) => a + b, 0) / n;
    weights = raw.map((w) => w / mean);
    current = fitLm(residual, n, [current, ...starts.slice(0, 1)], min, max, weights).params;
    const s = score(current);
    if (s.maxAbs < best.maxAbs) best = { params: current, ...s };
  }
  return best;
}

/**
 * Fits the per-workload constants: first time (η, c0, p, g0 per workload, every batch size
 * weighted alike: batch 1 is what pins the CPU side), then power jointly (energy per FLOP and per
 * byte per workload, plus one scale on the device's fixed power terms; the glitch row left out and
 * batch-1 residuals halved). Residuals are log(model / measured); both stages are minimax fits
 * (see fitMinimax).
 */
export function fitCalibration(measurements: readonly CalibrationMeasurement[] = loadCalibrationMeasurements()): CalibrationFit {
  const workloads = [...new Set(measurements.map((m) => m.workload))];
  const fitted: Record<string, FittedConstants> = {};
  let timeSq = 0;
  for (const w of workloads) {
    const rows = measurements.filter((m) => m.workload === w);
    const asConstants = (p: number[]): FittedConstants => ({
      efficiency: p[0]!,
      launchMs: p[1]!,
      overlap: p[2]!,
      gpuFixedMs: p[3]!,
      pjPerFlop: 0,
      pjPerByte: 0,
    });
    const { params, rms } = fitMinimax(
      (p, i) => (rows[i]!.batchSize < CALIBRATION_MIN_BATCH ? BATCH1_WEIGHT : 1) * Math.log(modelAt(ORIN_AGX_PRIOR, w, asConstants(p), rows[i]!).timeMs / rows[i]!.timeMs),
      rows.length,
      TIME_STARTS,
      TIME_MIN,
      TIME_MAX,
    );
    timeSq += rms * rms * rows.length;
    fitted[w] = asConstants(params);
  }

  const powerRows = measurements.filter((m) => !m.powerGlitch);
  // params: [fixedPowerScale, pjPerFlop_w…, pjPerByte_w…]
  const unpack = (p: number[]): { scale: number; fits: Record<string, FittedConstants> } => ({
    scale: p[0]!,
    fits: Object.fromEntries(workloads.map((w, k) => [w, { ...fitted[w]!, pjPerFlop: p[1 + k]!, pjPerByte: p[1 + workloads.length + k]! }])),
  });
  const n = workloads.length;
  const powerResidual = (p: number[], i: number): number => {
    const { scale, fits } = unpack(p);
    const m = powerRows[i]!;
    const weight = m.batchSize < CALIBRATION_MIN_BATCH ? BATCH1_WEIGHT : 1;
    return weight * Math.log(modelAt(withFixedPowerScale(ORIN_AGX_PRIOR, scale), m.workload, fits[m.workload]!, m).powerW / m.powerW);
  };
  const power = fitMinimax(
    powerResidual,
    powerRows.length,
    [
      [1, ...new Array<number>(n).fill(10), ...new Array<number>(n).fill(50)],
      [0.8, ...new Array<number>(n).fill(20), ...new Array<number>(n).fill(30)],
      [1.2, ...new Array<number>(n).fill(5), ...new Array<number>(n).fill(120)],
    ],
    [0.3, ...new Array<number>(n).fill(PJ_PER_FLOP_RANGE[0]), ...new Array<number>(n).fill(PJ_PER_BYTE_RANGE[0])],
    [3, ...new Array<number>(n).fill(PJ_PER_FLOP_RANGE[1]), ...new Array<number>(n).fill(PJ_PER_BYTE_RANGE[1])],
  );
  const { scale, fits } = unpack(power.params);
  return {
    fixedPowerScale: scale,
    workloads: fits,
    rms: { time: Math.sqrt(timeSq / measurements.length), power: power.rms },
  };
}

// ---------------------------------------------------------------------------------------------
// Report

export interface CalibrationRow {
  readonly workload: string;
  readonly batchSize: number;
  readonly measuredTimeMs: number;
  readonly modelTimeMs: number;
  /** (model − measured) / measured. */
  readonly timeError: number;
  readonly measuredPowerW: number;
  readonly modelPowerW: number;
  readonly powerError: number;
  /** True for the flagged glitch row: its power error is shown but not judged. */
  readonly powerGlitch: boolean;
  /** Whether this row is judged against the tolerance (batch ≥ 4). */
  readonly judged: boolean;
}

export interface CalibrationReport {
  readonly device: string;
  readonly source: string;
  readonly tolerance: number;
  readonly minBatchSize: number;
  readonly rows: readonly CalibrationRow[];
  /** Largest |error| over the judged rows (the glitch row's power excluded). */
  readonly maxAbsTimeError: number;
  readonly maxAbsPowerError: number;
  readonly withinTolerance: boolean;
}

/** The committed (or given) constants against every measured row. */
export function calibrationReport(fit: Pick<CalibrationFit, 'fixedPowerScale' | 'workloads'> = CALIBRATED): CalibrationReport {
  const physics = fit === CALIBRATED ? ORIN_AGX_PHYSICS : withFixedPowerScale(ORIN_AGX_PRIOR, fit.fixedPowerScale);
  const rows = loadCalibrationMeasurements().map((m): CalibrationRow => {
    const constants = fit.workloads[m.workload];
    if (!constants) throw new Error(`no fitted constants for ${m.workload}`);
    const out = modelAt(physics, m.workload, constants, m);
    return {
      workload: m.workload,
      batchSize: m.batchSize,
      measuredTimeMs: m.timeMs,
      modelTimeMs: out.timeMs,
      timeError: (out.timeMs - m.timeMs) / m.timeMs,
      measuredPowerW: m.powerW,
      modelPowerW: out.powerW,
      powerError: (out.powerW - m.powerW) / m.powerW,
      powerGlitch: m.powerGlitch,
      judged: m.batchSize >= CALIBRATION_MIN_BATCH,
    };
  });
  const judged = rows.filter((r) => r.judged);
  const maxAbsTimeError = Math.max(...judged.map((r) => Math.abs(r.timeError)));
  const maxAbsPowerError = Math.max(...judged.filter((r) => !r.powerGlitch).map((r) => Math.abs(r.powerError)));
  return {
    device: 'orin-agx',
    source: `data/${MEASUREMENTS_FILE} (Pagoda, MAXN: 12 cores, CPU 2201.6, GPU 1300.5, EMC 3199 MHz)`,
    tolerance: CALIBRATION_TOLERANCE,
    minBatchSize: CALIBRATION_MIN_BATCH,
    rows,
    maxAbsTimeError,
    maxAbsPowerError,
    withinTolerance: maxAbsTimeError <= CALIBRATION_TOLERANCE && maxAbsPowerError <= CALIBRATION_TOLERANCE,
  };
}
