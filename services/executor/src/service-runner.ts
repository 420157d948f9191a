/**
 * The executor service's minibatch runner: one `MinibatchEngine` (what actually runs a minibatch
 * of any workload, kind and batch size: the simulated device or the host's PyTorch workers)
 * behind a gate that lets exactly one minibatch — interleaved training, interleaved inference or
 * a profiler measurement — run at a time.
 *
 * Measurements run *between minibatches*: `measure` takes the gate after the minibatch in flight
 * and holds it for warm-up + measured minibatches; the interleaving loop waits at its next
 * minibatch (queued requests wait too and may be answered late). Profile with no plan traffic
 * for clean numbers; nothing else shares the GPU during the measured window either way.
 *
 * Every minibatch start and end is reported to the activity publisher, which the
 * device-controller's virtual/table boards follow for their power readings.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ActivityState } from '@fulcrum/bus';
import { ValidationError, assertOnGrid, workloadStack, type Catalog, type PowerMode, type Problem, type WorkloadKind } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { isNotInTableError, type DeviceBackend } from '@fulcrum/devices';
import type { Logger } from '@fulcrum/runtime';
import { IDLE, type ActivityPublisher } from './activity.js';
import type { Clock } from './clock.js';
import { join } from 'node:path';
import { stackTagOf, type WorkloadRegistry } from '@fulcrum/workloads';
import { OnnxRunner } from './runners/onnx.js';
import { PythonWorker, defaultPython, workerWorkloadOf, type WorkerInfo } from './runners/python.js';
import type { InferenceBatchResult, MinibatchRunner, TrainingResult } from './types.js';

export interface EngineQuery {
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  /** Check the mode too (simulated: on the grid, and in the table for a table backend). */
  readonly mode?: PowerMode | undefined;
}

/** Runs minibatches of any (workload, kind, batch size), one at a time. */
export interface MinibatchEngine {
  /** e.g. "simulated", "python-torch". */
  readonly name: string;
  /**
   * One minibatch. `signal` may cut it short where the engine can (the simulated device stops
   * sleeping); a real worker's minibatch runs to its end (its reply timeout bounds it).
   */
  run(workload: string, kind: WorkloadKind, batchSize: number, inputs?: readonly unknown[], signal?: AbortSignal): Promise<EngineResult>;
  /** The power mode minibatch times belong to (the simulated device's times depend on it). */
  setMode(mode: PowerMode | undefined): void;
  readonly mode: PowerMode | undefined;
  /**
   * Throws a ValidationError when this engine cannot run the query: naming `fields.workload` for a
   * workload it does not know, `fields.mode` (+ `.<knob>` off the grid) for a mode it cannot run it at.
   */
  check(query: EngineQuery, fields: { readonly workload: string; readonly mode?: string }): void;
  /** The devices and workloads problems may name on this engine, where it knows better than the built-in list. */
  readonly catalog?: Catalog;
  /** The software stack of measurements of `workload` (a real host adds the workload folder's hash). */
  softwareStack(workload?: string): Promise<string>;
  close(): Promise<void>;
}

/** One minibatch's result: its time, one output per input, and for training what the worker said. */
export interface EngineResult {
  readonly timeS: number;
  readonly outputs: readonly unknown[];
  /** Inference: per sample, why its input was refused (`InferenceBatchResult.invalid`). */
  readonly invalid?: ReadonlyArray<string | undefined>;
  /** Training: data loading time before the step, s. */
  readonly loadS?: number;
  readonly loss?: number;
  readonly step?: number;
}

/**
 * The simulated device: a @fulcrum/devices backend's minibatch times at the current mode, slept
 * on a (scaled) clock. Each minibatch is a fresh seeded measurement (`measure` with a new repeat),
 * so times carry the backend's noise like a real board's.
 */
export class SimulatedEngine implements MinibatchEngine {
  readonly name = 'simulated';
  private repeat = 0;
  mode: PowerMode | undefined;

  constructor(
    readonly backend: DeviceBackend,
    readonly clock: Clock,
    private readonly stack: string,
    initialMode?: PowerMode,
  ) {
    this.mode = initialMode;
  }

  setMode(mode: PowerMode | undefined): void {
    if (mode) this.mode = mode;
  }

  check(query: EngineQuery, fields: { readonly workload: string; readonly mode?: string }): void {
    const { workload, kind, batchSize, mode } = query;
    if (!this.backend.workloads().includes(workload)) {
      throw new ValidationError(fields.workload, `unknown workload ${describeValue(workload)} for ${this.backend.description}; known: ${this.backend.workloads().join(', ')}`);
    }
    if (!mode) return;
    const modeField = fields.mode ?? 'mode';
    assertOnGrid(mode, this.backend.device.grid, this.backend.device.id, modeField);
    try {
      this.backend.groundTruth({ mode, workload, kind, batchSize });
    } catch (err) {
      if (isNotInTableError(err)) throw new ValidationError(modeField, err.message);
      throw err;
    }
  }

  async run(workload: string, kind: WorkloadKind, batchSize: number, inputs?: readonly unknown[], signal?: AbortSignal): Promise<{ timeS: number; outputs: readonly unknown[] }> {
    const mode = this.mode;
    if (!mode) throw new Error('simulated device: no power mode known yet');
    const timeS = this.backend.measure({ mode, workload, kind, batchSize }, { repeat: ++this.repeat }).timeMs / 1000;
    await this.clock.sleep(timeS, signal);
    return { timeS, outputs: (inputs ?? []).map((_, i) => ({ index: i })) };
  }

  async softwareStack(): Promise<string> {
    return this.stack;
  }

  async close(): Promise<void> {}
}

export interface HostEngineOptions {
  /** The workloads this host can run (built-in folders plus the user's); nothing else runs. */
  readonly registry: WorkloadRegistry;
  readonly python?: string | undefined;
  readonly threads?: number;
  readonly device?: 'cpu' | 'auto';
  /** Serve inference with onnxruntime-node where the folder has `infer.onnx` (default true). */
  readonly onnx?: boolean;
  /** Training checkpoints: folder and cadence; `false` for none. Default none. */
  readonly checkpoints?: HostCheckpoints | false;
  readonly logger?: Logger | undefined;
  /** The engine's software stack; default `python-torch-<version>-<cpu|cuda>`. */
  readonly softwareStack?: string | undefined;
  readonly seed?: number;
  /** Called when a worker (re)starts: its step and whether it resumed from a checkpoint. */
  readonly onWorkerReady?: (workload: string, info: WorkerInfo) => void;
}

export interface HostCheckpoints {
  /** Folder of the checkpoint files (`<name>-<hash12>.pt`). */
  readonly dir: string;
  readonly everySteps: number;
  readonly everyS: number;
}

/** A user's folder's part of a software stack (`@fulcrum/workloads`' stackTagOf). */
export const workloadStackTag = stackTagOf;

/**
 * The host's real workers for the registry's workload folders: one long-lived PyTorch worker per
 * workload (started on first use) running the folder's `workload.py`, and an onnxruntime session
 * for inference where the folder has an ONNX model. A workload the registry does not hold is
 * refused by name; there is no stand-in. Workers time each minibatch themselves. The power mode is
 * the board's business (the device-controller); times here do not depend on it.
 */
export class HostEngine implements MinibatchEngine {
  readonly name = 'python-torch';
  mode: PowerMode | undefined;
  private readonly workers = new Map<string, PythonWorker>();
  private readonly onnx = new Map<string, Promise<OnnxRunner>>();
  private info: WorkerInfo | undefined;

  constructor(private readonly options: HostEngineOptions) {}

  get registry(): WorkloadRegistry {
    return this.options.registry;
  }

  /** The built-in devices and the registry's workloads (the only ones this engine can run). */
  get catalog(): Catalog {
    return (this.#catalog ??= this.options.registry.catalog());
  }
  #catalog: Catalog | undefined;
  #torch: Promise<{ torch: string; cuda: boolean; device: string }> | undefined;

  setMode(mode: PowerMode | undefined): void {
    if (mode) this.mode = mode;
  }

  check(query: EngineQuery, fields: { readonly workload: string }): void {
    const folder = this.options.registry.require(query.workload, query.kind, fields.workload);
    const m = folder.manifest;
    if (query.kind === 'infer' && !folder.modulePath && !this.servesWithOnnx(m.name)) throw new ValidationError(fields.workload, `workload ${describeValue(m.name)} has no Python module, and ONNX serving is off`);
  }

  /** Whether `workload`'s inference runs on onnxruntime (its folder has infer.onnx). */
  servesWithOnnx(workload: string): boolean {
    return this.options.onnx !== false && !!this.options.registry.get(workload).onnxPath;
  }

  private worker(workload: string): PythonWorker {
    let w = this.workers.get(workload);
    if (!w) {
      const folder = this.options.registry.get(workload);
      const ww = workerWorkloadOf(folder);
      const cp = this.options.checkpoints;
      w = new PythonWorker({
        workload: ww,
        threads: this.options.threads ?? 1,
        ...(this.options.seed !== undefined ? { seed: this.options.seed } : {}),
        ...(cp && folder.manifest.train ? { checkpoint: { path: join(cp.dir, `${workload}-${ww.hash!.slice(0, 12)}.pt`), everySteps: cp.everySteps, everyS: cp.everyS } } : {}),
        ...(this.options.python ? { python: this.options.python } : {}),
        ...(this.options.device ? { device: this.options.device } : {}),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
        onReady: (info) => {
          this.info = info;
          this.options.onWorkerReady?.(workload, info);
        },
      });
      this.workers.set(workload, w);
    }
    return w;
  }

  private onnxRunner(workload: string): Promise<OnnxRunner> {
    let r = this.onnx.get(workload);
    if (!r) {
      const folder = this.options.registry.get(workload);
      const shape = folder.manifest.infer?.input?.shape;
      r = OnnxRunner.create({ models: { [workload]: { path: folder.onnxPath!, ...(shape ? { inputShape: shape } : {}) } }, intraOpThreads: this.options.threads ?? 1 });
      r.catch(() => this.onnx.delete(workload));
      this.onnx.set(workload, r);
    }
    return r;
  }

  /** The Python worker of a workload, if started (tests and operators: kill it, read its step). */
  workerOf(workload: string): PythonWorker | undefined {
    return this.workers.get(workload);
  }

  async run(workload: string, kind: WorkloadKind, batchSize: number, inputs?: readonly unknown[]): Promise<EngineResult> {
    this.check({ workload, kind, batchSize }, { workload: 'workload' });
    if (kind === 'train') {
      const r = await this.worker(workload).runTraining(batchSize);
      return { timeS: r.timeS, outputs: [], ...(r.loadS !== undefined ? { loadS: r.loadS } : {}), ...(r.loss !== undefined ? { loss: r.loss } : {}), ...(r.step !== undefined ? { step: r.step } : {}) };
    }
    const given = inputs ?? new Array<unknown>(batchSize).fill(undefined);
    if (this.servesWithOnnx(workload)) return (await this.onnxRunner(workload)).runInference(workload, given);
    return this.worker(workload).runInference(workload, given);
  }

  /** Opens what a workload needs before its first minibatch (worker, ONNX session); errors name the workload. */
  async prepare(workload: string, kinds: readonly WorkloadKind[]): Promise<void> {
    if (kinds.includes('train') || (kinds.includes('infer') && !this.servesWithOnnx(workload))) await this.worker(workload).start();
    if (kinds.includes('infer') && this.servesWithOnnx(workload)) await this.onnxRunner(workload);
  }

  async softwareStack(workload?: string): Promise<string> {
    let base = this.options.softwareStack;
    if (!base) {
      // An ONNX-only engine has no Python worker: ask the Python once, not at every measurement.
      const info = this.info ?? (this.workers.size ? await this.workers.values().next().value!.start() : await (this.#torch ??= probeTorch(this.options.python)));
      base = `python-torch-${info.torch}-${info.cuda ? 'cuda' : info.device}`;
    }
    const folder = workload && this.options.registry.has(workload) ? this.options.registry.get(workload) : undefined;
    return folder ? workloadStack(base, stackTagOf(folder)) : base;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    for (const r of this.onnx.values()) await r.then((x) => x.close()).catch(() => undefined);
  }
}

/** torch's version and device, asked of the Python without a workload (one short process). */
async function probeTorch(python: string | undefined): Promise<{ torch: string; cuda: boolean; device: string }> {
  const { execFile } = await import('node:child_process');
  const py = python ?? defaultPython();
  return new Promise((resolve, reject) => {
    execFile(py, ['-c', 'import json,torch;c=torch.cuda.is_available();print(json.dumps({"torch":torch.__version__,"cuda":c,"device":"cuda" if c else "cpu"}))'], { timeout: 60_000 }, (err, stdout) => {
      if (err) reject(new Error(`could not ask ${py} for torch's version: ${err.message.split('\n')[0]}`));
      else resolve(JSON.parse(stdout.trim()) as { torch: string; cuda: boolean; device: string });
    });
  });
}

/** Serializes async work: each `run` starts after the previous one settled. */
export class MinibatchGate {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export interface MeasurementRequest {
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
  readonly warmupMinibatches: number;
  readonly measuredMinibatches: number;
  /** Wait this long after announcing the activity before the first minibatch, ms (the controller hears of it first). */
  readonly activityLeadMs?: number;
}

export interface MeasurementResult {
  /** Each measured minibatch's time, ms (device time). */
  readonly minibatchTimesMs: readonly number[];
  /** The measured window on the wall clock (for matching the controller's power samples). */
  readonly windowStart: Date;
  readonly windowEnd: Date;
  readonly mode: PowerMode | undefined;
}

/** A measurement stopped before its end: `reason` is the abort signal's reason; `done` of `total` minibatches ran. */
export class MeasurementAbortedError extends Error {
  override readonly name = 'MeasurementAbortedError';
  constructor(
    readonly reason: unknown,
    readonly done: number,
    readonly total: number,
  ) {
    super(`measurement stopped after ${done} of ${total} minibatches: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
  }
}

/**
 * The `MinibatchRunner` the service's `Executor` drives: stream names → the running problem's
 * workloads, one minibatch at a time through the gate, activity reported around each.
 */
export class GatedRunner implements MinibatchRunner {
  private readonly gate = new MinibatchGate();
  private trainWorkload: string | undefined;
  private readonly streamWorkloads = new Map<string, string>();
  private measuringCount = 0;

  constructor(
    readonly engine: MinibatchEngine,
    private readonly activity: ActivityPublisher | undefined,
    private readonly onMinibatch?: (kind: WorkloadKind | 'measure', timeS: number) => void,
  ) {}

  get name(): string {
    return this.engine.name;
  }

  /** True while a measurement holds the gate (or waits for it). */
  get measuring(): boolean {
    return this.measuringCount > 0;
  }

  /** The problem whose workloads the interleaving minibatches run (set when its plan takes effect). */
  setProblem(problem: { readonly trainWorkload: string; readonly streams: ReadonlyArray<{ readonly name: string; readonly workload: string }> }): void {
    this.trainWorkload = problem.trainWorkload;
    this.streamWorkloads.clear();
    for (const s of problem.streams) this.streamWorkloads.set(s.name, s.workload);
  }

  setMode(mode: PowerMode | undefined): void {
    this.engine.setMode(mode);
  }

  runTraining(batchSize: number): Promise<TrainingResult> {
    return this.gate.run(async () => {
      const workload = this.trainWorkload;
      if (!workload) throw new Error('no training workload: no plan applied');
      this.activity?.set({ state: ActivityState.TRAIN, workload, batchSize });
      try {
        const r = await this.engine.run(workload, 'train', batchSize);
        this.onMinibatch?.('train', r.timeS);
        return { timeS: r.timeS, loadS: r.loadS, loss: r.loss, step: r.step };
      } finally {
        this.activity?.idleSoon();
      }
    });
  }

  runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    return this.gate.run(async () => {
      const workload = this.streamWorkloads.get(stream);
      if (!workload) throw new Error(`no workload for stream ${JSON.stringify(stream)}`);
      this.activity?.set({ state: ActivityState.INFER, workload, batchSize: inputs.length, stream });
      try {
        const r = await this.engine.run(workload, 'infer', inputs.length, inputs);
        this.onMinibatch?.('infer', r.timeS);
        return { timeS: r.timeS, outputs: r.outputs, ...(r.invalid ? { invalid: r.invalid } : {}) };
      } finally {
        this.activity?.idleSoon();
      }
    });
  }

  /**
   * Warm-up + measured minibatches of one query, alone on the GPU (between interleaved
   * minibatches). `signal` stops it — while it waits for the GPU, between minibatches, and inside a
   * simulated minibatch — with a MeasurementAbortedError carrying the signal's reason and how far
   * it got; the GPU is then free for the running plan at once.
   */
  async measure(req: MeasurementRequest, signal?: AbortSignal): Promise<MeasurementResult> {
    const total = req.warmupMinibatches + req.measuredMinibatches;
    let done = 0;
    const stopIfAborted = (): void => {
      if (signal?.aborted) throw new MeasurementAbortedError(signal.reason, done, total);
    };
    stopIfAborted();
    this.measuringCount++;
    try {
      const turn = this.gate.run(async () => {
        stopIfAborted();
        const busy = { state: req.kind === 'train' ? ActivityState.TRAIN : ActivityState.INFER, workload: req.workload, batchSize: req.batchSize, measurement: true };
        await this.activity?.now(busy);
        try {
          if (req.activityLeadMs && req.activityLeadMs > 0) await sleep(req.activityLeadMs);
          for (let i = 0; i < req.warmupMinibatches; i++) {
            stopIfAborted();
            await this.engine.run(req.workload, req.kind, req.batchSize, undefined, signal);
            done++;
          }
          const times: number[] = [];
          const windowStart = new Date();
          for (let i = 0; i < req.measuredMinibatches; i++) {
            stopIfAborted();
            const r = await this.engine.run(req.workload, req.kind, req.batchSize, undefined, signal);
            done++;
            times.push(r.timeS * 1000);
            this.onMinibatch?.('measure', r.timeS);
          }
          // A minibatch cut short by the signal has no honest time.
          stopIfAborted();
          const windowEnd = new Date();
          // Timestamps have millisecond resolution: keep announcing the measurement a little past
          // the window's last millisecond so no power sample stamped inside the window reads idle.
          await sleep(2);
          return { minibatchTimesMs: times, windowStart, windowEnd, mode: this.engine.mode };
        } finally {
          await this.activity?.now(IDLE);
        }
      });
      if (!signal) return await turn;
      // Waiting for the GPU behind a long minibatch: answer the abort at once (the queued turn
      // then finds the signal aborted and gives the GPU straight back).
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(new MeasurementAbortedError(signal.reason, done, total));
        signal.addEventListener('abort', onAbort, { once: true });
      });
      turn.catch(() => undefined);
      aborted.catch(() => undefined);
      try {
        return await Promise.race([turn, aborted]);
      } finally {
        signal.removeEventListener('abort', onAbort!);
      }
    } finally {
      this.measuringCount--;
    }
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
