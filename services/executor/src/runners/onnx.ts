/**
 * In-process inference with onnxruntime-node: one InferenceSession per stream, batch = the
 * minibatch's requests stacked along axis 0. The session runs on onnxruntime's own threads, so
 * the event loop keeps accepting requests while a minibatch runs.
 */
import ort from 'onnxruntime-node';
import type { InferenceBatchResult, MinibatchRunner, TrainingResult } from '../types.js';
import { seededRandom } from '../arrivals.js';

export interface OnnxStreamModel {
  /** Path of the .onnx file (first input takes [batch, ...inputShape] float32; first output [batch, classes]). */
  readonly path: string;
  /** Per-sample input shape, e.g. [3, 32, 32]. */
  readonly inputShape: readonly number[];
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

export class OnnxRunner implements MinibatchRunner {
  readonly name = 'onnxruntime';
  private readonly sessions = new Map<string, { session: ort.InferenceSession; shape: readonly number[]; size: number }>();
  private readonly random = seededRandom(42);

  private constructor(private readonly options: OnnxRunnerOptions) {}

  static async create(options: OnnxRunnerOptions): Promise<OnnxRunner> {
    const runner = new OnnxRunner(options);
    for (const [stream, m] of Object.entries(options.models)) {
      const session = await ort.InferenceSession.create(m.path, {
        intraOpNumThreads: options.intraOpThreads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
      });
      runner.sessions.set(stream, { session, shape: m.inputShape, size: m.inputShape.reduce((a, b) => a * b, 1) });
    }
    return runner;
  }

  async runTraining(): Promise<TrainingResult> {
    throw new Error('onnxruntime runner: inference only (compose it with a training runner)');
  }

  /** Inputs: Float32Array / number[] of one sample each, or undefined (a generated sample). */
  async runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    const s = this.sessions.get(stream);
    if (!s) throw new Error(`onnxruntime runner: no model for stream ${JSON.stringify(stream)}`);
    const b = inputs.length;
    const data = new Float32Array(b * s.size);
    inputs.forEach((x, i) => {
      if (x instanceof Float32Array || Array.isArray(x)) {
        if (x.length !== s.size) throw new Error(`onnxruntime runner: stream ${stream} input ${i} has ${x.length} values, expected ${s.size}`);
        data.set(x as ArrayLike<number>, i * s.size);
      } else {
        for (let j = 0; j < s.size; j++) data[i * s.size + j] = this.random() * 2 - 1;
      }
    });
    const feeds = { [s.session.inputNames[0]!]: new ort.Tensor('float32', data, [b, ...s.shape]) };
    const t0 = performance.now();
    const result = await s.session.run(feeds);
    const timeS = (performance.now() - t0) / 1000;
    const logits = result[s.session.outputNames[0]!]!;
    const classes = logits.dims[1] ?? 1;
    const values = logits.data as Float32Array;
    const outputs: ClassOutput[] = [];
    for (let i = 0; i < b; i++) {
      let best = 0;
      let max = -Infinity;
      let sum = 0;
      for (let c = 0; c < classes; c++) if (values[i * classes + c]! > max) max = values[i * classes + c]!;
      for (let c = 0; c < classes; c++) {
        const v = values[i * classes + c]!;
        sum += Math.exp(v - max);
        if (v === max) best = c;
      }
      outputs.push({ classIndex: best, score: 1 / sum });
    }
    return { timeS, outputs };
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await s.session.release();
    this.sessions.clear();
  }
}
