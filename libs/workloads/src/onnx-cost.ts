/**
 * FLOPs and memory-access bytes of one inference pass, counted on an ONNX graph, for the virtual
 * board when a workload's manifest has no `cost:` section (docs/WORKLOADS.md). An estimate.
 *
 * The graph is decoded with `onnx-proto` (the ONNX protobuf schema compiled for protobufjs). Models
 * exported by torch carry no shapes between nodes (no value_info), so shapes are propagated here,
 * twice: with the batch dimension set to 1 and to 2. The difference of the two counts is the
 * per-sample term, the rest the per-minibatch term (straight lines in the batch size b, as in
 * `@fulcrum/devices`' workload-costs.ts). Small integer tensors (shape arithmetic: Shape → Gather →
 * Unsqueeze → Concat → Reshape) are folded, so the shape of a `view(b, -1)` is known.
 *
 * Conventions: those of `@fulcrum/devices`' analytical.ts (Pagoda's analytical model), so that a
 * torch-exported ResNet-18 counts as `countResNet(18)` does:
 *
 * * Conv: FLOPs = 2·out·(Cin/groups·∏k) (+ out with a bias); ConvTranspose: 2·in·(Cout/groups·∏k);
 *   bytes = input + output activations, the weight as parameter bytes (biases not counted);
 * * Gemm / MatMul with a constant (weight) operand: FLOPs = 2·rows·K·N; the weight as parameter
 *   bytes; the other operand and the output as activations. Two activations (attention's Q·Kᵀ and
 *   ·V): FLOPs = 2·batch·M·K·N, the right operand's last two dimensions counted once per minibatch
 *   with the parameter bytes (analytical.ts's `matmul`), the left operand and the output as
 *   activations; Einsum: 2·∏(every index's size);
 * * element-wise: FLOPs per output element from `UNARY_FLOPS` (ReLU 1, Tanh 5, Erf 8, Softmax 7 as
 *   analytical.ts; the others chosen alike), bytes = input + output; Add/Sub/Mul/Div/Pow/… 1 FLOP
 *   per output element, bytes = 3 × the output (two inputs and one output);
 * * MaxPool: ∏k − 1 FLOPs per output, AveragePool ∏k, global pooling and Reduce* one per input
 *   element; bytes = input + output;
 * * Flatten, Transpose, Concat, Split, Slice, Gather, Expand, Tile, Pad, Resize, Cast, …: no FLOPs,
 *   bytes = input + output (copies); Reshape, Squeeze, Unsqueeze, Identity, Dropout: nothing (views);
 * * LSTM / GRU / RNN: the gate products (2·gates·H·(I + H) per step and direction) plus their
 *   element-wise work; weights as parameter bytes;
 * * nodes whose inputs are all constants (initializers, Constant, shape arithmetic) are folded by
 *   any runtime and cost nothing.
 *
 * Unlike analytical.ts, Pow, Sqrt, ReduceMean and Gather are counted (Pagoda leaves them out), and
 * bytes use each tensor's element size (4 for float32). Operators without a rule (custom domains,
 * quantized ops, If/Loop, data-dependent shapes such as NonZero) are listed in `uncounted`, with
 * the first nodes named in `notes`; shapes after them come from the graph's value_info when it has
 * them, else the nodes after them are not counted either.
 *
 * Limits (`ONNX_COST_LIMITS`): files up to 2 GiB − 1 byte (protobuf's own limit; the file is read
 * whole), 500,000 nodes, tensors of rank ≤ 16; weights stored outside the file (external data) are
 * counted from their shapes.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';
import type * as OnnxProto from 'onnx-proto';
import { ValidationError } from '@fulcrum/core';

const { onnx } = onnxProto;
type ModelProto = OnnxProto.onnx.ModelProto;
type NodeProto = OnnxProto.onnx.INodeProto;
type TensorProto = OnnxProto.onnx.ITensorProto;
type AttributeProto = OnnxProto.onnx.IAttributeProto;
type ValueInfoProto = OnnxProto.onnx.IValueInfoProto;

/** Documented limits of the ONNX counter. */
export const ONNX_COST_LIMITS = {
  /** Bytes of an ONNX file (protobuf messages are limited to 2 GiB; the file is read whole). */
  maxBytes: 2 * 1024 ** 3 - 1,
  /** Nodes in the main graph. */
  maxNodes: 500_000,
  /** Rank of any tensor. */
  maxRank: 16,
  /** Elements of a tensor whose values are folded (shape arithmetic, axes, pads, scales). */
  maxFoldedElements: 4096,
  /** Node-level notes kept in a result. */
  maxNotes: 12,
} as const;

export interface OnnxCountOptions {
  /**
   * One sample of the first input, without the batch dimension (the manifest's
   * `infer.input.shape`): fills its symbolic dimensions and is checked against its fixed ones.
   */
  readonly inputShape?: readonly number[];
  /** Sizes of other symbolic dimensions, by name (e.g. `{ seq: 128 }`). */
  readonly dims?: Readonly<Record<string, number>>;
  /** How errors and `source` name the model (default: the file's name, or `model.onnx`). */
  readonly name?: string;
}

/** What one inference pass of an ONNX model costs, as straight lines in the batch size. */
export interface OnnxCost {
  /** FLOPs per sample. */
  readonly flopsPerSample: number;
  /** FLOPs per minibatch that do not grow with b (usually 0). */
  readonly flopsPerBatch: number;
  /** Activation bytes per sample (inputs + outputs of every counted operator). */
  readonly activationBytesPerSample: number;
  /** Activation bytes per minibatch that do not grow with b (usually 0). */
  readonly activationBytesPerBatch: number;
  /** Weight bytes, read once per minibatch (analytical.ts's convention: conv/linear weights, no biases). */
  readonly paramBytes: number;
  /** Bytes of every initializer (the model's stored weights). */
  readonly initializerBytes: number;
  /** The first graph input's name. */
  readonly inputName: string;
  /** One sample of the first input, without the batch dimension. */
  readonly inputShape: number[];
  /** Its element type: `float32`, `float16`, `int64`, … */
  readonly inputDtype: string;
  /**
   * Whether the first input's dimension 0 is dynamic (symbolic, -1 or 0): a model with a fixed
   * batch is counted at that batch and divided by it, and cannot be served at other batch sizes.
   */
  readonly batchDynamic: boolean;
  /** The fixed batch size, when `batchDynamic` is false. */
  readonly fixedBatchSize?: number;
  /** Share of the FLOPs done by convolutions, matrix products, recurrent cells and the rest (sums to 1). */
  readonly flopsShare: Readonly<Record<OnnxComputeClass | 'other', number>>;
  /** The class among conv / matmul / recurrent doing most FLOPs (absent when none does any). */
  readonly computeClass?: OnnxComputeClass;
  /** Nodes per operator type (the whole graph). */
  readonly ops: Record<string, number>;
  /** Operators counted (nodes that cost FLOPs or bytes; ≈ kernels launched per minibatch). */
  readonly operators: number;
  /** Operator types some of whose nodes were not counted (no rule, or shapes not derivable). */
  readonly uncounted: string[];
  /** What was approximated or skipped, naming the nodes. */
  readonly notes: string[];
  readonly opset: number;
  /** Where the numbers come from. */
  readonly source: string;
}

// ---------------------------------------------------------------------------------------------
// Element types

const DT = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16 } as const;

const ELEM_SIZE: Readonly<Record<number, number>> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 8: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1 };

const DTYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
};

const INTEGER_TYPES = new Set<number>([DT.UINT8, DT.INT8, DT.UINT16, DT.INT16, DT.INT32, DT.INT64, DT.UINT32, DT.UINT64, DT.BOOL]);

/** The name of an ONNX element type (`float32`, `int64`, …). */
export function onnxDtypeName(elemType: number): string {
  return DTYPE_NAMES[elemType] ?? `type ${elemType}`;
}

// ---------------------------------------------------------------------------------------------
// Per-operator FLOP rules

/** FLOPs per output element of element-wise operators with one data input. */
export const UNARY_FLOPS: Readonly<Record<string, number>> = {
  Relu: 1, LeakyRelu: 2, PRelu: 2, ThresholdedRelu: 1, Clip: 2, Elu: 5, Selu: 6, Celu: 6,
  Sigmoid: 4, HardSigmoid: 3, HardSwish: 4, Tanh: 5, Erf: 8, Gelu: 12, Softplus: 6, Softsign: 3, Mish: 15,
  Exp: 4, Log: 4, Sqrt: 1, Reciprocal: 1, Neg: 1, Abs: 1, Sign: 1, Floor: 1, Ceil: 1, Round: 1, Not: 1, IsNaN: 1, IsInf: 1,
  Sin: 8, Cos: 8, Tan: 8, Asin: 8, Acos: 8, Atan: 8, Sinh: 8, Cosh: 8, Asinh: 8, Acosh: 8, Atanh: 8,
  Softmax: 7, LogSoftmax: 8, Hardmax: 2,
  BatchNormalization: 2, InstanceNormalization: 8, LayerNormalization: 8, GroupNormalization: 8,
  LpNormalization: 3, MeanVarianceNormalization: 8, SimplifiedLayerNormalization: 6,
  QuantizeLinear: 2, DequantizeLinear: 2, Shrink: 2, BitwiseNot: 1,
};

/** Broadcasting element-wise operators: 1 FLOP per output element (per extra input for variadic ones). */
const BROADCAST_OPS = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Max', 'Min', 'Mean', 'Sum', 'Where', 'BitShift',
  'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor',
]);
const COMPARISONS = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);
const VARIADIC = new Set(['Max', 'Min', 'Mean', 'Sum']);

/** Operators whose output shapes depend on the values or on control flow. */
const DATA_DEPENDENT = new Set(['NonZero', 'NonMaxSuppression', 'Unique', 'Compress', 'If', 'Loop', 'Scan', 'SequenceConstruct', 'SplitToSequence', 'ConcatFromSequence']);
const REDUCES = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);

// ---------------------------------------------------------------------------------------------
// Values

interface Val {
  /** Known shape, or null. */
  readonly shape: number[] | null;
  readonly dtype: number;
  /** Does not depend on the graph's inputs' values (initializer, Constant, shape arithmetic). */
  readonly isConst: boolean;
  /** Folded values (small tensors only), row-major. */
  readonly data?: number[];
}

/** An int64 from protobufjs: a number, or a Long. */
function num(x: unknown): number {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  if (x && typeof x === 'object') {
    const l = x as { toNumber?: () => number; low?: number; high?: number };
    if (typeof l.toNumber === 'function') return l.toNumber();
    if (typeof l.low === 'number' && typeof l.high === 'number') return l.high * 4294967296 + (l.low >>> 0);
  }
  return Number(x);
}

function has(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function prod(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** A tensor's values, when it is small and stored in the file; undefined otherwise. */
function tensorData(t: TensorProto): number[] | undefined {
  const dims = (t.dims ?? []).map(num);
  const n = prod(dims);
  if (n > ONNX_COST_LIMITS.maxFoldedElements) return undefined;
  if (num(t.dataLocation ?? 0) === 1) return undefined;
  const dtype = num(t.dataType ?? 0);
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const size = ELEM_SIZE[dtype];
    if (!size || raw.length < n * size) return undefined;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const o = i * size;
      switch (dtype) {
        case DT.FLOAT: out.push(dv.getFloat32(o, true)); break;
        case DT.DOUBLE: out.push(dv.getFloat64(o, true)); break;
        case DT.INT64: out.push(Number(dv.getBigInt64(o, true))); break;
        case DT.UINT64: out.push(Number(dv.getBigUint64(o, true))); break;
        case DT.INT32: out.push(dv.getInt32(o, true)); break;
        case DT.UINT32: out.push(dv.getUint32(o, true)); break;
        case DT.INT16: out.push(dv.getInt16(o, true)); break;
        case DT.UINT16: out.push(dv.getUint16(o, true)); break;
        case DT.INT8: out.push(dv.getInt8(o)); break;
        case DT.UINT8: case DT.BOOL: out.push(dv.getUint8(o)); break;
        case DT.FLOAT16: out.push(halfToFloat(dv.getUint16(o, true))); break;
        case DT.BFLOAT16: {
          const b = new DataView(new ArrayBuffer(4));
          b.setUint16(0, dv.getUint16(o, true), false);
          out.push(b.getFloat32(0, false));
          break;
        }
        default: return undefined;
      }
    }
    return out;
  }
  let list: unknown[] | null | undefined;
  if (dtype === DT.FLOAT) list = t.floatData;
  else if (dtype === DT.DOUBLE) list = t.doubleData;
  else if (dtype === DT.INT64) list = t.int64Data;
  else if (dtype === DT.UINT32 || dtype === DT.UINT64) list = t.uint64Data;
  else if (dtype === DT.FLOAT16) list = (t.int32Data ?? []).map((v) => halfToFloat(num(v)));
  else if (INTEGER_TYPES.has(dtype)) list = t.int32Data;
  if (!list || list.length !== n) return n === 0 ? [] : undefined;
  return list.map(num);
}

function constVal(t: TensorProto): Val {
  const dims = (t.dims ?? []).map(num);
  const data = tensorData(t);
  return { shape: dims, dtype: num(t.dataType ?? 0), isConst: true, ...(data ? { data } : {}) };
}

/** Row-major strides. */
function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

function broadcast(shapes: readonly (readonly number[])[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const v = k >= 0 ? s[k]! : 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) return null;
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** Values of `v` broadcast to `shape`, as a function of the output's flat index. */
function broadcastReader(v: Val, shape: readonly number[]): (i: number) => number {
  const data = v.data!;
  const s = v.shape!;
  if (s.length === shape.length && s.every((d, i) => d === shape[i])) return (i) => data[i]!;
  const outStrides = strides(shape);
  const inStrides = strides(s);
  const off = shape.length - s.length;
  return (i) => {
    let idx = 0;
    for (let k = 0; k < shape.length; k++) {
      const coord = Math.floor(i / outStrides[k]!) % shape[k]!;
      const j = k - off;
      if (j >= 0 && s[j]! !== 1) idx += coord * inStrides[j]!;
    }
    return data[idx]!;
  };
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

// ---------------------------------------------------------------------------------------------
// The counter

interface Tally {
  flops: number;
  act: number;
  params: number;
  operators: number;
}

/** Which operators carry a workload's FLOPs. */
export type OnnxComputeClass = 'conv' | 'matmul' | 'recurrent';
const CLASS_OF: Readonly<Record<string, OnnxComputeClass>> = {
  Conv: 'conv', ConvTranspose: 'conv', Gemm: 'matmul', MatMul: 'matmul', Einsum: 'matmul', LSTM: 'recurrent', GRU: 'recurrent', RNN: 'recurrent',
};

class NodeError extends Error {}

interface Context {
  readonly name: string;
  readonly opset: number;
  readonly nodes: readonly NodeProto[];
  readonly initializers: ReadonlyMap<string, Val>;
  readonly inputs: readonly { name: string; dtype: number; dims: (number | string | null)[] }[];
  readonly valueInfo: ReadonlyMap<string, { dtype: number; dims: (number | string | null)[] }>;
  readonly batchParam: string | null;
  readonly dims: Readonly<Record<string, number>>;
}

function attrOf(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}
function attrInt(node: NodeProto, name: string, dflt: number): number;
function attrInt(node: NodeProto, name: string): number | undefined;
function attrInt(node: NodeProto, name: string, dflt?: number): number | undefined {
  const a = attrOf(node, name);
  return a && has(a, 'i') ? num(a.i) : dflt;
}
function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attrOf(node, name);
  return a && (a.ints?.length ?? 0) > 0 ? a.ints!.map(num) : a && num(a.type ?? 0) === 7 ? [] : undefined;
}
function attrFloat(node: NodeProto, name: string): number | undefined {
  const a = attrOf(node, name);
  return a && has(a, 'f') ? num(a.f) : undefined;
}
function attrFloats(node: NodeProto, name: string): number[] | undefined {
  const a = attrOf(node, name);
  return a && (a.floats?.length ?? 0) > 0 ? a.floats!.map(num) : undefined;
}
function attrString(node: NodeProto, name: string): string | undefined {
  const a = attrOf(node, name);
  return a?.s && a.s.length > 0 ? Buffer.from(a.s).toString('utf8') : undefined;
}

function nodeLabel(node: NodeProto, index: number): string {
  return `node ${node.name ? JSON.stringify(node.name) : `#${index}`} (${node.opType}${node.domain && node.domain !== 'ai.onnx' ? ` of ${node.domain}` : ''})`;
}

interface RunResult {
  tally: Tally;
  /** FLOPs by the class of the operator that does them (`other`: element-wise, pooling, …). */
  byClass: Record<OnnxComputeClass | 'other', number>;
  /** Per op type: nodes not counted. */
  uncounted: Set<string>;
  notes: string[];
  unknownNodes: number;
}

/** Propagates shapes with the batch dimension set to `batch` and counts. */
function run(ctx: Context, batch: number): RunResult {
  const vals = new Map<string, Val>(ctx.initializers);
  const tally: Tally = { flops: 0, act: 0, params: 0, operators: 0 };
  const byClass: Record<OnnxComputeClass | 'other', number> = { conv: 0, matmul: 0, recurrent: 0, other: 0 };
  const uncounted = new Set<string>();
  const notes: string[] = [];
  let unknownNodes = 0;
  const note = (s: string): void => {
    if (notes.length < ONNX_COST_LIMITS.maxNotes) notes.push(s);
  };
  const resolveDims = (dims: readonly (number | string | null)[], isInput: boolean): number[] | null => {
    const out: number[] = [];
    for (let i = 0; i < dims.length; i++) {
      const d = dims[i];
      if (typeof d === 'number' && d > 0) out.push(d);
      else if (typeof d === 'string' && d === ctx.batchParam) out.push(batch);
      else if (typeof d === 'string' && ctx.dims[d] !== undefined) out.push(ctx.dims[d]!);
      else if (isInput && i === 0 && ctx.batchParam !== null) out.push(batch);
      else return null;
    }
    return out;
  };
  for (const inp of ctx.inputs) {
    if (vals.has(inp.name)) continue;
    vals.set(inp.name, { shape: resolveDims(inp.dims, true), dtype: inp.dtype, isConst: false });
  }

  ctx.nodes.forEach((node, index) => {
    const op = node.opType ?? '';
    const inNames = node.input ?? [];
    const outNames = (node.output ?? []).filter((o) => o !== '');
    const ins: (Val | undefined)[] = inNames.map((n) => (n === '' ? undefined : vals.get(n)));
    const present = ins.filter((v): v is Val => v !== undefined);
    const allConst = inNames.filter((n) => n !== '').length === present.length && present.every((v) => v.isConst);
    const customDomain = node.domain !== undefined && node.domain !== null && node.domain !== '' && node.domain !== 'ai.onnx';
    let outs: Val[] | null = null;
    let problem: string | undefined;
    const before = { ...tally };
    try {
      if (customDomain) throw new NodeError(`operator of domain ${JSON.stringify(node.domain)} has no rule`);
      outs = evaluate(node, op, ins, ctx, tally, outNames.length, allConst);
      if (![tally.flops, tally.act, tally.params].every(Number.isFinite)) throw new NodeError('its cost is not a finite number (corrupt attributes or shapes?)');
    } catch (err) {
      // Never crash on a strange graph: a node the counter cannot follow is reported, not thrown.
      problem = err instanceof NodeError ? err.message : `the counter failed on it (${(err as Error)?.message ?? String(err)})`;
      Object.assign(tally, before);
      outs = null;
    }
    if (outs === null) {
      // No rule, or shapes not derivable: take the shapes from value_info when the graph has them.
      unknownNodes++;
      uncounted.add(op);
      const fallback = outNames.map((n) => {
        const vi = ctx.valueInfo.get(n);
        const shape = vi ? resolveDims(vi.dims, false) : null;
        return { shape, dtype: vi?.dtype ?? present[0]?.dtype ?? DT.FLOAT, isConst: allConst } as Val;
      });
      const upstreamUnknown = present.some((v) => v.shape === null) || present.length < inNames.filter((n) => n !== '').length;
      if (!upstreamUnknown) {
        const shapes = fallback.every((v) => v.shape !== null) ? '; output shapes taken from the graph\'s value_info' : '; the nodes after it are not counted either';
        note(`${nodeLabel(node, index)} not counted: ${problem ?? 'no rule for this operator'}${shapes}`);
      }
      outNames.forEach((n, i) => vals.set(n, fallback[i]!));
      return;
    }
    outNames.forEach((n, i) => {
      const v = outs![(node.output ?? []).indexOf(n)] ?? outs![i];
      if (v) vals.set(n, v);
    });
    if (outs.every((v) => v.isConst) || allConst) Object.assign(tally, before);
    else if (tally.flops !== before.flops || tally.act !== before.act || tally.params !== before.params) {
      tally.operators++;
      byClass[CLASS_OF[op] ?? 'other'] += tally.flops - before.flops;
    }
  });
  return { tally, byClass, uncounted, notes, unknownNodes };
}

/** Input `i`'s value with a known shape, or a NodeError. */
function need(ins: readonly (Val | undefined)[], i: number, what = `input ${i}`): Val & { shape: number[] } {
  const v = ins[i];
  if (!v) throw new NodeError(`${what} is missing`);
  if (!v.shape) throw new NodeError(`the shape of ${what} is unknown`);
  return v as Val & { shape: number[] };
}

/** Constant integer values of input `i` (axes, pads, shapes), or a NodeError. */
function constInts(ins: readonly (Val | undefined)[], i: number, what: string): number[] {
  const v = ins[i];
  if (!v?.data) throw new NodeError(`${what} is not a constant the counter can read`);
  return v.data.map((x) => Math.trunc(x));
}

function out(shape: number[], dtype: number, isConst: boolean, data?: number[]): Val {
  if (shape.length > ONNX_COST_LIMITS.maxRank) throw new NodeError(`output of rank ${shape.length} is over the limit of ${ONNX_COST_LIMITS.maxRank}`);
  if (shape.some((d) => !Number.isFinite(d) || d < 0 || !Number.isInteger(d))) throw new NodeError(`derived an invalid output shape [${shape.join(', ')}]`);
  const keep = data && data.length === prod(shape) && data.length <= ONNX_COST_LIMITS.maxFoldedElements;
  return { shape, dtype, isConst, ...(keep ? { data } : {}) };
}

function elemSize(v: Val): number {
  return ELEM_SIZE[v.dtype] ?? 4;
}

function foldCast(x: number, to: number): number {
  if (to === DT.BOOL) return x !== 0 ? 1 : 0;
  if (INTEGER_TYPES.has(to)) return Math.trunc(x);
  return x;
}

function elementwise(op: string, a: number, b: number, c: number | undefined, integer: boolean): number {
  switch (op) {
    case 'Add': return a + b;
    case 'Sub': return a - b;
    case 'Mul': return a * b;
    case 'Div': return integer ? Math.trunc(a / b) : a / b;
    case 'Pow': return a ** b;
    case 'Mod': return a % b;
    case 'Max': return Math.max(a, b);
    case 'Min': return Math.min(a, b);
    case 'Mean': return (a + b) / 2;
    case 'Sum': return a + b;
    case 'Equal': return a === b ? 1 : 0;
    case 'Greater': return a > b ? 1 : 0;
    case 'Less': return a < b ? 1 : 0;
    case 'GreaterOrEqual': return a >= b ? 1 : 0;
    case 'LessOrEqual': return a <= b ? 1 : 0;
    case 'And': return a && b ? 1 : 0;
    case 'Or': return a || b ? 1 : 0;
    case 'Xor': return !a !== !b ? 1 : 0;
    case 'Where': return a ? b : c!;
    default: return NaN;
  }
}

function foldUnary(op: string, x: number): number | undefined {
  switch (op) {
    case 'Neg': return -x;
    case 'Abs': return Math.abs(x);
    case 'Sqrt': return Math.sqrt(x);
    case 'Floor': return Math.floor(x);
    case 'Ceil': return Math.ceil(x);
    case 'Round': return Math.round(x);
    case 'Reciprocal': return 1 / x;
    case 'Relu': return Math.max(0, x);
    case 'Not': return x ? 0 : 1;
    case 'Sign': return Math.sign(x);
    case 'Exp': return Math.exp(x);
    case 'Log': return Math.log(x);
    default: return undefined;
  }
}

function poolSpatial(node: NodeProto, x: readonly number[], kernel: readonly number[], allowCeil: boolean): number[] {
  const k = kernel.length;
  const spatial = x.slice(2);
  if (spatial.length !== k) throw new NodeError(`kernel of rank ${k} on an input of rank ${x.length}`);
  const stridesA = attrInts(node, 'strides') ?? new Array<number>(k).fill(1);
  const dil = attrInts(node, 'dilations') ?? new Array<number>(k).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * k).fill(0);
  const autoPad = attrString(node, 'auto_pad') ?? 'NOTSET';
  const ceil = allowCeil && attrInt(node, 'ceil_mode', 0) === 1;
  return spatial.map((n, i) => {
    const s = stridesA[i] ?? 1;
    const eff = ((kernel[i] ?? 1) - 1) * (dil[i] ?? 1) + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(n / s);
    if (autoPad === 'VALID') return Math.floor((n - eff) / s) + 1;
    const pb = pads[i] ?? 0;
    const pe = pads[i + k] ?? 0;
    const span = n + pb + pe - eff;
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    // The last window must start inside the input or its leading padding (PyTorch and onnxruntime).
    if (ceil && (o - 1) * s >= n + pb) o--;
    return o;
  });
}

/** Computes the node's outputs and adds its cost to `t`; null when it has no rule. */
function evaluate(node: NodeProto, op: string, ins: readonly (Val | undefined)[], ctx: Context, t: Tally, nOut: number, allConst: boolean): Val[] | null {
  const io = (...vs: Val[]): number => vs.reduce((s, v) => s + prod(v.shape!) * elemSize(v), 0);
  const x0 = (): Val & { shape: number[] } => need(ins, 0);

  if (op in UNARY_FLOPS) {
    const x = x0();
    let dtype = x.dtype;
    if (op === 'QuantizeLinear') dtype = ins[2]?.dtype ?? DT.UINT8;
    if (op === 'DequantizeLinear') dtype = ins[1]?.dtype ?? DT.FLOAT;
    if (COMPARISONS.has(op)) dtype = DT.BOOL;
    const n = prod(x.shape);
    t.flops += n * UNARY_FLOPS[op]!;
    t.act += n * elemSize(x) + n * (ELEM_SIZE[dtype] ?? 4);
    let data: number[] | undefined;
    if (x.data) {
      const f = op === 'Clip' ? undefined : op;
      if (f) {
        const folded = x.data.map((v) => foldUnary(f, v));
        if (folded.every((v) => v !== undefined)) data = folded as number[];
      }
    }
    const main = out(x.shape, dtype, x.isConst, data);
    if (op === 'LayerNormalization' && nOut > 1) {
      const axis = normAxis(attrInt(node, 'axis', -1), x.shape.length);
      const reduced = x.shape.map((d, i) => (i >= axis ? 1 : d));
      return [main, out(reduced, DT.FLOAT, x.isConst), out(reduced, DT.FLOAT, x.isConst)];
    }
    if (op === 'BatchNormalization' && nOut > 1) {
      const c = x.shape[1] ?? 1;
      return [main, ...Array.from({ length: nOut - 1 }, () => out([c], x.dtype, true))];
    }
    return [main];
  }

  if (BROADCAST_OPS.has(op)) {
    const vs = ins.map((v, i) => (v ? need(ins, i) : undefined)).filter((v): v is Val & { shape: number[] } => v !== undefined);
    if (vs.length === 0) throw new NodeError('no inputs');
    const shape = broadcast(vs.map((v) => v.shape));
    if (!shape) throw new NodeError(`inputs of shapes ${vs.map((v) => `[${v.shape.join(', ')}]`).join(', ')} do not broadcast`);
    const dtype = COMPARISONS.has(op) ? DT.BOOL : op === 'Where' ? vs[1]!.dtype : vs[0]!.dtype;
    const n = prod(shape);
    const e = ELEM_SIZE[dtype] ?? 4;
    t.flops += n * (VARIADIC.has(op) ? Math.max(1, vs.length - 1) : op === 'PRelu' ? 2 : 1);
    t.act += (VARIADIC.has(op) || op === 'Where' ? vs.length + 1 : 3) * n * e;
    let data: number[] | undefined;
    if (vs.every((v) => v.data) && n <= ONNX_COST_LIMITS.maxFoldedElements) {
      const readers = vs.map((v) => broadcastReader(v, shape));
      const integer = INTEGER_TYPES.has(vs[op === 'Where' ? 1 : 0]!.dtype);
      data = Array.from({ length: n }, (_, i) => {
        let acc = readers[0]!(i);
        if (op === 'Where') return elementwise(op, acc, readers[1]!(i), readers[2]!(i), integer);
        for (let k = 1; k < readers.length; k++) acc = elementwise(op, acc, readers[k]!(i), undefined, integer);
        return acc;
      });
    }
    return [out(shape, dtype, vs.every((v) => v.isConst), data)];
  }

  switch (op) {
    case 'Constant': {
      const a = (node.attribute ?? [])[0];
      if (!a) throw new NodeError('Constant without a value');
      if (a.name === 'value' && a.t) return [constVal(a.t)];
      if (a.name === 'value_float') return [out([], DT.FLOAT, true, [num(a.f)])];
      if (a.name === 'value_int') return [out([], DT.INT64, true, [num(a.i)])];
      if (a.name === 'value_floats') return [out([a.floats?.length ?? 0], DT.FLOAT, true, (a.floats ?? []).map(num))];
      if (a.name === 'value_ints') return [out([a.ints?.length ?? 0], DT.INT64, true, (a.ints ?? []).map(num))];
      throw new NodeError(`Constant with a ${a.name} the counter cannot read`);
    }
    case 'Shape': {
      const x = x0();
      const r = x.shape.length;
      let start = attrInt(node, 'start', 0);
      let end = attrInt(node, 'end', r);
      start = Math.min(Math.max(normAxis(start, r), 0), r);
      end = Math.min(Math.max(normAxis(end, r), 0), r);
      const dims = x.shape.slice(start, Math.max(start, end));
      return [out([dims.length], DT.INT64, true, dims)];
    }
    case 'Size':
      return [out([], DT.INT64, true, [prod(x0().shape)])];
    case 'ConstantOfShape': {
      const shape = constInts(ins, 0, 'the shape input');
      const a = attrOf(node, 'value');
      const v = a?.t ? constVal(a.t) : undefined;
      const fill = v?.data?.[0] ?? 0;
      const n = prod(shape);
      return [out(shape, v?.dtype ?? DT.FLOAT, true, n <= ONNX_COST_LIMITS.maxFoldedElements ? new Array<number>(n).fill(fill) : undefined)];
    }
    case 'Range': {
      const [start, limit, delta] = [0, 1, 2].map((i) => ins[i]?.data?.[0]);
      if (start === undefined || limit === undefined || delta === undefined || delta === 0) throw new NodeError('Range of non-constant bounds');
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      const data = n <= ONNX_COST_LIMITS.maxFoldedElements ? Array.from({ length: n }, (_, i) => start + i * delta) : undefined;
      return [out([n], ins[0]!.dtype, true, data)];
    }
    case 'Identity': case 'Dropout': {
      const x = x0();
      const y = out(x.shape, x.dtype, x.isConst, x.data);
      return nOut > 1 ? [y, out(x.shape, DT.BOOL, x.isConst)] : [y];
    }
    case 'Cast': case 'CastLike': {
      const x = x0();
      const to = op === 'Cast' ? attrInt(node, 'to', DT.FLOAT) : need(ins, 1).dtype;
      t.act += prod(x.shape) * (elemSize(x) + (ELEM_SIZE[to] ?? 4));
      return [out(x.shape, to, x.isConst, x.data?.map((v) => foldCast(v, to)))];
    }
    case 'Reshape': {
      const x = x0();
      const target = constInts(ins, 1, 'the shape input');
      const allowZero = attrInt(node, 'allowzero', 0) === 1;
      const shape = target.map((d, i) => (d === 0 && !allowZero ? (x.shape[i] ?? 0) : d));
      const known = shape.filter((d) => d !== -1);
      const total = prod(x.shape);
      if (shape.filter((d) => d === -1).length > 1) throw new NodeError('shape with two -1');
      const rest = prod(known);
      if (shape.includes(-1)) {
        if (rest === 0 || total % rest !== 0) throw new NodeError(`cannot reshape [${x.shape.join(', ')}] to [${target.join(', ')}]`);
        shape[shape.indexOf(-1)] = total / rest;
      } else if (rest !== total) throw new NodeError(`cannot reshape [${x.shape.join(', ')}] (${total} elements) to [${target.join(', ')}]`);
      return [out(shape, x.dtype, x.isConst, x.data)];
    }
    case 'Flatten': {
      const x = x0();
      const axis = normAxis(attrInt(node, 'axis', 1), x.shape.length);
      const shape = [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))];
      t.act += 2 * io(x);
      return [out(shape, x.dtype, x.isConst, x.data)];
    }
    case 'Squeeze': {
      const x = x0();
      const axes = (ctx.opset >= 13 ? (ins[1] ? constInts(ins, 1, 'the axes input') : undefined) : attrInts(node, 'axes'))?.map((a) => normAxis(a, x.shape.length));
      const shape = x.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1));
      return [out(shape, x.dtype, x.isConst, x.data)];
    }
    case 'Unsqueeze': {
      const x = x0();
      const raw = ctx.opset >= 13 ? constInts(ins, 1, 'the axes input') : attrInts(node, 'axes');
      if (!raw) throw new NodeError('Unsqueeze without axes');
      const rank = x.shape.length + raw.length;
      const axes = raw.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
      const shape = [...x.shape];
      for (const a of axes) shape.splice(a, 0, 1);
      return [out(shape, x.dtype, x.isConst, x.data)];
    }
    case 'Transpose': {
      const x = x0();
      const r = x.shape.length;
      const perm = attrInts(node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
      const shape = perm.map((p) => x.shape[p]!);
      let data: number[] | undefined;
      if (x.data) {
        const inS = strides(x.shape);
        const outS = strides(shape);
        data = Array.from({ length: x.data.length }, (_, i) => {
          let idx = 0;
          for (let k = 0; k < r; k++) idx += (Math.floor(i / outS[k]!) % shape[k]!) * inS[perm[k]!]!;
          return x.data![idx]!;
        });
      }
      t.act += 2 * io(x);
      return [out(shape, x.dtype, x.isConst, data)];
    }
    case 'Concat': {
      const vs = ins.map((v, i) => need(ins, i));
      const r = vs[0]!.shape.length;
      const axis = normAxis(attrInt(node, 'axis', 0), r);
      const shape = [...vs[0]!.shape];
      shape[axis] = vs.reduce((s, v) => s + (v.shape[axis] ?? 0), 0);
      let data: number[] | undefined;
      if (vs.every((v) => v.data)) {
        const outer = prod(shape.slice(0, axis));
        data = [];
        for (let o = 0; o < outer; o++) {
          for (const v of vs) {
            const chunk = prod(v.shape.slice(axis));
            data.push(...v.data!.slice(o * chunk, (o + 1) * chunk));
          }
        }
      }
      const y = out(shape, vs[0]!.dtype, vs.every((v) => v.isConst), data);
      t.act += 2 * io(y);
      return [y];
    }
    case 'Split': {
      const x = x0();
      const axis = normAxis(attrInt(node, 'axis', 0), x.shape.length);
      const dim = x.shape[axis]!;
      let sizes = ctx.opset >= 13 ? (ins[1] ? constInts(ins, 1, 'the split input') : undefined) : attrInts(node, 'split');
      if (!sizes || sizes.length === 0) {
        const parts = attrInt(node, 'num_outputs') ?? nOut;
        const each = Math.ceil(dim / parts);
        sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(each, dim - i * each)));
      }
      t.act += 2 * io(x);
      return sizes.map((s) => {
        const shape = [...x.shape];
        shape[axis] = s;
        return out(shape, x.dtype, x.isConst);
      });
    }
    case 'Slice': {
      const x = x0();
      const r = x.shape.length;
      let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
      if (ctx.opset >= 10) {
        starts = constInts(ins, 1, 'the starts input');
        ends = constInts(ins, 2, 'the ends input');
        axes = ins[3] ? constInts(ins, 3, 'the axes input') : undefined;
        steps = ins[4] ? constInts(ins, 4, 'the steps input') : undefined;
      } else {
        starts = attrInts(node, 'starts') ?? [];
        ends = attrInts(node, 'ends') ?? [];
        axes = attrInts(node, 'axes');
      }
      const shape = [...x.shape];
      const ranges = x.shape.map((d) => ({ start: 0, step: 1, len: d }));
      starts.forEach((s0, i) => {
        const a = normAxis(axes?.[i] ?? i, r);
        const d = x.shape[a]!;
        const step = steps?.[i] ?? 1;
        if (step === 0) throw new NodeError('Slice with step 0');
        const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
        let s = s0 < 0 ? s0 + d : s0;
        let e = ends[i]! < 0 ? ends[i]! + d : ends[i]!;
        if (step > 0) {
          s = clamp(s, 0, d);
          e = clamp(e, 0, d);
        } else {
          s = clamp(s, -1, d - 1);
          e = clamp(e, -1, d - 1);
        }
        const len = Math.max(0, Math.ceil((e - s) / step));
        shape[a] = len;
        ranges[a] = { start: s, step, len };
      });
      let data: number[] | undefined;
      if (x.data) {
        const inS = strides(x.shape);
        const outS = strides(shape);
        data = Array.from({ length: prod(shape) }, (_, i) => {
          let idx = 0;
          for (let k = 0; k < r; k++) idx += (ranges[k]!.start + (Math.floor(i / outS[k]!) % shape[k]!) * ranges[k]!.step) * inS[k]!;
          return x.data![idx]!;
        });
      }
      const y = out(shape, x.dtype, x.isConst, data);
      t.act += 2 * io(y);
      return [y];
    }
    case 'Gather': {
      const x = x0();
      const idx = need(ins, 1, 'the indices');
      const axis = normAxis(attrInt(node, 'axis', 0), x.shape.length);
      const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
      let data: number[] | undefined;
      if (x.data && idx.data) {
        const outer = prod(x.shape.slice(0, axis));
        const inner = prod(x.shape.slice(axis + 1));
        const d = x.shape[axis]!;
        data = [];
        for (let o = 0; o < outer; o++) {
          for (const j0 of idx.data) {
            const j = j0 < 0 ? j0 + d : j0;
            data.push(...x.data.slice((o * d + j) * inner, (o * d + j + 1) * inner));
          }
        }
      }
      const y = out(shape, x.dtype, x.isConst && idx.isConst, data);
      t.act += 2 * io(y);
      return [y];
    }
    case 'GatherElements': {
      const x = x0();
      const idx = need(ins, 1, 'the indices');
      const y = out(idx.shape, x.dtype, x.isConst && idx.isConst);
      t.act += 2 * io(y);
      return [y];
    }
    case 'GatherND': {
      const x = x0();
      const idx = need(ins, 1, 'the indices');
      const b = attrInt(node, 'batch_dims', 0);
      const last = idx.shape[idx.shape.length - 1] ?? 0;
      const y = out([...idx.shape.slice(0, -1), ...x.shape.slice(b + last)], x.dtype, x.isConst && idx.isConst);
      t.act += 2 * io(y);
      return [y];
    }
    case 'ScatterElements': case 'ScatterND': case 'Scatter': case 'Trilu': case 'ReverseSequence': {
      const x = x0();
      t.act += 2 * io(x);
      return [out(x.shape, x.dtype, x.isConst)];
    }
    case 'Expand': {
      const x = x0();
      const target = constInts(ins, 1, 'the shape input');
      const shape = broadcast([x.shape, target]);
      if (!shape) throw new NodeError(`cannot expand [${x.shape.join(', ')}] to [${target.join(', ')}]`);
      const data = x.data && prod(shape) <= ONNX_COST_LIMITS.maxFoldedElements ? Array.from({ length: prod(shape) }, (_, i) => broadcastReader(x, shape)(i)) : undefined;
      const y = out(shape, x.dtype, x.isConst, data);
      t.act += io(x) + io(y);
      return [y];
    }
    case 'Tile': {
      const x = x0();
      const reps = constInts(ins, 1, 'the repeats input');
      const y = out(x.shape.map((d, i) => d * (reps[i] ?? 1)), x.dtype, x.isConst);
      t.act += io(x) + io(y);
      return [y];
    }
    case 'Pad': {
      const x = x0();
      const r = x.shape.length;
      const pads = ctx.opset >= 11 ? constInts(ins, 1, 'the pads input') : (attrInts(node, 'pads') ?? attrInts(node, 'paddings') ?? []);
      const axes = ins[3] ? constInts(ins, 3, 'the axes input').map((a) => normAxis(a, r)) : Array.from({ length: r }, (_, i) => i);
      const shape = [...x.shape];
      axes.forEach((a, i) => {
        shape[a] = shape[a]! + (pads[i] ?? 0) + (pads[i + axes.length] ?? 0);
      });
      const y = out(shape, x.dtype, x.isConst);
      t.act += io(x) + io(y);
      return [y];
    }
    case 'DepthToSpace': case 'SpaceToDepth': {
      const x = x0();
      const bs = attrInt(node, 'blocksize', 1);
      const [n, c, h, w] = x.shape as [number, number, number, number];
      const shape = op === 'DepthToSpace' ? [n, c / (bs * bs), h * bs, w * bs] : [n, c * bs * bs, h / bs, w / bs];
      t.act += 2 * io(x);
      return [out(shape, x.dtype, x.isConst)];
    }
    case 'Resize': case 'Upsample': {
      const x = x0();
      let shape: number[] | undefined;
      const sizesIdx = op === 'Resize' ? (ctx.opset >= 11 ? 3 : -1) : -1;
      const scalesIdx = op === 'Resize' ? (ctx.opset >= 11 ? 2 : 1) : 1;
      if (sizesIdx > 0 && ins[sizesIdx]?.data && ins[sizesIdx]!.data!.length > 0) shape = constInts(ins, sizesIdx, 'the sizes input');
      else {
        const scales = ins[scalesIdx]?.data ?? attrFloats(node, 'scales');
        if (!scales || scales.length === 0) throw new NodeError('Resize without constant scales or sizes');
        shape = x.shape.map((d, i) => Math.floor(d * (scales[i] ?? 1)));
      }
      const mode = attrString(node, 'mode') ?? 'nearest';
      const y = out(shape, x.dtype, x.isConst);
      t.flops += prod(shape) * (mode === 'nearest' ? 0 : mode === 'cubic' ? 16 : 4);
      t.act += io(x) + io(y);
      return [y];
    }
    case 'Conv': case 'ConvTranspose': {
      const x = x0();
      const w = need(ins, 1, 'the weight');
      const bias = ins[2];
      const g = attrInt(node, 'group', 1);
      const kernel = attrInts(node, 'kernel_shape') ?? w.shape.slice(2);
      const n = x.shape[0]!;
      let shape: number[];
      if (op === 'Conv') {
        shape = [n, w.shape[0]!, ...poolSpatial(node, x.shape, kernel, false)];
      } else {
        const k = kernel.length;
        const st = attrInts(node, 'strides') ?? new Array<number>(k).fill(1);
        const dil = attrInts(node, 'dilations') ?? new Array<number>(k).fill(1);
        const pads = attrInts(node, 'pads') ?? new Array<number>(2 * k).fill(0);
        const outPad = attrInts(node, 'output_padding') ?? new Array<number>(k).fill(0);
        const outShape = attrInts(node, 'output_shape');
        const autoPad = attrString(node, 'auto_pad') ?? 'NOTSET';
        const spatial = x.shape.slice(2).map((d, i) => {
          if (outShape && outShape.length > 0) return outShape[outShape.length - k + i]!;
          if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return d * (st[i] ?? 1);
          return (st[i] ?? 1) * (d - 1) + (outPad[i] ?? 0) + ((kernel[i] ?? 1) - 1) * (dil[i] ?? 1) + 1 - (pads[i] ?? 0) - (pads[i + k] ?? 0);
        });
        shape = [n, w.shape[1]! * g, ...spatial];
      }
      const y = out(shape, x.dtype, x.isConst && w.isConst);
      const outN = prod(shape);
      const kProd = prod(kernel);
      t.flops += op === 'Conv' ? 2 * outN * (w.shape[1]! * kProd) : 2 * prod(x.shape) * (w.shape[1]! * kProd);
      if (bias) t.flops += outN;
      if (w.isConst) t.params += io(w);
      else t.act += io(w);
      t.act += io(x) + io(y);
      return [y];
    }
    case 'Gemm': {
      let a = need(ins, 0, 'A');
      let b = need(ins, 1, 'B');
      const ta = attrInt(node, 'transA', 0) === 1;
      const tb = attrInt(node, 'transB', 0) === 1;
      const [m, k] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
      const nn = tb ? b.shape[0]! : b.shape[1]!;
      const y = out([m, nn], a.dtype, a.isConst && b.isConst);
      t.flops += 2 * m * k * nn;
      if (a.isConst && !b.isConst) [a, b] = [b, a];
      if (b.isConst) t.params += io(b);
      else t.params += k * nn * elemSize(b);
      t.act += io(a) + io(y);
      return [y];
    }
    case 'MatMul': {
      const a = need(ins, 0, 'A');
      const b = need(ins, 1, 'B');
      const as = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape;
      const bs = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape;
      const m = as[as.length - 2]!;
      const k = as[as.length - 1]!;
      const nn = bs[bs.length - 1]!;
      if (bs[bs.length - 2] !== k) throw new NodeError(`cannot multiply [${a.shape.join(', ')}] by [${b.shape.join(', ')}]`);
      const batchShape = broadcast([as.slice(0, -2), bs.slice(0, -2)]);
      if (!batchShape) throw new NodeError(`batch dimensions of [${a.shape.join(', ')}] and [${b.shape.join(', ')}] do not broadcast`);
      const shape = [...batchShape, ...(a.shape.length === 1 ? [] : [m]), ...(b.shape.length === 1 ? [] : [nn])];
      const y = out(shape, a.dtype, a.isConst && b.isConst);
      const batch = prod(batchShape);
      t.flops += 2 * batch * m * k * nn;
      if (b.isConst) {
        t.params += io(b);
        t.act += io(a) + io(y);
      } else if (a.isConst) {
        t.params += io(a);
        t.act += io(b) + io(y);
      } else {
        // Two activations (attention): analytical.ts's matmul.
        t.params += k * nn * elemSize(b);
        t.act += (batch * m * k + batch * m * nn) * elemSize(a);
      }
      return [y];
    }
    case 'Einsum': {
      const eq = (attrString(node, 'equation') ?? '').replace(/\s+/g, '');
      if (eq.includes('.')) throw new NodeError('Einsum with an ellipsis');
      const [lhs, rhs0] = eq.split('->') as [string, string | undefined];
      const terms = lhs.split(',');
      const vs = terms.map((_, i) => need(ins, i));
      const size = new Map<string, number>();
      terms.forEach((term, i) => {
        if (term.length !== vs[i]!.shape.length) throw new NodeError(`Einsum term ${JSON.stringify(term)} on a tensor of rank ${vs[i]!.shape.length}`);
        [...term].forEach((c, j) => size.set(c, vs[i]!.shape[j]!));
      });
      const counts = new Map<string, number>();
      for (const c of lhs.replace(/,/g, '')) counts.set(c, (counts.get(c) ?? 0) + 1);
      const rhs = rhs0 ?? [...counts.keys()].filter((c) => counts.get(c) === 1).sort().join('');
      const y = out([...rhs].map((c) => size.get(c) ?? 1), vs[0]!.dtype, vs.every((v) => v.isConst));
      const all = prod([...size.values()]);
      t.flops += vs.length >= 2 ? 2 * all : all;
      for (const v of vs) {
        if (v.isConst) t.params += io(v);
        else t.act += io(v);
      }
      t.act += io(y);
      return [y];
    }
    case 'MaxPool': case 'AveragePool': case 'LpPool': {
      const x = x0();
      const kernel = attrInts(node, 'kernel_shape');
      if (!kernel) throw new NodeError('pooling without kernel_shape');
      const shape = [x.shape[0]!, x.shape[1]!, ...poolSpatial(node, x.shape, kernel, true)];
      const y = out(shape, x.dtype, x.isConst);
      const kp = prod(kernel);
      t.flops += prod(shape) * (op === 'MaxPool' ? kp - 1 : kp);
      t.act += io(x) + io(y);
      return nOut > 1 ? [y, out(shape, DT.INT64, x.isConst)] : [y];
    }
    case 'GlobalAveragePool': case 'GlobalMaxPool': case 'GlobalLpPool': {
      const x = x0();
      const y = out([x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)], x.dtype, x.isConst);
      t.flops += prod(x.shape);
      t.act += io(x) + io(y);
      return [y];
    }
    case 'ArgMax': case 'ArgMin': case 'TopK': case 'CumSum': {
      const x = x0();
      const r = x.shape.length;
      const axis = normAxis(op === 'CumSum' ? (ins[1]?.data?.[0] ?? 0) : attrInt(node, 'axis', op === 'TopK' ? -1 : 0), r);
      let shape = [...x.shape];
      if (op === 'TopK') {
        const k = ctx.opset >= 10 ? constInts(ins, 1, 'K')[0]! : attrInt(node, 'k', 1);
        shape[axis] = k;
      } else if (op !== 'CumSum') {
        shape = attrInt(node, 'keepdims', 1) === 1 ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
      }
      const y = out(shape, op.startsWith('Arg') ? DT.INT64 : x.dtype, x.isConst);
      t.flops += prod(x.shape);
      t.act += io(x) + io(y);
      return op === 'TopK' ? [y, out(shape, DT.INT64, x.isConst)] : [y];
    }
    case 'OneHot': {
      const idx = x0();
      const depth = constInts(ins, 1, 'the depth input')[0]!;
      const axis = normAxis(attrInt(node, 'axis', -1), idx.shape.length + 1);
      const shape = [...idx.shape];
      shape.splice(axis, 0, depth);
      const y = out(shape, ins[2]?.dtype ?? DT.FLOAT, idx.isConst);
      t.act += io(idx) + io(y);
      return [y];
    }
    case 'LSTM': case 'GRU': case 'RNN': {
      const x = x0();
      const w = need(ins, 1, 'W');
      const r = need(ins, 2, 'R');
      const layout = attrInt(node, 'layout', 0);
      const [seq, b, inSize] = layout === 0 ? [x.shape[0]!, x.shape[1]!, x.shape[2]!] : [x.shape[1]!, x.shape[0]!, x.shape[2]!];
      const dirs = w.shape[0]!;
      const h = attrInt(node, 'hidden_size') ?? r.shape[2]!;
      const gates = op === 'LSTM' ? 4 : op === 'GRU' ? 3 : 1;
      // Per step and direction: the gate products, two bias adds per gate, and the gates' element-wise work.
      const elementwise = op === 'LSTM' ? 3 * 4 + 2 * 5 + 3 : op === 'GRU' ? 2 * 4 + 5 + 4 : 5;
      t.flops += seq * b * dirs * (2 * gates * h * (inSize + h) + 2 * gates * h + elementwise * h);
      t.params += io(w) + io(r);
      const ys = layout === 0 ? [seq, dirs, b, h] : [b, seq, dirs, h];
      const yh = layout === 0 ? [dirs, b, h] : [b, dirs, h];
      const y = out(ys, x.dtype, false);
      const hOut = out(yh, x.dtype, false);
      t.act += io(x) + io(y) + 2 * io(hOut);
      return [y, hOut, out(yh, x.dtype, false)];
    }
    default:
      if (REDUCES.has(op)) {
        const x = x0();
        const r = x.shape.length;
        const fromInput = ins[1] !== undefined;
        const axesRaw = fromInput ? constInts(ins, 1, 'the axes input') : attrInts(node, 'axes');
        const noop = attrInt(node, 'noop_with_empty_axes', 0) === 1;
        const axes = (axesRaw && axesRaw.length > 0 ? axesRaw : noop ? [] : Array.from({ length: r }, (_, i) => i)).map((a) => normAxis(a, r));
        const keep = attrInt(node, 'keepdims', 1) === 1;
        const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
        let data: number[] | undefined;
        if (x.data && (axes.length === r || r <= 1)) {
          const v = x.data;
          const f = op === 'ReduceSum' ? v.reduce((s, a) => s + a, 0) : op === 'ReduceProd' ? v.reduce((s, a) => s * a, 1) : op === 'ReduceMax' ? Math.max(...v) : op === 'ReduceMin' ? Math.min(...v) : op === 'ReduceMean' ? v.reduce((s, a) => s + a, 0) / Math.max(1, v.length) : undefined;
          if (f !== undefined) data = [f];
        }
        const y = out(shape, x.dtype, x.isConst, data);
        t.flops += prod(x.shape);
        t.act += io(x) + io(y);
        return [y];
      }
      if (DATA_DEPENDENT.has(op)) throw new NodeError('its output shape depends on the values it computes (or on control flow)');
      return null;
  }
}

/** The dims of a graph input or value_info: numbers, symbolic names, or null (unknown). */
function dimsOf(v: ValueInfoProto): (number | string | null)[] | null {
  const tt = v.type?.tensorType;
  if (!tt || !tt.shape) return null;
  return (tt.shape.dim ?? []).map((d) => {
    if (has(d, 'dimValue')) {
      const n = num(d.dimValue);
      return n > 0 ? n : null;
    }
    if (has(d, 'dimParam') && d.dimParam) return d.dimParam;
    return null;
  });
}

function decodeModel(bytes: Uint8Array, name: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    const why = String((err as Error).message ?? err).split('\n')[0];
    throw new ValidationError(name, `is not a readable ONNX model (the protobuf does not decode: ${why}; a truncated or corrupt file?)`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) {
    throw new ValidationError(name, 'is not an ONNX model (no graph with nodes in it)');
  }
  return model;
}

/**
 * Counts FLOPs and bytes of one inference pass on an ONNX model (a path, or the file's bytes).
 * Throws a ValidationError naming the file when it cannot be read or decoded, is over the limits,
 * or its first input's shape cannot be made concrete; operators it cannot count are reported in
 * `uncounted` and `notes`, never thrown.
 */
export function countOnnxCost(model: string | Uint8Array, options: OnnxCountOptions = {}): OnnxCost {
  const name = options.name ?? (typeof model === 'string' ? basename(model) : 'model.onnx');
  let bytes: Uint8Array;
  if (typeof model === 'string') {
    let size: number;
    try {
      const st = statSync(model);
      if (!st.isFile()) throw new ValidationError(name, 'is not a file');
      size = st.size;
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      throw new ValidationError(name, `cannot be read: ${(err as Error).message}`);
    }
    if (size > ONNX_COST_LIMITS.maxBytes) throw new ValidationError(name, `is ${size} bytes, over the limit of ${ONNX_COST_LIMITS.maxBytes} bytes for counting (protobuf's 2 GiB); give the manifest a cost: section`);
    bytes = readFileSync(model);
  } else {
    bytes = model;
    if (bytes.length > ONNX_COST_LIMITS.maxBytes) throw new ValidationError(name, `is ${bytes.length} bytes, over the limit of ${ONNX_COST_LIMITS.maxBytes} bytes for counting`);
  }
  const m = decodeModel(bytes, name);
  const g = m.graph!;
  const nodes = (g.node ?? []) as NodeProto[];
  if (nodes.length > ONNX_COST_LIMITS.maxNodes) throw new ValidationError(name, `has ${nodes.length} nodes, over the limit of ${ONNX_COST_LIMITS.maxNodes} for counting; give the manifest a cost: section`);
  const opsetEntry = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = opsetEntry ? num(opsetEntry.version) : 1;

  const initializers = new Map<string, Val>();
  let initializerBytes = 0;
  for (const t of g.initializer ?? []) {
    const v = constVal(t);
    initializers.set(t.name ?? '', v);
    initializerBytes += prod(v.shape!) * (ELEM_SIZE[v.dtype] ?? 4);
  }
  const inputs = (g.input ?? [])
    .filter((i) => !initializers.has(i.name ?? ''))
    .map((i) => {
      const dims = dimsOf(i);
      return { name: i.name ?? '', dtype: num(i.type?.tensorType?.elemType ?? 0), dims };
    });
  const first = inputs[0];
  if (!first) throw new ValidationError(name, 'has no graph input (every input is an initializer)');
  if (!first.dims) throw new ValidationError(name, `input ${JSON.stringify(first.name)} is not a tensor of known rank; the counter needs its shape`);

  // The batch: dimension 0 of the first input, when it is symbolic, -1 or 0.
  const d0 = first.dims[0];
  const batchDynamic = first.dims.length > 0 && typeof d0 !== 'number';
  const fixedBatchSize = batchDynamic ? undefined : first.dims.length > 0 ? (d0 as number) : 1;
  const batchParam = batchDynamic ? (typeof d0 === 'string' ? d0 : '') : null;

  // Sample dimensions: from the model, filled or checked by options.inputShape.
  const dims: Record<string, number> = { ...(options.dims ?? {}) };
  const sampleDims = first.dims.slice(first.dims.length > 0 ? 1 : 0);
  const given = options.inputShape;
  if (given && given.length !== sampleDims.length) {
    throw new ValidationError(name, `input ${JSON.stringify(first.name)} has ${sampleDims.length} dimensions besides the batch ([${sampleDims.map((d) => d ?? '?').join(', ')}]), but the manifest's infer.input.shape has ${given.length} ([${given.join(', ')}])`);
  }
  const inputShape: number[] = sampleDims.map((d, i) => {
    const want = given?.[i];
    if (typeof d === 'number') {
      if (want !== undefined && want !== d) throw new ValidationError(name, `input ${JSON.stringify(first.name)} has shape [${sampleDims.map((x) => x ?? '?').join(', ')}] besides the batch, but the manifest's infer.input.shape is [${given!.join(', ')}]`);
      return d;
    }
    const bound = typeof d === 'string' ? dims[d] : undefined;
    const v = want ?? bound;
    if (v === undefined) {
      throw new ValidationError(name, `input ${JSON.stringify(first.name)} dimension ${i + 1}${typeof d === 'string' ? ` (${JSON.stringify(d)})` : ''} is not fixed in the model; give infer.input.shape in the manifest`);
    }
    if (typeof d === 'string') dims[d] = v;
    return v;
  });
  const resolvedInputs = inputs.map((inp, k) => {
    if (!inp.dims) throw new ValidationError(name, `input ${JSON.stringify(inp.name)} is not a tensor of known rank; the counter needs its shape`);
    if (k === 0) return { ...inp, dims: [...(inp.dims.length > 0 ? [inp.dims[0]!] : []), ...inputShape] as (number | string | null)[] };
    inp.dims.forEach((d, i) => {
      if (typeof d === 'number') return;
      if (i === 0 && batchDynamic) return;
      if (typeof d === 'string' && (dims[d] !== undefined || d === batchParam)) return;
      throw new ValidationError(name, `input ${JSON.stringify(inp.name)} dimension ${i}${typeof d === 'string' ? ` (${JSON.stringify(d)})` : ''} is not fixed in the model and not shared with the first input; the counter cannot size it`);
    });
    return inp;
  });

  const valueInfo = new Map<string, { dtype: number; dims: (number | string | null)[] }>();
  for (const v of [...(g.valueInfo ?? []), ...(g.output ?? [])]) {
    const d = dimsOf(v);
    if (d) valueInfo.set(v.name ?? '', { dtype: num(v.type?.tensorType?.elemType ?? 0), dims: d });
  }
  const ctx: Context = {
    name,
    opset,
    nodes,
    initializers,
    inputs: resolvedInputs.map((i) => ({ name: i.name, dtype: i.dtype, dims: i.dims! })),
    valueInfo,
    batchParam: batchDynamic ? (batchParam ?? '') : null,
    dims,
  };
  // A batch dimension named '' (an unnamed dynamic dim) must not match unnamed dims elsewhere.
  const r1 = run(ctx, batchDynamic ? 1 : fixedBatchSize!);
  const ops: Record<string, number> = {};
  for (const n of nodes) ops[n.opType ?? '?'] = (ops[n.opType ?? '?'] ?? 0) + 1;
  const notes = [...r1.notes];
  let flopsPerSample: number, flopsPerBatch: number, actPerSample: number, actPerBatch: number;
  if (batchDynamic) {
    const r2 = run(ctx, 2);
    flopsPerSample = r2.tally.flops - r1.tally.flops;
    flopsPerBatch = r1.tally.flops - flopsPerSample;
    actPerSample = r2.tally.act - r1.tally.act;
    actPerBatch = r1.tally.act - actPerSample;
    if (flopsPerBatch < 0 || actPerBatch < 0) {
      notes.push('the count grows faster than the batch size between batch 1 and 2; the per-minibatch terms are set to 0 and the per-sample terms to batch 1\'s');
      if (flopsPerBatch < 0) [flopsPerSample, flopsPerBatch] = [r1.tally.flops, 0];
      if (actPerBatch < 0) [actPerSample, actPerBatch] = [r1.tally.act, 0];
    }
  } else {
    const b = fixedBatchSize!;
    flopsPerSample = r1.tally.flops / b;
    flopsPerBatch = 0;
    actPerSample = r1.tally.act / b;
    actPerBatch = 0;
    notes.unshift(`the first input's batch dimension is fixed at ${b}: counted at batch ${b} and divided by it (export with a dynamic batch, e.g. dynamic_axes={'${first.name}': {0: 'batch'}}, to serve other batch sizes)`);
  }
  if (r1.unknownNodes > 0) notes.push(`${r1.unknownNodes} of ${nodes.length} nodes not counted (operators: ${[...r1.uncounted].sort().join(', ')})`);
  const total = Object.values(r1.byClass).reduce((a, b) => a + b, 0);
  const flopsShare = Object.fromEntries(Object.entries(r1.byClass).map(([k, v]) => [k, total > 0 ? v / total : 0])) as Record<OnnxComputeClass | 'other', number>;
  const ranked = (['conv', 'matmul', 'recurrent'] as const).filter((c) => r1.byClass[c] > 0).sort((a, b) => r1.byClass[b] - r1.byClass[a]);
  const producer = m.producerName ? `, exported by ${m.producerName}${m.producerVersion ? ` ${m.producerVersion}` : ''}` : '';
  return {
    flopsPerSample,
    flopsPerBatch,
    activationBytesPerSample: actPerSample,
    activationBytesPerBatch: actPerBatch,
    paramBytes: r1.tally.params,
    initializerBytes,
    inputName: first.name,
    inputShape,
    inputDtype: onnxDtypeName(first.dtype),
    batchDynamic,
    ...(fixedBatchSize !== undefined ? { fixedBatchSize } : {}),
    flopsShare,
    ...(ranked[0] ? { computeClass: ranked[0] } : {}),
    ops,
    operators: r1.tally.operators,
    uncounted: [...r1.uncounted].sort(),
    notes,
    opset,
    source: `counted on ${name} (ONNX opset ${opset}${producer}, ${nodes.length} nodes) with analytical.ts's conventions`,
  };
}
