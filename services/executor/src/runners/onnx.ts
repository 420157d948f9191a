/**
 * In-process inference with onnxruntime-node: one InferenceSession per stream, batch = the
 * minibatch's requests stacked along axis 0. Any model file with one tensor input whose first
 * dimension is the (dynamic) batch: the input's name, shape and dtype are read from the model. The
 * session runs on onnxruntime's own threads, so the event loop keeps accepting requests while a
 * minibatch runs.
 */
import ort from 'onnxruntime-node';
import type { InferenceBatchResult, MinibatchRunner, TrainingResult } from '../types.js';
import { seededRandom } from '../arrivals.js';

export interface OnnxStreamModel {
  /** Path of the .onnx file. */
  readonly path: string;
  /**
   * Per-sample input shape, used where the model's own shape is symbolic beyond the batch
   * dimension (e.g. the manifest's `infer.input.shape`); checked against the model's fixed dims.
   */
  readonly inputShape?: readonly number[];
}

export interface OnnxRunnerOptions {
  readonly models: Readonly<Record<string, OnnxStreamModel>>;
  /** onnxruntime intra-op threads per session. Default 1 (the host is shared with training). */
  readonly intraOpThreads?: number;
}

export interface ClassOutput {
  readonly classIndex: number;
  readonly score: number;
}

/** The input tensor types this runner can feed. */
const FEEDABLE = ['float32', 'float16', 'int64', 'int32', 'uint8', 'int8', 'float64'] as const;
type Feedable = (typeof FEEDABLE)[number];

/** A model the runner cannot serve: names the file and what is wrong. */
export class OnnxModelError extends Error {
  override readonly name = 'OnnxModelError';
  constructor(
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${reason}`, options);
  }
}

export interface OnnxModelInfo {
  readonly inputName: string;
  /** Per-sample shape (without the batch dimension). */
  readonly inputShape: readonly number[];
  readonly inputType: Feedable;
  readonly outputNames: readonly string[];
}

interface Session {
  readonly session: ort.InferenceSession;
  readonly info: OnnxModelInfo;
  readonly size: number;
}

function isDynamic(dim: number | string | undefined): boolean {
  return typeof dim === 'string' || dim === -1 || dim === 0;
}

/** Reads and checks a session's input: one tensor, dynamic batch, fixed (or given) sample shape. */
export function describeOnnxSession(session: ort.InferenceSession, path: string, given?: readonly number[]): OnnxModelInfo {
  const inputs = session.inputMetadata;
  if (inputs.length !== 1) throw new OnnxModelError(path, `has ${inputs.length} inputs (${session.inputNames.join(', ')}); Fulcrum serves models with exactly one input tensor`);
  const meta = inputs[0]!;
  if (!meta.isTensor) throw new OnnxModelError(path, `input ${JSON.stringify(meta.name)} is not a tensor`);
  const type = meta.type as string;
  if (!(FEEDABLE as readonly string[]).includes(type)) throw new OnnxModelError(path, `input ${JSON.stringify(meta.name)} has type ${type}; supported: ${FEEDABLE.join(', ')}`);
  const shape = meta.shape;
  if (shape.length === 0) throw new OnnxModelError(path, `input ${JSON.stringify(meta.name)} has no shape in the model; export it with a shape and a dynamic batch axis`);
  if (!isDynamic(shape[0])) {
    throw new OnnxModelError(
      path,
      `input ${JSON.stringify(meta.name)} has a fixed batch dimension ${String(shape[0])} (shape [${shape.join(', ')}]); Fulcrum batches requests, so the model needs a dynamic batch axis: export it with torch.onnx.export(..., dynamic_axes={${JSON.stringify(meta.name)}: {0: "batch"}})`,
    );
  }
  const rest = shape.slice(1);
  const sample: number[] = [];
  if (given && given.length !== rest.length) throw new OnnxModelError(path, `input ${JSON.stringify(meta.name)} has ${rest.length} dimensions after the batch, but the manifest's infer.input.shape has ${given.length} ([${given.join(', ')}])`);
  rest.forEach((d, i) => {
    if (typeof d === 'number' && d > 0) {
      if (given && given[i] !== d) throw new OnnxModelError(path, `input ${JSON.stringify(meta.name)} dimension ${i + 1} is ${d}, but the manifest's infer.input.shape says ${given[i]}`);
      sample.push(d);
    } else if (given) sample.push(given[i]!);
    else throw new OnnxModelError(path, `input ${JSON.stringify(meta.name)} dimension ${i + 1} is symbolic (${String(d)}); give the sample shape in the manifest's infer.input.shape`);
  });
  return { inputName: meta.name, inputShape: sample, inputType: type as Feedable, outputNames: session.outputNames };
}

/** Opens and checks one model file (see `describeOnnxSession`). */
export async function openOnnxModel(path: string, options: { intraOpThreads?: number; inputShape?: readonly number[] } = {}): Promise<{ session: ort.InferenceSession; info: OnnxModelInfo }> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { intraOpNumThreads: options.intraOpThreads ?? 1, interOpNumThreads: 1, executionMode: 'sequential' });
  } catch (err) {
    throw new OnnxModelError(path, `onnxruntime could not load it: ${String((err as Error).message ?? err).split('\n')[0]}`, { cause: err });
  }
  try {
    return { session, info: describeOnnxSession(session, path, options.inputShape) };
  } catch (err) {
    await session.release();
    throw err;
  }
}

function makeData(type: Feedable, n: number): ort.Tensor['data'] {
  switch (type) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'float16':
      return new Uint16Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'uint8':
      return new Uint8Array(n);
    case 'int8':
      return new Int8Array(n);
  }
}

/** float32 → IEEE half bits (for float16 inputs). */
function toHalf(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

export class OnnxRunner implements MinibatchRunner {
  readonly name = 'onnxruntime';
  private readonly sessions = new Map<string, Session>();
  private readonly random = seededRandom(42);

  private constructor() {}

  /** Opens every stream's model; a model that cannot be served fails with an `OnnxModelError` naming it. */
  static async create(options: OnnxRunnerOptions): Promise<OnnxRunner> {
    const runner = new OnnxRunner();
    try {
      for (const [stream, m] of Object.entries(options.models)) {
        const { session, info } = await openOnnxModel(m.path, { intraOpThreads: options.intraOpThreads ?? 1, ...(m.inputShape ? { inputShape: m.inputShape } : {}) });
        runner.sessions.set(stream, { session, info, size: info.inputShape.reduce((a, b) => a * b, 1) });
      }
    } catch (err) {
      await runner.close();
      throw err;
    }
    return runner;
  }

  /** What the model of `stream` takes. */
  model(stream: string): OnnxModelInfo | undefined {
    return this.sessions.get(stream)?.info;
  }

  async runTraining(): Promise<TrainingResult> {
    throw new Error('onnxruntime runner: inference only (compose it with a training runner)');
  }

  /** Inputs: a typed array / number[] of one sample each, or undefined (a generated sample). */
  async runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    const s = this.sessions.get(stream);
    if (!s) throw new Error(`onnxruntime runner: no model for stream ${JSON.stringify(stream)}`);
    const b = inputs.length;
    const type = s.info.inputType;
    const data = makeData(type, b * s.size);
    const put = (k: number, v: number): void => {
      if (data instanceof BigInt64Array) data[k] = BigInt(Math.trunc(v));
      else if (type === 'float16') (data as Uint16Array)[k] = toHalf(v);
      else (data as Float32Array)[k] = v;
    };
    const integer = type !== 'float32' && type !== 'float64' && type !== 'float16';
    inputs.forEach((x, i) => {
      if (Array.isArray(x) || ArrayBuffer.isView(x)) {
        const arr = x as ArrayLike<number>;
        if (arr.length !== s.size) throw new Error(`onnxruntime runner: stream ${stream} input ${i} has ${arr.length} values, expected ${s.size} (shape [${s.info.inputShape.join(', ')}])`);
        for (let j = 0; j < s.size; j++) put(i * s.size + j, Number(arr[j]));
      } else {
        for (let j = 0; j < s.size; j++) put(i * s.size + j, integer ? Math.floor(this.random() * 100) : this.random() * 2 - 1);
      }
    });
    const feeds = { [s.info.inputName]: new ort.Tensor(type, data, [b, ...s.info.inputShape]) };
    const t0 = performance.now();
    const result = await s.session.run(feeds);
    const timeS = (performance.now() - t0) / 1000;
    const out = result[s.info.outputNames[0]!]!;
    return { timeS, outputs: perSample(out, b, stream) };
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await s.session.release();
    this.sessions.clear();
  }
}

/** One output per sample: a [b, classes] float output as arg-max + softmax score, else the sample's values. */
function perSample(out: ort.Tensor, b: number, stream: string): unknown[] {
  if (out.dims[0] !== b) throw new Error(`onnxruntime runner: stream ${stream}: the model's first output has shape [${out.dims.join(', ')}] for a batch of ${b}`);
  const values = out.data as ArrayLike<number | bigint>;
  const per = b > 0 ? values.length / b : 0;
  const outputs: unknown[] = [];
  if (out.dims.length === 2 && (out.type === 'float32' || out.type === 'float64')) {
    const classes = out.dims[1]!;
    for (let i = 0; i < b; i++) {
      let best = 0;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) {
        const v = Number(values[i * classes + c]);
        if (v > max) {
          max = v;
          best = c;
        }
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(Number(values[i * classes + c]) - max);
      outputs.push({ classIndex: best, score: 1 / sum } satisfies ClassOutput);
    }
    return outputs;
  }
  for (let i = 0; i < b; i++) {
    const row: number[] = [];
    for (let j = 0; j < per; j++) row.push(Number(values[i * per + j]));
    outputs.push(row);
  }
  return outputs;
}
