/**
 * The long-lived Python/PyTorch worker (python/fulcrum_worker.py), driven with JSON lines over
 * stdio. It imports one workload folder's module (docs/WORKLOADS.md) and runs its training steps
 * (data loading timed apart) and inference, timing each minibatch itself (perf_counter, after
 * cuda.synchronize on CUDA), and keeps the training checkpoint. A crash is detected (process exit or broken
 * pipe), reported as a `WorkerCrashedError` to the calls in flight and through `onCrash`, and the
 * worker is restarted (and re-initialised) on the next call.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkloadKind } from '@fulcrum/core';
import type { Logger } from '@fulcrum/runtime';
import type { WorkloadFolder } from '@fulcrum/workloads';
import { WorkerCrashedError, WorkloadStepError } from '../errors.js';
import type { InferenceBatchResult, MinibatchRunner, TrainingResult } from '../types.js';
import { notNumbers } from './inputs.js';

/** The worker script shipped with this package. */
export const PYTHON_WORKER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'python', 'fulcrum_worker.py');

/** `FULCRUM_PYTHON`, else /usr/bin/python3 (Debian's python3-torch lives there). */
export function defaultPython(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env['FULCRUM_PYTHON'] || '/usr/bin/python3';
}

/** The workload a worker drives: a workload folder (docs/WORKLOADS.md) and the kinds it runs. */
export interface WorkerWorkload {
  readonly name: string;
  /** Absolute path of the folder. */
  readonly folder: string;
  /** The Python module, relative to the folder. */
  readonly module: string;
  /** The manifest as parsed (ctx.manifest in the workload). */
  readonly manifest: Readonly<Record<string, unknown>>;
  readonly kinds: readonly WorkloadKind[];
  /** The folder's content hash (kept in checkpoints). */
  readonly hash?: string;
}

/** Training checkpoints: saved every `everySteps` steps and every `everyS` seconds, and on a clean stop. */
export interface CheckpointOptions {
  /** The checkpoint file (written to a temporary file, then renamed). */
  readonly path: string;
  /** 0 = not by steps. */
  readonly everySteps?: number;
  /** 0 = not by time. */
  readonly everyS?: number;
}

/** The workload's kinds a folder can run, from its manifest. */
export function workerWorkloadOf(folder: WorkloadFolder, kinds?: readonly WorkloadKind[]): WorkerWorkload {
  const m = folder.manifest;
  const has: WorkloadKind[] = [...(m.train ? (['train'] as const) : []), ...(m.infer ? (['infer'] as const) : [])];
  return { name: m.name, folder: folder.dir, module: m.module, manifest: m.raw, kinds: kinds ?? has, hash: folder.contentHash() };
}

export interface PythonWorkerOptions {
  readonly python?: string;
  readonly script?: string;
  /** The workload folder this worker drives. */
  readonly workload: WorkerWorkload;
  /** Training checkpoints (a worker that trains and has state_dict); none when absent. */
  readonly checkpoint?: CheckpointOptions;
  readonly seed?: number;
  /** torch.set_num_threads in the worker. */
  readonly threads?: number;
  /** 'cpu' forces the CPU even where CUDA is present. */
  readonly device?: 'cpu' | 'auto';
  /** Seconds to wait for a reply before the worker counts as hung (killed, restarted). Default 120. */
  readonly replyTimeoutS?: number;
  readonly logger?: Logger;
  /** Called after each (re)start, with what the worker said about its checkpoint. */
  readonly onReady?: (info: WorkerInfo) => void;
  /** Called when the worker dies unexpectedly. */
  readonly onCrash?: (error: WorkerCrashedError) => void;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface WorkerInfo {
  readonly device: string;
  readonly cuda: boolean;
  readonly torch: string;
  readonly pid: number;
  readonly threads: number;
  /** The training step the worker is at (resumed from a checkpoint, or 0). */
  readonly step: number;
  /** Whether it resumed from a checkpoint. */
  readonly resumed: boolean;
  /** Why a checkpoint could not be loaded (training started fresh), if so. */
  readonly checkpointError: string | null;
  /** Whether checkpoints are saved (a training worker whose workload has state_dict). */
  readonly checkpoints: boolean;
}

interface Pending {
  resolve(reply: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class PythonWorker implements MinibatchRunner {
  readonly name = 'python-torch';
  private proc: ChildProcessWithoutNullStreams | undefined;
  private starting: Promise<WorkerInfo> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;
  private stderrTail: string[] = [];
  /** The running process has answered (its interpreter works). */
  private answered = false;
  /** Worker processes started so far (1 + restarts). */
  starts = 0;
  crashes = 0;
  info: WorkerInfo | undefined;

  constructor(private readonly options: PythonWorkerOptions) {}

  /** Starts the worker (and initialises its models) if it is not running. */
  start(): Promise<WorkerInfo> {
    if (this.closed) return Promise.reject(new Error('python worker: closed'));
    if (this.proc && this.starting) return this.starting;
    this.starting = this.spawnAndInit();
    this.starting.catch(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  private async spawnAndInit(): Promise<WorkerInfo> {
    const o = this.options;
    const env: Record<string, string | undefined> = { ...(o.env ?? process.env), PYTHONUNBUFFERED: '1' };
    if (o.threads) env['FULCRUM_WORKER_THREADS'] = String(o.threads);
    if (o.device === 'cpu') env['FULCRUM_WORKER_DEVICE'] = 'cpu';
    const python = o.python ?? defaultPython(o.env);
    const proc = spawn(python, ['-u', o.script ?? PYTHON_WORKER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.proc = proc;
    this.starts++;
    this.stderrTail = [];
    this.answered = false;
    createInterface({ input: proc.stdout }).on('line', (line) => this.onLine(line));
    createInterface({ input: proc.stderr }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      o.logger?.debug({ worker: proc.pid }, line);
    });
    proc.stdin.on('error', () => {
      // EPIPE when the worker has died; the 'exit' handler reports it.
    });
    proc.on('error', (err) => this.onExit(proc, `could not run ${python}: ${err.message}`));
    proc.on('exit', (code, signal) => this.onExit(proc, signal ? `worker exited with signal ${signal}` : `worker exited with code ${code}`, signal !== null));
    const hello = await this.request({ op: 'hello' });
    const w = o.workload;
    const init = await this.request({
      op: 'init',
      seed: o.seed ?? 0,
      workload: { name: w.name, folder: w.folder, module: w.module, manifest: w.manifest, kinds: w.kinds, hash: w.hash ?? null },
      ...(o.checkpoint ? { checkpoint: { path: o.checkpoint.path, every_steps: o.checkpoint.everySteps ?? 0, every_s: o.checkpoint.everyS ?? 0 } } : {}),
    });
    this.info = {
      device: hello['device'] as string,
      cuda: hello['cuda'] as boolean,
      torch: hello['torch'] as string,
      pid: hello['pid'] as number,
      threads: hello['threads'] as number,
      step: init['step'] as number,
      resumed: init['resumed'] === true,
      checkpointError: (init['checkpoint_error'] as string | null) ?? null,
      checkpoints: init['checkpoints'] === true,
    };
    if (this.info.checkpointError) o.logger?.error({ workload: w.name, err: this.info.checkpointError }, 'checkpoint not loaded; training starts fresh');
    o.logger?.info({ ...this.info, workload: w.name, start: this.starts }, this.info.resumed ? `python worker ready, resumed at step ${this.info.step}` : 'python worker ready');
    o.onReady?.(this.info);
    return this.info;
  }

  private onLine(line: string): void {
    let reply: Record<string, unknown>;
    try {
      reply = JSON.parse(line);
    } catch {
      this.options.logger?.warn({ line }, 'python worker wrote a non-JSON line on stdout');
      return;
    }
    const p = this.pending.get(reply['id'] as number);
    if (!p) return;
    this.pending.delete(reply['id'] as number);
    clearTimeout(p.timer);
    this.answered = true;
    if (reply['ok'] === true) p.resolve(reply);
    else p.reject(new WorkloadStepError(this.options.workload.name, `python worker: ${String(reply['error'])}`));
  }

  /** `killed`: ended by a signal (a stop, a hung worker's kill), which says nothing about the interpreter. */
  private onExit(proc: ChildProcessWithoutNullStreams, why: string, killed = false): void {
    if (this.proc !== proc) return;
    this.proc = undefined;
    this.starting = undefined;
    const expected = this.closed;
    const tail = this.stderrTail.slice(-5).join(' | ');
    const err = new WorkerCrashedError(this.name, `${why}${tail ? ` (stderr: ${tail})` : ''}`, {
      workload: this.options.workload.name,
      python: this.options.python ?? defaultPython(this.options.env),
      starting: !this.answered && !killed,
    });
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
    if (!expected) {
      this.crashes++;
      this.options.logger?.warn({ err: err.message, crashes: this.crashes }, 'python worker crashed; it restarts on the next call');
      this.options.onCrash?.(err);
    }
  }

  private request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const proc = this.proc;
    if (!proc) return Promise.reject(new WorkerCrashedError(this.name, 'worker is not running'));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timeoutS = this.options.replyTimeoutS ?? 120;
      const timer = setTimeout(() => {
        // A worker that stops answering is as good as dead: kill it; onExit fails the call.
        this.options.logger?.error({ op: body['op'], timeoutS }, 'python worker did not answer; killing it');
        proc.kill('SIGKILL');
      }, timeoutS * 1000);
      this.pending.set(id, { resolve, reject, timer });
      proc.stdin.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  private async call(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.start();
    return this.request(body);
  }

  async runTraining(batchSize: number): Promise<TrainingResult> {
    const r = await this.call({ op: 'train', batch_size: batchSize });
    if (typeof r['checkpoint'] === 'string') this.options.logger?.debug({ path: r['checkpoint'], step: r['step'] }, 'checkpoint saved');
    return {
      timeS: r['time_s'] as number,
      loadS: r['load_s'] as number,
      ...(typeof r['loss'] === 'number' ? { loss: r['loss'] } : {}),
      step: r['step'] as number,
      metrics: (r['metrics'] as Record<string, number>) ?? {},
    };
  }

  /** Saves a checkpoint now (the workload must have state_dict); the path, or null. */
  async saveCheckpoint(): Promise<string | null> {
    const r = await this.call({ op: 'checkpoint' });
    return (r['path'] as string | null) ?? null;
  }

  /** One inference minibatch of the worker's workload (`stream` only names it in errors). */
  async runInference(_stream: string, inputs: readonly unknown[]): Promise<InferenceBatchResult> {
    const isGiven = (x: unknown): x is ArrayLike<unknown> => Array.isArray(x) || ArrayBuffer.isView(x);
    // A request without an input is null: the worker generates that sample and answers the others on
    // theirs. An input that is not an array of finite numbers (an object, a string, a number, NaN in
    // an array) is refused here, alone, as the ONNX runner refuses it: the worker takes one array of
    // numbers per sample, serving it as absent would answer a generated sample instead, and JSON
    // would turn NaN into null, which numpy reads back as NaN.
    const refused = inputs.map((x) => {
      if (x === undefined || x === null) return undefined;
      if (!isGiven(x)) return `input is not an array of numbers (got ${kindOf(x)}); the Python worker takes one array per sample`;
      const bad = notNumbers(x);
      return bad === undefined ? undefined : `input is not an array of numbers (${bad})`;
    });
    const fed = (x: unknown, i: number): boolean => refused[i] === undefined && isGiven(x);
    const r = await this.call({
      op: 'infer',
      batch_size: inputs.length,
      ...(inputs.some(fed) ? { inputs: inputs.map((x, i) => (fed(x, i) ? Array.from(x as ArrayLike<unknown>) : null)) } : {}),
    });
    // Inputs the worker could not feed (wrong size, not numbers): those requests fail alone.
    const fromWorker = Array.isArray(r['invalid']) ? (r['invalid'] as unknown[]) : [];
    const invalid = inputs.map((_, i) => refused[i] ?? (typeof fromWorker[i] === 'string' ? (fromWorker[i] as string) : undefined));
    return { timeS: r['time_s'] as number, outputs: r['outputs'] as unknown[], ...(invalid.some((e) => e !== undefined) ? { invalid } : {}) };
  }

  /** Kills the worker process (for tests and operators); the next call restarts it. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.proc?.kill(signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const proc = this.proc;
    if (!proc) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const id = ++this.nextId;
    proc.stdin.write(JSON.stringify({ id, op: 'shutdown' }) + '\n');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** What a refused input is, for its error (never its content). */
function kindOf(x: unknown): string {
  if (typeof x === 'object') return 'an object';
  return `a ${typeof x}`;
}
