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
import { ValidationError, assertOnGrid, type PowerMode, type Problem, type WorkloadKind } from '@fulcrum/core';
import { isNotInTableError, type DeviceBackend } from '@fulcrum/devices';
import type { Logger } from '@fulcrum/runtime';
import { IDLE, type ActivityPublisher } from './activity.js';
import type { Clock } from './clock.js';
import { PythonWorker, type ModelSpec } from './runners/python.js';
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
  run(workload: string, kind: WorkloadKind, batchSize: number, inputs?: readonly unknown[]): Promise<{ timeS: number; outputs: readonly unknown[] }>;
  /** The power mode minibatch times belong to (the simulated device's times depend on it). */
  setMode(mode: PowerMode | undefined): void;
  readonly mode: PowerMode | undefined;
  /**
   * Throws a ValidationError when this engine cannot run the query: naming `fields.workload` for a
   * workload it does not know, `fields.mode` (+ `.<knob>` off the grid) for a mode it cannot run it at.
   */
  check(query: EngineQuery, fields: { readonly workload: string; readonly mode?: string }): void;
  softwareStack(): Promise<string>;
  close(): Promise<void>;
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
      throw new ValidationError(fields.workload, `unknown workload ${JSON.stringify(workload)} for ${this.backend.description}; known: ${this.backend.workloads().join(', ')}`);
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

  async run(workload: string, kind: WorkloadKind, batchSize: number, inputs?: readonly unknown[]): Promise<{ timeS: number; outputs: readonly unknown[] }> {
    const mode = this.mode;
    if (!mode) throw new Error('simulated device: no power mode known yet');
    const timeS = this.backend.measure({ mode, workload, kind, batchSize }, { repeat: ++this.repeat }).timeMs / 1000;
    await this.clock.sleep(timeS);
    return { timeS, outputs: (inputs ?? []).map((_, i) => ({ index: i })) };
  }

  async softwareStack(): Promise<string> {
    return this.stack;
  }

  async close(): Promise<void> {}
}

export interface HostEngineOptions {
  /** Model per workload name; a workload not listed runs the built-in CNN. */
  readonly models?: Readonly<Record<string, ModelSpec>>;
  readonly python?: string | undefined;
  readonly threads?: number;
  readonly device?: 'cpu' | 'auto';
  readonly logger?: Logger | undefined;
  readonly softwareStack?: string | undefined;
}

/**
 * The host's real workers: one long-lived PyTorch worker per workload (started on first use), with
 * the workload's model (`models`) or the built-in CNN as a stand-in. Workers time each minibatch
 * themselves. The power mode is the board's business (the device-controller); times here do not
 * depend on it.
 */
export class HostEngine implements MinibatchEngine {
  readonly name = 'python-torch';
  mode: PowerMode | undefined;
  private readonly workers = new Map<string, PythonWorker>();

  constructor(private readonly options: HostEngineOptions = {}) {}

  setMode(mode: PowerMode | undefined): void {
    if (mode) this.mode = mode;
  }

  check(query: EngineQuery, fields: { readonly workload: string }): void {
    if (!/^[A-Za-z0-9_.-]{1,64}$/u.test(query.workload)) throw new ValidationError(fields.workload, `must be 1–64 letters, digits, '.', '-' or '_', got ${JSON.stringify(query.workload)}`);
  }

  private worker(workload: string): PythonWorker {
    let w = this.workers.get(workload);
    if (!w) {
      const spec = this.options.models?.[workload] ?? { model: 'cnn' };
      w = new PythonWorker({
        train: spec,
        infer: { [workload]: spec },
        threads: this.options.threads ?? 1,
        ...(this.options.python ? { python: this.options.python } : {}),
        ...(this.options.device ? { device: this.options.device } : {}),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
      });
      this.workers.set(workload, w);
    }
    return w;
  }

  async run(workload: string, kind: WorkloadKind, batchSize: number, inputs?: readonly unknown[]): Promise<{ timeS: number; outputs: readonly unknown[] }> {
    const w = this.worker(workload);
    if (kind === 'train') return { ...(await w.runTraining(batchSize)), outputs: [] };
    const r = await w.runInference(workload, inputs ?? new Array<unknown>(batchSize).fill(undefined));
    return { timeS: r.timeS, outputs: r.outputs };
  }

  async softwareStack(): Promise<string> {
    if (this.options.softwareStack) return this.options.softwareStack;
    const first = this.workers.values().next().value as PythonWorker | undefined;
    const info = first?.info ?? (await (first ?? this.worker('cnn')).start());
    return `python-torch-${info.torch}-${info.cuda ? 'cuda' : info.device}`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.close()));
  }
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
  setProblem(problem: Pick<Problem, 'trainWorkload' | 'streams'>): void {
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
        return { timeS: r.timeS };
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
        return { timeS: r.timeS, outputs: r.outputs };
      } finally {
        this.activity?.idleSoon();
      }
    });
  }

  /** Warm-up + measured minibatches of one query, alone on the GPU (between interleaved minibatches). */
  async measure(req: MeasurementRequest): Promise<MeasurementResult> {
    this.measuringCount++;
    try {
      return await this.gate.run(async () => {
        const busy = { state: req.kind === 'train' ? ActivityState.TRAIN : ActivityState.INFER, workload: req.workload, batchSize: req.batchSize, measurement: true };
        await this.activity?.now(busy);
        try {
          if (req.activityLeadMs && req.activityLeadMs > 0) await sleep(req.activityLeadMs);
          for (let i = 0; i < req.warmupMinibatches; i++) await this.engine.run(req.workload, req.kind, req.batchSize);
          const times: number[] = [];
          const windowStart = new Date();
          for (let i = 0; i < req.measuredMinibatches; i++) {
            const r = await this.engine.run(req.workload, req.kind, req.batchSize);
            times.push(r.timeS * 1000);
            this.onMinibatch?.('measure', r.timeS);
          }
          const windowEnd = new Date();
          // Timestamps have millisecond resolution: keep announcing the measurement a little past
          // the window's last millisecond so no power sample stamped inside the window reads idle.
          await sleep(2);
          return { minibatchTimesMs: times, windowStart, windowEnd, mode: this.engine.mode };
        } finally {
          await this.activity?.now(IDLE);
        }
      });
    } finally {
      this.measuringCount--;
    }
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
