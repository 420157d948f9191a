/**
 * A real run on this host (`fulcrum run`): the host engine trains one workload folder's model in a
 * PyTorch worker (its own `train_batch` + `train_step`) while each stream is served by its workload's
 * `infer` (Python) or its ONNX file (onnxruntime-node), one minibatch at a time, and requests arrive
 * from a generator in real time. The report sets measured latencies beside the
 * SPEC §2 bound computed from the minibatch times the workers measured during the run.
 */
import type { Logger } from '@fulcrum/runtime';
import { requireArrivalRatePerS, requireBatchSize, requireLatencyBudgetS } from '@fulcrum/core';
import { descriptorOf, type WorkloadRegistry } from '@fulcrum/workloads';
import { constantRates, traceArrivals, type ArrivalProcess } from './arrivals.js';
import { RealClock } from './clock.js';
import { Executor, type InferOutcome } from './executor.js';
import { isInferenceError } from './errors.js';
import type { WorkerInfo } from './runners/python.js';
import { GatedRunner, HostEngine, type HostCheckpoints } from './service-runner.js';
import type { ExecutorEventSink, ExecutorStatus, InferenceBatchResult, LatencySummary, MinibatchRunner, TrainingResult } from './types.js';

export interface HostRunStream {
  readonly name: string;
  /** The workload (folder name in the registry) that serves this stream. */
  readonly workload: string;
  readonly arrivalRatePerS: number;
  readonly latencyBudgetS: number;
  readonly batchSize: number;
}

export interface HostRunOptions {
  readonly streams: readonly HostRunStream[];
  /** The workloads this host can run. */
  readonly registry: WorkloadRegistry;
  /** The workload to train. */
  readonly trainWorkload: string;
  /** bT; default the manifest's train.batch_size. */
  readonly trainBatchSize?: number;
  readonly durationS: number;
  readonly process?: ArrivalProcess;
  readonly seed?: number;
  /** Training checkpoints (default none). */
  readonly checkpoints?: HostCheckpoints | false;
  /** Serve with onnxruntime where a folder has infer.onnx (default true). */
  readonly onnx?: boolean;
  readonly device?: 'cpu' | 'auto';
  /** Called when the clock starts (after warm-up), with the engine (tests kill a worker through it). */
  readonly onStarted?: (engine: HostEngine) => void;
  /** torch threads in the worker and onnxruntime intra-op threads. Default 1 each. */
  readonly threads?: number;
  readonly python?: string;
  readonly logger?: Logger;
  readonly events?: ExecutorEventSink;
  /** Minibatches of each kind run before the clock starts (warm caches, first times for the plan). */
  readonly warmupMinibatches?: number;
  readonly timelineBucketS?: number;
}

export interface TimeStats {
  readonly count: number;
  readonly meanS: number;
  readonly p50S: number;
  readonly p99S: number;
  readonly maxS: number;
}

export interface HostRunStreamReport {
  readonly stream: string;
  readonly workload: string;
  /** What served it: onnxruntime (the folder's ONNX file) or python-torch (its infer). */
  readonly runner: 'onnxruntime' | 'python-torch';
  readonly plannedRatePerS: number;
  readonly batchSize: number;
  readonly latencyBudgetS: number;
  readonly sent: number;
  readonly completed: number;
  readonly failed: Readonly<Record<string, number>>;
  readonly late: number;
  readonly partialMinibatches: number;
  readonly latency: LatencySummary;
  /** Worker-timed inference minibatches of this stream (all sizes). */
  readonly inferTime: TimeStats;
  /** SPEC §2 bound with the measured mean times: (b−1)/λ + tT + Σ tI. */
  readonly boundMeanS: number;
  /** The same with the largest measured times: what a request could see in the worst case. */
  readonly boundMaxS: number;
  /** Mean of (latency − queue): time from minibatch start to result, incl. the executor's overhead. */
  readonly meanServiceS: number;
}

export interface HostRunTraining {
  readonly workload: string;
  readonly batchSize: number;
  /** Worker step count before the first and after the last step of the run. */
  readonly firstStep: number;
  readonly lastStep: number;
  readonly stepsRun: number;
  readonly firstLoss: number | undefined;
  readonly lastLoss: number | undefined;
  /** Data loading (train_batch) time per step, kept apart from tT. */
  readonly loadTime: TimeStats;
  /** Each worker start: the step it started at and whether it resumed from a checkpoint. */
  readonly starts: ReadonlyArray<{ readonly step: number; readonly resumed: boolean; readonly checkpointError: string | null }>;
  readonly checkpoints: boolean;
}

export interface HostRunReport {
  readonly worker: WorkerInfo;
  readonly training: HostRunTraining;
  readonly durationS: number;
  readonly process: ArrivalProcess;
  readonly trainTime: TimeStats;
  readonly streams: readonly HostRunStreamReport[];
  readonly trainThroughputSamplesPerS: number;
  /** X = (1 − ρ)·bT/tT with the measured mean times and the planned rates. */
  readonly formulaTrainThroughputSamplesPerS: number;
  readonly utilization: number;
  readonly allAnswered: boolean;
  readonly status: ExecutorStatus;
  readonly timeline: ReturnType<Executor['timelinePoints']>;
}

function stats(values: number[]): TimeStats {
  const v = values.slice().sort((a, b) => a - b);
  const at = (q: number): number => (v.length ? v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]! : 0);
  return { count: v.length, meanS: v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0, p50S: at(0.5), p99S: at(0.99), maxS: v.length ? v[v.length - 1]! : 0 };
}

/** Wraps a runner to keep every minibatch time it reports. */
class RecordingRunner implements MinibatchRunner {
  readonly name: string;
  readonly trainTimes: number[] = [];
  readonly loadTimes: number[] = [];
  readonly losses: number[] = [];
  readonly steps: number[] = [];
  readonly inferTimes = new Map<string, number[]>();
  recording = false;
  constructor(private readonly inner: MinibatchRunner) {
    this.name = inner.name;
  }
  async runTraining(b: number): Promise<TrainingResult> {
    const r = await this.inner.runTraining(b);
    if (this.recording) {
      this.trainTimes.push(r.timeS);
      if (r.loadS !== undefined) this.loadTimes.push(r.loadS);
      if (r.loss !== undefined) this.losses.push(r.loss);
      if (r.step !== undefined) this.steps.push(r.step);
    }
    return r;
  }
  async runInference(stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    const r = await this.inner.runInference(stream, inputs);
    if (this.recording) {
      let list = this.inferTimes.get(stream);
      if (!list) this.inferTimes.set(stream, (list = []));
      list.push(r.timeS);
    }
    return r;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export async function runOnHost(options: HostRunOptions): Promise<HostRunReport> {
  const threads = options.threads ?? 1;
  const registry = options.registry;
  const trainFolder = registry.require(options.trainWorkload, 'train', 'train');
  // Minibatches within Fulcrum's limit and each folder's own max_batch_size (SPEC §2), as plans are.
  const trainBatchSize = requireBatchSize('trainBatchSize', options.trainBatchSize ?? trainFolder.manifest.train!.batchSize, descriptorOf(trainFolder), 'train');
  options.streams.forEach((s, i) => {
    requireBatchSize(`streams[${i}].batchSize`, s.batchSize, descriptorOf(registry.require(s.workload, 'infer', `streams[${i}].workload`)), 'infer');
    // λ and L within a problem's limits (SPEC §2): the arrival generator makes λ·durationS requests.
    requireArrivalRatePerS(`streams[${i}].arrivalRatePerS`, s.arrivalRatePerS);
    requireLatencyBudgetS(`streams[${i}].latencyBudgetS`, s.latencyBudgetS);
  });
  const starts: Array<{ step: number; resumed: boolean; checkpointError: string | null }> = [];
  let trainInfo: WorkerInfo | undefined;
  const engine = new HostEngine({
    registry,
    threads,
    ...(options.python ? { python: options.python } : {}),
    ...(options.device ? { device: options.device } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.checkpoints ? { checkpoints: options.checkpoints } : {}),
    ...(options.onnx !== undefined ? { onnx: options.onnx } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    onWorkerReady: (workload, info) => {
      if (workload !== options.trainWorkload) return;
      trainInfo = info;
      starts.push({ step: info.step, resumed: info.resumed, checkpointError: info.checkpointError });
    },
  });
  const gated = new GatedRunner(engine, undefined);
  gated.setProblem({ trainWorkload: options.trainWorkload, streams: options.streams.map((s) => ({ name: s.name, workload: s.workload })) });
  const runner = new RecordingRunner(gated);
  try {
    await engine.prepare(options.trainWorkload, ['train']);
    for (const s of options.streams) await engine.prepare(s.workload, ['infer']);
    // Warm up, and take first times for the plan's predictions (the deadline rule needs them).
    const warm = options.warmupMinibatches ?? 3;
    let trainTimeS = 0;
    const inferTimeS: Record<string, number> = {};
    for (let i = 0; i < warm; i++) trainTimeS = (await runner.runTraining(trainBatchSize)).timeS;
    for (const s of options.streams) {
      for (let i = 0; i < warm; i++) inferTimeS[s.name] = (await runner.runInference(s.name, new Array(s.batchSize).fill(undefined))).timeS;
    }
    const firstStep = engine.workerOf(options.trainWorkload)?.info?.step ?? 0;
    const stepBeforeRun = runner.steps.length ? runner.steps[runner.steps.length - 1]! : firstStep;
    runner.recording = true;
    const clock = new RealClock();
    const executor = new Executor({
      runner,
      clock,
      problem: { trainBatchSize, streams: options.streams.map((s) => ({ name: s.name, arrivalRatePerS: s.arrivalRatePerS, latencyBudgetS: s.latencyBudgetS })) },
      plan: { planId: 'host-run', batchSizes: Object.fromEntries(options.streams.map((s) => [s.name, s.batchSize])), trainTimeS, inferTimeS, strategy: 'manual' },
      ...(options.events ? { events: options.events } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      timelineBucketS: options.timelineBucketS ?? Math.max(0.5, options.durationS / 60),
    });
    executor.start();
    options.onStarted?.(engine);
    const process = options.process ?? 'poisson';
    const arrivals = traceArrivals(constantRates(Object.fromEntries(options.streams.map((s) => [s.name, s.arrivalRatePerS]))), {
      process,
      durationS: options.durationS,
      seed: options.seed ?? 1,
    });
    const answers: Array<Promise<InferOutcome | Error>> = [];
    const sent = new Map<string, number>();
    const t0 = clock.nowS();
    for (const a of arrivals) {
      const wait = t0 + a.tS - clock.nowS();
      if (wait > 0.001) await clock.sleep(wait);
      sent.set(a.stream, (sent.get(a.stream) ?? 0) + 1);
      answers.push(executor.infer(a.stream).catch((err: Error) => err));
    }
    const status = await executor.stop();
    const outcomes = await Promise.all(answers);
    const trainTime = stats(runner.trainTimes);
    const inferStats = new Map(options.streams.map((s) => [s.name, stats(runner!.inferTimes.get(s.name) ?? [])]));
    const sumInferMean = [...inferStats.values()].reduce((a, s) => a + s.meanS, 0);
    const sumInferMax = [...inferStats.values()].reduce((a, s) => a + s.maxS, 0);
    const streams: HostRunStreamReport[] = options.streams.map((s) => {
      const st = status.streams.find((x) => x.stream === s.name)!;
      const mine = outcomes.filter((o): o is InferOutcome => !(o instanceof Error) && o.stream === s.name);
      const fill = (s.batchSize - 1) / s.arrivalRatePerS;
      return {
        stream: s.name,
        workload: s.workload,
        runner: engine.servesWithOnnx(s.workload) ? ('onnxruntime' as const) : ('python-torch' as const),
        plannedRatePerS: s.arrivalRatePerS,
        batchSize: s.batchSize,
        latencyBudgetS: s.latencyBudgetS,
        sent: sent.get(s.name) ?? 0,
        completed: st.completed,
        failed: st.failed,
        late: st.late,
        partialMinibatches: st.partialMinibatches,
        latency: st.latencyTotal,
        inferTime: inferStats.get(s.name)!,
        boundMeanS: fill + trainTime.meanS + sumInferMean,
        boundMaxS: fill + trainTime.maxS + sumInferMax,
        meanServiceS: mine.length ? mine.reduce((a, o) => a + (o.latencyS - o.queueS), 0) / mine.length : 0,
      };
    });
    const rho = options.streams.reduce((a, s) => a + (s.arrivalRatePerS * (inferStats.get(s.name)!.meanS || 0)) / s.batchSize, 0);
    const failedOther = outcomes.filter((o) => o instanceof Error && !isInferenceError(o)).length;
    const allAnswered =
      failedOther === 0 && streams.every((s) => s.sent === s.completed + Object.values(s.failed).reduce((a, b) => a + b, 0));
    return {
      worker: trainInfo!,
      training: {
        workload: options.trainWorkload,
        batchSize: trainBatchSize,
        firstStep: stepBeforeRun,
        lastStep: runner.steps.length ? runner.steps[runner.steps.length - 1]! : stepBeforeRun,
        stepsRun: runner.steps.length,
        firstLoss: runner.losses[0],
        lastLoss: runner.losses[runner.losses.length - 1],
        loadTime: stats(runner.loadTimes),
        starts,
        checkpoints: trainInfo?.checkpoints ?? false,
      },
      durationS: options.durationS,
      process,
      trainTime,
      streams,
      trainThroughputSamplesPerS: status.trainThroughputSamplesPerS,
      formulaTrainThroughputSamplesPerS: trainTime.meanS > 0 ? (Math.max(0, 1 - rho) * trainBatchSize) / trainTime.meanS : 0,
      utilization: status.utilization,
      allAnswered,
      status,
      timeline: executor.timelinePoints(),
    };
  } finally {
    await runner.close();
  }
}
