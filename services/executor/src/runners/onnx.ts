/**
 * In-process inference with onnxruntime-node: one InferenceSession per stream, batch = the
 * minibatch's requests stacked along axis 0. Any model file whose tensor inputs all have the
 * (dynamic) batch as their first dimension: names, shapes and dtypes are read from the model. A
 * sample is one array (the first input; the others generated) or an object naming its inputs
 * (`{"input_ids": [...], "attention_mask": [...]}`; those it leaves out generated). The session runs
 * on onnxruntime's own threads, so the event loop keeps accepting requests while a minibatch runs.
 */
import ort from 'onnxruntime-node';
import type { InferenceBatchResult, MinibatchRunner, TrainingResult } from '../types.js';
import { notNumbers } from './inputs.js';
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

/** One tensor input of a model: its name, per-sample shape (without the batch dimension) and type. */
export interface OnnxInputInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: Feedable;
}

export interface OnnxModelInfo {
  /** The first input (a sample given as an array feeds it). */
  readonly inputName: string;
  /** Per-sample shape (without the batch dimension). */
  readonly inputShape: readonly number[];
  readonly inputType: Feedable;
  /** Every input, the first included; present when the model has more than one. */
  readonly inputs?: readonly OnnxInputInfo[];
  readonly outputNames: readonly string[];
}

/** Every input of a model, the first included. */
export function onnxInputsOf(info: OnnxModelInfo): readonly OnnxInputInfo[] {
  return info.inputs ?? [{ name: info.inputName, shape: info.inputShape, type: info.inputType }];
}

/** Tensor inputs a model may have (a language model has three or four). */
export const MAX_ONNX_INPUTS = 16;

interface Session {
  readonly session: ort.InferenceSession;
  readonly info: OnnxModelInfo;
  readonly inputs: readonly (OnnxInputInfo & { readonly size: number })[];
}

function isDynamic(dim: number | string | undefined): boolean {
  return typeof dim === 'string' || dim === -1 || dim === 0;
}

/**
 * Reads and checks a session's inputs: tensors, each with a dynamic batch and a fixed sample shape.
 * The manifest's `infer.input.shape` (`given`) is the first input's (checked against its fixed
 * dimensions, filling its symbolic ones); it also fills the symbolic dimensions of any other input
 * of the same rank (a language model's token ids, mask and segment ids share one length).
 */
export function describeOnnxSession(session: ort.InferenceSession, path: string, given?: readonly number[]): OnnxModelInfo {
  const metas = session.inputMetadata;
  if (metas.length === 0) throw new OnnxModelError(path, 'has no inputs');
  if (metas.length > MAX_ONNX_INPUTS) throw new OnnxModelError(path, `has ${metas.length} inputs; Fulcrum feeds at most ${MAX_ONNX_INPUTS}`);
  const inputs = metas.map((meta, k) => describeInput(meta, path, k === 0 ? given : given && rankOf(meta) === given.length ? given : undefined, k === 0));
  const first = inputs[0]!;
  return { inputName: first.name, inputShape: first.shape, inputType: first.type, ...(inputs.length > 1 ? { inputs } : {}), outputNames: session.outputNames };
}

function rankOf(meta: ort.InferenceSession.ValueMetadata): number {
  return meta.isTensor ? Math.max(0, meta.shape.length - 1) : -1;
}

/** One input (see `describeOnnxSession`); `strict`: the given shape must agree with its fixed dimensions (the first input). */
function describeInput(meta: ort.InferenceSession.ValueMetadata, path: string, given: readonly number[] | undefined, strict: boolean): OnnxInputInfo {
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
      if (strict && given && given[i] !== d) throw new OnnxModelError(path, `input ${JSON.stringify(meta.name)} dimension ${i + 1} is ${d}, but the manifest's infer.input.shape says ${given[i]}`);
      sample.push(d);
    } else if (given) sample.push(given[i]!);
    else {
      throw new OnnxModelError(
        path,
        strict
          ? `input ${JSON.stringify(meta.name)} dimension ${i + 1} is symbolic (${String(d)}); give the sample shape in the manifest's infer.input.shape`
          : `input ${JSON.stringify(meta.name)} dimension ${i + 1} is symbolic (${String(d)}) and the manifest's infer.input.shape (the first input's) has another rank; export the model with that dimension fixed`,
      );
    }
  });
  return { name: meta.name, shape: sample, type: type as Feedable };
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
        runner.sessions.set(stream, { session, info, inputs: onnxInputsOf(info).map((i) => ({ ...i, size: i.shape.reduce((a, b) => a * b, 1) })) });
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

  /**
   * Inputs, one per sample: a typed array / number[] (the first input's values; any other input
   * generated), an object of arrays by input name (those left out generated), or undefined (every
   * input generated). Generated values: uniform in [−1, 1) for float inputs; for integer inputs
   * 0–99 for the first (token ids, pixels) and 1 for the others (attention masks, segment ids: 1 is
   * valid for any of them).
   */
  async runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    const s = this.sessions.get(stream);
    if (!s) throw new Error(`onnxruntime runner: no model for stream ${JSON.stringify(stream)}`);
    const b = inputs.length;
    // Each sample's values per model input (undefined: generated), or why its input cannot be fed
    // (then it runs on a generated sample: the minibatch keeps its size).
    const samples = inputs.map((x) => this.#sample(s, x));
    const feeds: Record<string, ort.Tensor> = {};
    s.inputs.forEach((input, k) => {
      const type = input.type;
      const data = makeData(type, b * input.size);
      const put = (at: number, v: number): void => {
        if (data instanceof BigInt64Array) data[at] = BigInt(Math.trunc(v));
        else if (type === 'float16') (data as Uint16Array)[at] = toHalf(v);
        else (data as Float32Array)[at] = v;
      };
      const integer = type !== 'float32' && type !== 'float64' && type !== 'float16';
      samples.forEach((sample, i) => {
        const arr = typeof sample === 'string' ? undefined : sample[k];
        if (arr) {
          for (let j = 0; j < input.size; j++) put(i * input.size + j, Number(arr[j]));
        } else {
          for (let j = 0; j < input.size; j++) put(i * input.size + j, integer ? (k === 0 ? Math.floor(this.random() * 100) : 1) : this.random() * 2 - 1);
        }
      });
      feeds[input.name] = new ort.Tensor(type, data, [b, ...input.shape]);
    });
    const t0 = performance.now();
    const result = await s.session.run(feeds);
    const timeS = (performance.now() - t0) / 1000;
    const out = result[s.info.outputNames[0]!]!;
    const invalid = samples.map((sample) => (typeof sample === 'string' ? sample : undefined));
    return { timeS, outputs: perSample(out, b, stream), ...(invalid.some((e) => e !== undefined) ? { invalid } : {}) };
  }

  /**
   * One sample's values for each model input, in the model's order (undefined: generated), or why
   * its input cannot be fed (see `runInference`).
   */
  #sample(s: Session, x: unknown): (ArrayLike<unknown> | undefined)[] | string {
    const sized = (arr: ArrayLike<unknown>, input: OnnxInputInfo & { readonly size: number }): string | undefined => {
      const which = s.inputs.length > 1 ? `${JSON.stringify(input.name)} ` : '';
      if (arr.length !== input.size) return `input ${which}has ${arr.length} values, expected ${input.size} (shape [${input.shape.join(', ')}])`;
      const bad = notNumbers(arr);
      return bad === undefined ? undefined : `input ${which}is not an array of numbers (${bad})`;
    };
    if (Array.isArray(x) || ArrayBuffer.isView(x)) {
      const arr = x as ArrayLike<unknown>;
      return sized(arr, s.inputs[0]!) ?? [arr];
    }
    if (x === null || x === undefined) return [];
    if (typeof x !== 'object') return `input is not an array of numbers (got a ${typeof x}); give one array per sample, or an object of arrays by input name`;
    const byName = x as Record<string, unknown>;
    const names = s.inputs.map((i) => i.name);
    const unknown = Object.keys(byName).filter((n) => !names.includes(n));
    if (unknown.length > 0) return `input names ${unknown.map((n) => JSON.stringify(n)).join(', ')}; the model's inputs are ${names.map((n) => JSON.stringify(n)).join(', ')}`;
    const arrays: (ArrayLike<unknown> | undefined)[] = [];
    for (const input of s.inputs) {
      const v = byName[input.name];
      if (v === undefined || v === null) {
        arrays.push(undefined);
        continue;
      }
      if (!Array.isArray(v) && !ArrayBuffer.isView(v)) return `input ${JSON.stringify(input.name)} must be an array of ${input.size} values`;
      const bad = sized(v as ArrayLike<unknown>, input);
      if (bad) return bad;
      arrays.push(v as ArrayLike<unknown>);
    }
    return arrays;
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
