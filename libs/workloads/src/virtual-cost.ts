/**
 * A workload folder on the virtual board (docs/WORKLOADS.md): its FLOPs and bytes from the
 * manifest's `cost:` section, or else counted on its ONNX graph (`infer.onnx`, onnx-cost.ts; an
 * estimate), turned into the plain data `@fulcrum/devices`' VirtualDevice simulates
 * (`virtualWorkloadOf`); and what `fulcrum workload inspect DIR` shows (`inspectWorkload`,
 * `formatInspection`).
 */
import { ValidationError, getDevice, getPreset, workloadIds, type PowerMode, type WorkloadKind } from '@fulcrum/core';
import { VirtualDevice, type MinibatchCostLine, type VirtualWorkloadSpec } from '@fulcrum/devices';
import { getWorkloadCost } from '@fulcrum/devices/internal';
import type { WorkloadFolder } from './folder.js';
import { TRAINING_COST_FACTOR, type WorkloadCostSpec } from './manifest.js';
import { countOnnxCost, type OnnxCost } from './onnx-cost.js';
import { descriptorOf } from './registry.js';

/** Where a folder's virtual-board costs come from. */
export type CostOrigin = 'manifest' | 'onnx' | 'builtin';

interface Costs {
  readonly spec: VirtualWorkloadSpec;
  readonly origin: CostOrigin;
  /** The ONNX count: the costs' origin, or only the operator count and compute class. */
  readonly onnx?: OnnxCost;
  /** Why the ONNX file could not be counted, when the costs come from the manifest. */
  readonly onnxError?: string;
}

function lineOf(c: WorkloadCostSpec): MinibatchCostLine {
  return { flopsPerSample: c.flopsPerSample, flopsPerBatch: c.flopsPerBatch, activationBytesPerSample: c.bytesPerSample, paramBytes: c.paramBytes };
}

function scaled(line: Required<MinibatchCostLine>, f: number): Required<MinibatchCostLine> {
  return { flopsPerSample: f * line.flopsPerSample, flopsPerBatch: f * line.flopsPerBatch, activationBytesPerSample: f * line.activationBytesPerSample, paramBytes: f * line.paramBytes };
}

function count(folder: WorkloadFolder): OnnxCost {
  const shape = folder.manifest.infer?.input?.shape;
  return countOnnxCost(folder.onnxPath!, { name: folder.onnxPath!, ...(shape ? { inputShape: shape } : {}) });
}

function costsOf(folder: WorkloadFolder): Costs {
  const m = folder.manifest;
  const d = descriptorOf(folder);
  const base = {
    id: m.name,
    displayName: m.displayName,
    ...(d.input ? { input: d.input } : {}),
    defaultTrainBatchSize: d.defaultTrainBatchSize,
  };
  if (m.cost) {
    // The costs are the manifest's; the ONNX graph, when there is one, only tells the operator
    // count and compute class the borrowed constants are scaled and chosen by.
    let onnx: OnnxCost | undefined;
    let onnxError: string | undefined;
    if (folder.onnxPath) {
      try {
        onnx = count(folder);
      } catch (err) {
        onnxError = (err as Error).message;
      }
    }
    const spec: VirtualWorkloadSpec = {
      ...base,
      cost: { ...(m.cost.train ? { train: lineOf(m.cost.train) } : {}), ...(m.cost.infer ? { infer: lineOf(m.cost.infer) } : {}) },
      ...(m.cost.operators ?? onnx?.operators ? { operators: (m.cost.operators ?? onnx?.operators)! } : {}),
      ...(m.cost.computeClass ?? onnx?.computeClass ? { computeClass: (m.cost.computeClass ?? onnx?.computeClass)! } : {}),
      source: `from ${folder.manifestPath}'s cost: section`,
    };
    return { spec, origin: 'manifest', ...(onnx ? { onnx } : {}), ...(onnxError ? { onnxError } : {}) };
  }
  if (folder.onnxPath) {
    const onnx = count(folder);
    if (!(onnx.flopsPerSample > 0) || !(onnx.activationBytesPerSample > 0)) {
      throw new ValidationError(
        `${folder.manifestPath}: infer.onnx`,
        `counted no per-sample FLOPs or bytes on ${m.infer!.onnx}${onnx.uncounted.length ? ` (operators not counted: ${onnx.uncounted.join(', ')})` : ''}; give the manifest a cost: section`,
      );
    }
    const infer: Required<MinibatchCostLine> = {
      flopsPerSample: onnx.flopsPerSample,
      flopsPerBatch: onnx.flopsPerBatch,
      activationBytesPerSample: onnx.activationBytesPerSample,
      paramBytes: onnx.paramBytes + onnx.activationBytesPerBatch,
    };
    const spec: VirtualWorkloadSpec = {
      ...base,
      cost: { infer, train: scaled(infer, TRAINING_COST_FACTOR) },
      operators: onnx.operators,
      ...(onnx.computeClass ? { computeClass: onnx.computeClass } : {}),
      source: `counted on ${folder.onnxPath} (an estimate)`,
    };
    return { spec, origin: 'onnx', onnx };
  }
  throw new ValidationError(folder.dir, 'no cost: section and no infer.onnx to count; the virtual board cannot simulate it');
}

/**
 * What the virtual board needs to simulate a workload folder: its FLOPs and bytes per kind from
 * the manifest's `cost:` section, or else counted on its ONNX graph (training = 3× the inference
 * counts, TRAINING_COST_FACTOR). A ValidationError naming the folder when it has neither, or
 * naming the ONNX file when it cannot be counted.
 */
export function virtualWorkloadOf(folder: WorkloadFolder): VirtualWorkloadSpec {
  return costsOf(folder).spec;
}

/**
 * `virtualWorkloadOf` for each folder a user added (built-in folders are skipped: the virtual
 * board has their calibrated costs), for `createVirtualDevice(id, { workloads })`.
 */
export function virtualWorkloadsOf(folders: readonly WorkloadFolder[]): VirtualWorkloadSpec[] {
  return folders.filter((f) => !f.builtin).map(virtualWorkloadOf);
}

// ---------------------------------------------------------------------------------------------
// inspect

/** FLOPs and bytes of one minibatch of one kind, as straight lines in the batch size. */
export interface KindCost {
  readonly flopsPerSample: number;
  readonly flopsPerBatch: number;
  readonly bytesPerSample: number;
  /** Bytes moved once per minibatch (weights). */
  readonly bytesPerBatch: number;
  /** Not given: derived from the other kind with TRAINING_COST_FACTOR. */
  readonly derived: boolean;
}

export interface VirtualEstimate {
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  readonly timeMs: number;
  readonly powerW: number;
}

/** What `fulcrum workload inspect DIR` shows (plain data; `formatInspection` prints it). */
export interface WorkloadInspection {
  readonly name: string;
  readonly displayName: string;
  readonly description?: string;
  readonly approximation?: string;
  readonly dir: string;
  readonly builtin: boolean;
  readonly kinds: readonly WorkloadKind[];
  readonly trainBatchSize?: number;
  readonly inferBatchSizes?: readonly number[];
  /** One sample of the input (manifest `infer.input`, else the ONNX graph's first input). */
  readonly input?: { readonly shape: readonly number[]; readonly dtype: string; readonly from: 'manifest' | 'onnx' };
  readonly origin: CostOrigin;
  /** One line: where the costs come from, saying when they are an estimate. */
  readonly source: string;
  /** True when the costs are counted on the ONNX graph (an estimate, not the user's numbers). */
  readonly estimated: boolean;
  readonly cost: { readonly train: KindCost; readonly infer: KindCost };
  /** The ONNX count (when the folder has an ONNX file that could be counted). */
  readonly onnx?: {
    readonly file: string;
    readonly opset: number;
    readonly batchDynamic: boolean;
    readonly fixedBatchSize?: number;
    readonly operators: number;
    readonly initializerBytes: number;
    readonly ops: Readonly<Record<string, number>>;
    readonly uncounted: readonly string[];
    readonly notes: readonly string[];
    readonly computeClass?: string;
    readonly flopsShare: Readonly<Record<string, number>>;
  };
  /** Why the ONNX file could not be counted (costs from the manifest). */
  readonly onnxError?: string;
  /** The virtual board's estimate for one example mode. */
  readonly virtual: {
    readonly device: string;
    readonly modeName: string;
    readonly mode: PowerMode;
    /** How the board's constants for this workload were chosen. */
    readonly constants: string;
    readonly estimates: readonly VirtualEstimate[];
  };
}

export interface InspectOptions {
  /** The virtual board (default `orin-agx`). */
  readonly device?: string;
  /** Its preset for the example (default `MAXN`). */
  readonly preset?: string;
}

function kindCost(line: MinibatchCostLine | undefined, other: MinibatchCostLine | undefined, factor: number): KindCost {
  const l = line ?? other!;
  const f = line ? 1 : factor;
  return {
    flopsPerSample: f * l.flopsPerSample,
    flopsPerBatch: f * (l.flopsPerBatch ?? 0),
    bytesPerSample: f * l.activationBytesPerSample,
    bytesPerBatch: f * (l.paramBytes ?? 0),
    derived: !line,
  };
}

/**
 * Everything `fulcrum workload inspect DIR` shows about a folder: kinds, batch sizes, input,
 * FLOPs and bytes per kind and where they come from, the ONNX count, and the virtual board's
 * estimated minibatch time and power for one example mode (orin-agx at MAXN by default).
 */
export function inspectWorkload(folder: WorkloadFolder, options: InspectOptions = {}): WorkloadInspection {
  const m = folder.manifest;
  const builtinId = workloadIds().includes(m.name);
  let costs: Costs;
  try {
    costs = costsOf(folder);
  } catch (err) {
    // A built-in workload's folder needs no cost: the virtual board has its calibrated costs.
    if (!builtinId || !(err instanceof ValidationError) || err.field !== folder.dir) throw err;
    const c = getWorkloadCost(m.name);
    const infer = { flopsPerSample: c.flopsPerSample, flopsPerBatch: c.flopsPerBatch, activationBytesPerSample: c.activationBytesPerSample, paramBytes: c.paramBytes };
    costs = {
      spec: { id: m.name, defaultTrainBatchSize: m.train?.batchSize ?? 32, cost: { infer }, source: c.source },
      origin: 'builtin',
    };
  }
  const { spec, origin, onnx } = costs;
  const deviceId = options.device ?? 'orin-agx';
  const presetName = options.preset ?? 'MAXN';
  const preset = getPreset(getDevice(deviceId), presetName);
  const board = new VirtualDevice(deviceId, { noise: 0, workloads: origin === 'builtin' ? [] : [spec] });
  const kinds: WorkloadKind[] = [...(m.train ? (['train'] as const) : []), ...(m.infer ? (['infer'] as const) : [])];
  const estimates: VirtualEstimate[] = [];
  if (m.train) estimates.push({ kind: 'train', batchSize: m.train.batchSize, ...board.groundTruth({ workload: m.name, kind: 'train', batchSize: m.train.batchSize, mode: preset.mode }) });
  for (const b of m.infer?.batchSizes ?? []) estimates.push({ kind: 'infer', batchSize: b, ...board.groundTruth({ workload: m.name, kind: 'infer', batchSize: b, mode: preset.mode }) });
  const input = m.infer?.input
    ? { shape: m.infer.input.shape, dtype: m.infer.input.dtype, from: 'manifest' as const }
    : onnx
      ? { shape: onnx.inputShape, dtype: onnx.inputDtype, from: 'onnx' as const }
      : undefined;
  const onnxFile = m.infer?.onnx ?? 'model.onnx';
  const source =
    origin === 'manifest'
      ? "from the manifest's cost: section"
      : origin === 'onnx'
        ? `counted on ${onnxFile} (an estimate: FLOPs and bytes of its operators with Pagoda's analytical conventions, training = ${TRAINING_COST_FACTOR}× inference; not measured)`
        : `the built-in workload's: ${spec.source}`;
  return {
    name: m.name,
    displayName: m.displayName,
    ...(m.description ? { description: m.description } : {}),
    ...(m.approximation ? { approximation: m.approximation } : {}),
    dir: folder.dir,
    builtin: folder.builtin,
    kinds,
    ...(m.train ? { trainBatchSize: m.train.batchSize } : {}),
    ...(m.infer ? { inferBatchSizes: m.infer.batchSizes } : {}),
    ...(input ? { input } : {}),
    origin,
    source,
    estimated: origin === 'onnx',
    cost: {
      train: kindCost(spec.cost.train, spec.cost.infer, TRAINING_COST_FACTOR),
      infer: kindCost(spec.cost.infer, spec.cost.train, 1 / TRAINING_COST_FACTOR),
    },
    ...(onnx
      ? {
          onnx: {
            file: onnxFile,
            opset: onnx.opset,
            batchDynamic: onnx.batchDynamic,
            ...(onnx.fixedBatchSize !== undefined ? { fixedBatchSize: onnx.fixedBatchSize } : {}),
            operators: onnx.operators,
            initializerBytes: onnx.initializerBytes,
            ops: onnx.ops,
            uncounted: onnx.uncounted,
            notes: onnx.notes,
            ...(onnx.computeClass ? { computeClass: onnx.computeClass } : {}),
            flopsShare: onnx.flopsShare,
          },
        }
      : {}),
    ...(costs.onnxError ? { onnxError: costs.onnxError } : {}),
    virtual: {
      device: deviceId,
      modeName: preset.name,
      mode: preset.mode,
      constants: board.workloadConstants(m.name).provenance,
      estimates,
    },
  };
}

function si(v: number, unit: string): string {
  const a = Math.abs(v);
  if (a === 0) return `0 ${unit}`;
  const [d, p] = a >= 1e12 ? [1e12, 'T'] : a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  const x = v / d;
  return `${Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)} ${p}${unit}`;
}

function wrap(text: string, width: number, indent: string): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
}

/** `inspectWorkload`'s result as one screen of text. */
export function formatInspection(ins: WorkloadInspection): string {
  const pad = (s: string, n: number): string => s.padEnd(n);
  const label = (s: string): string => `  ${pad(s, 11)} `;
  const ind = ' '.repeat(14);
  const out: string[] = [];
  out.push(`${ins.name}${ins.displayName !== ins.name ? ` — ${ins.displayName}` : ''}${ins.builtin ? ' (built in)' : ''}`);
  if (ins.description) out.push(`${label('')}${wrap(ins.description, 86, ind)}`.trimEnd());
  out.push(`${label('folder')}${ins.dir}`);
  const kinds = ins.kinds.map((k) => (k === 'train' ? `train (batch ${ins.trainBatchSize})` : `infer (batch sizes ${ins.inferBatchSizes!.join(', ')})`));
  out.push(`${label('kinds')}${kinds.join('; ')}`);
  if (ins.input) out.push(`${label('input')}${ins.input.shape.join('×')} ${ins.input.dtype} per sample (from ${ins.input.from === 'manifest' ? 'the manifest' : ins.onnx?.file ?? 'the ONNX graph'})`);
  if (ins.approximation) out.push(`${label('approx.')}${wrap(ins.approximation, 86, ind)}`);
  out.push(`${label('cost')}${wrap(ins.source, 86, ind)}`);
  // Columns as wide as their widest cell plus two spaces, so huge costs never run together.
  const cells = (['infer', 'train'] as const).map((k) => {
    const c = ins.cost[k];
    return [si(c.flopsPerSample, 'FLOP'), si(c.bytesPerSample, 'B'), si(c.flopsPerBatch, 'FLOP'), si(c.bytesPerBatch, 'B')];
  });
  const width = [0, 1, 2].map((i) => Math.max(i % 2 === 0 ? 11 : 10, ...cells.map((r) => r[i]!.length)) + 2);
  out.push(`${label('')}${pad('', 6)}${pad('per sample', width[0]! + width[1]!)}per minibatch (weights, fixed terms)`);
  out.push(`${label('')}${pad('', 6)}${pad('FLOPs', width[0]!)}${pad('bytes', width[1]!)}${pad('FLOPs', width[2]!)}bytes`);
  (['infer', 'train'] as const).forEach((k, j) => {
    const c = ins.cost[k];
    const note = c.derived ? (k === 'train' ? `  (${TRAINING_COST_FACTOR}× inference)` : `  (training ÷ ${TRAINING_COST_FACTOR})`) : '';
    const r = cells[j]!;
    out.push(`${label('')}${pad(k, 6)}${pad(r[0]!, width[0]!)}${pad(r[1]!, width[1]!)}${pad(r[2]!, width[2]!)}${r[3]}${note}`);
  });
  if (ins.onnx) {
    const o = ins.onnx;
    const top = Object.entries(o.ops)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    const shares = Object.entries(o.flopsShare)
      .filter(([, v]) => v >= 0.005)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
      .join(', ');
    const nodes = Object.values(o.ops).reduce((a, b) => a + b, 0);
    out.push(`${label('onnx')}${wrap(`${o.file}: opset ${o.opset}, ${nodes} nodes (${top}${Object.keys(o.ops).length > 8 ? ', …' : ''}); ${o.operators} counted operators; weights stored ${si(o.initializerBytes, 'B')}`, 86, ind)}`);
    out.push(`${label('')}${wrap(`FLOPs by operator: ${shares || 'none'}; batch ${o.batchDynamic ? 'dynamic' : `fixed at ${o.fixedBatchSize} (cannot be served at other batch sizes)`}; not counted: ${o.uncounted.length ? o.uncounted.join(', ') : 'nothing'}`, 86, ind)}`);
    for (const n of o.notes.slice(0, 4)) out.push(`${label('')}${wrap(`note: ${n}`, 86, ind)}`);
    if (o.notes.length > 4) out.push(`${label('')}… and ${o.notes.length - 4} more notes`);
  }
  if (ins.onnxError) out.push(`${label('onnx')}${wrap(`not counted: ${ins.onnxError}`, 86, ind)}`);
  const v = ins.virtual;
  out.push('');
  const m = v.mode;
  out.push(`Virtual-board estimate (virtual ${v.device} at ${v.modeName}: ${m.cores} cores, CPU ${m.cpuMhz}, GPU ${m.gpuMhz}, EMC ${m.emcMhz} MHz; a model's prediction, not a measurement):`);
  out.push(`${label('constants')}${wrap(v.constants, 86, ind)}`);
  // Milliseconds up to 10 s, then seconds (a cost written far too large still reads as a time).
  const time = (ms: number): string => (ms < 10 ? `${ms.toFixed(3)} ms` : ms < 10_000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(ms < 100_000 ? 2 : 0)} s`);
  const times = v.estimates.map((e) => time(e.timeMs));
  const timeWidth = Math.max(10, ...times.map((t) => t.length)) + 2;
  v.estimates.forEach((e, i) => {
    out.push(`${label('')}${pad(e.kind, 6)}batch ${pad(String(e.batchSize), 6)}${pad(times[i]!, timeWidth)}${e.powerW.toFixed(1)} W`);
  });
  return out.join('\n');
}

/**
 * `virtualWorkloadOf` for each user folder the virtual board can simulate; a folder it cannot
 * (no `cost:` and no countable ONNX graph) is left out and reported through `onSkip` — a service
 * keeps running the others (the host engine still runs it for real).
 */
export function simulatableWorkloads(folders: readonly WorkloadFolder[], onSkip?: (folder: WorkloadFolder, reason: string) => void): VirtualWorkloadSpec[] {
  const out: VirtualWorkloadSpec[] = [];
  for (const f of folders) {
    if (f.builtin) continue;
    try {
      out.push(virtualWorkloadOf(f));
    } catch (err) {
      onSkip?.(f, err instanceof Error ? err.message : String(err));
    }
  }
  return out;
}
