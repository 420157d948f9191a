/**
 * `bench`: a sweep (SPEC §7) over one backend with a list of strategies, keys spread over worker
 * threads (one per core by default), results gathered per configuration and summarised.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ValidationError, workloadIds } from '@fulcrum/core';
import type { DeviceBackend, ProfileTable, TableBackend } from '@fulcrum/devices';
import { getStrategy, type SafetyMargins } from '@fulcrum/strategies';
import { openBackend, type BackendSpec } from './backend-spec.js';
import { runKey, type KeyResult } from './engine.js';
import { configsPerKey, sweepDefinition, type KeySpec, type SweepDefinition, type SweepName, type SweepPart, type SweepWorkloads } from './sweep.js';

/**
 * What a profile table can be benchmarked on: the workloads it trains and those it serves (in the
 * table's order), bT per trained workload (`ProfileTable.trainBatchSize`), and the inference batch
 * sizes every served workload has.
 */
export function tableSweepWorkloads(table: ProfileTable): SweepWorkloads {
  const all = table.workloads();
  const train = all.filter((w) => table.batchSizes(w, 'train').length > 0);
  const infer = all.filter((w) => table.batchSizes(w, 'infer').length > 0);
  const shared = infer.map((w) => table.batchSizes(w, 'infer')).reduce<number[] | undefined>((acc, b) => (acc ? acc.filter((x) => b.includes(x)) : b), undefined) ?? [];
  return { train, infer, trainBatchSize: Object.fromEntries(train.map((w) => [w, table.trainBatchSize(w)!])), candidateBatchSizes: shared };
}

/**
 * What a named sweep draws its keys from on `source`: a table's trained and served workloads, or
 * every workload of the virtual board (its user workloads with their bT, which the built-in
 * catalog does not know), narrowed to `train` / `infer` when given.
 */
function sweepWorkloadsOf(source: DeviceBackend, options: Pick<BenchOptions, 'train' | 'infer'>): readonly string[] | SweepWorkloads {
  const all: SweepWorkloads =
    source.type === 'table'
      ? tableSweepWorkloads((source as TableBackend).table)
      : {
          train: [...source.workloads()],
          infer: [...source.workloads()],
          trainBatchSize: Object.fromEntries(source.workloads().filter((w) => !workloadIds().includes(w)).map((w) => [w, source.catalog.workload(w).defaultTrainBatchSize])),
        };
  if (!options.train && !options.infer) return source.type === 'table' || Object.keys(all.trainBatchSize ?? {}).length > 0 ? all : all.train;
  const pick = (field: 'train' | 'infer', names: readonly string[] | undefined): readonly string[] => {
    if (!names) return all[field];
    if (names.length === 0) throw new ValidationError(field, 'names no workload');
    for (const n of names) {
      if (!all[field].includes(n)) {
        throw new ValidationError(field, `${source.description} ${field === 'train' ? 'trains' : 'serves'} no workload ${JSON.stringify(n)}; it ${field === 'train' ? 'trains' : 'serves'} ${all[field].join(', ') || 'none'}`);
      }
    }
    return [...new Set(names)];
  };
  return { ...all, train: pick('train', options.train), infer: pick('infer', options.infer) };
}

export interface BenchOptions {
  readonly backend: BackendSpec;
  readonly strategies: readonly string[];
  readonly sweep: SweepName | SweepDefinition;
  /**
   * With a named sweep: the workloads its keys train (default: every one the backend trains) and
   * serve (default: every one it serves). A name the backend cannot train or serve is a
   * ValidationError on `train` / `infer`.
   */
  readonly train?: readonly string[];
  readonly infer?: readonly string[];
  /** Worker threads; 1 runs in this thread. Default: the machine's parallelism (at most the keys). */
  readonly workers?: number;
  readonly margins?: SafetyMargins;
  /** One-sided probability a plan's constraints hold, for the default margins (z·SE; default 0.975). */
  readonly targetProbability?: number;
  readonly seed?: number;
  /** Called as configurations finish (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface BenchRun {
  readonly device: string;
  readonly backend: string;
  readonly sweep: string;
  readonly strategies: readonly string[];
  readonly keys: readonly KeyResult[];
  readonly configurations: number;
  readonly wallS: number;
  readonly workers: number;
}

export interface KeyTask {
  readonly part: SweepPart;
  readonly spec: KeySpec;
}

export async function runBench(options: BenchOptions): Promise<BenchRun> {
  const started = performance.now();
  const strategies = options.strategies.map((n) => getStrategy(n, 'strategies'));
  const backend = await openBackend(options.backend);
  const source = backend.source;
  const sweep = typeof options.sweep === 'string' ? sweepDefinition(options.sweep, sweepWorkloadsOf(source, options)) : options.sweep;
  const tasks: KeyTask[] = sweep.parts.flatMap((part) => part.keys.map((spec) => ({ part, spec })));
  const total = sweep.parts.reduce((n, p) => n + p.keys.length * configsPerKey(p), 0);
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    options.onProgress?.(done, total);
  };
  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), tasks.length));
  const results: (KeyResult | undefined)[] = new Array(tasks.length);
  if (workers === 1) {
    tasks.forEach((t, i) => {
      results[i] = runKey(backend, strategies, t.part, t.spec, { ...(options.margins ? { margins: options.margins } : {}), ...(options.targetProbability !== undefined ? { targetProbability: options.targetProbability } : {}), ...(options.seed !== undefined ? { seed: options.seed } : {}), onConfigs: progress });
    });
  } else {
    await runInWorkers(options, tasks, workers, results, progress);
  }
  return {
    device: backend.deviceId,
    backend: backend.source.description,
    sweep: sweep.name,
    strategies: strategies.map((s) => s.name),
    keys: results as KeyResult[],
    configurations: total,
    wallS: (performance.now() - started) / 1000,
    workers,
  };
}

/**
 * A worker thread running worker.js next to this file; in development (tsx running the .ts
 * sources) a small bootstrap registers tsx in the new thread first, since loader hooks given with
 * `--import` on the command line do not carry over to worker threads on Node 20.
 */
function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), { workerData });
  const entry = new URL('./worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

async function runInWorkers(options: BenchOptions, tasks: readonly KeyTask[], count: number, results: (KeyResult | undefined)[], progress: (n: number) => void): Promise<void> {
  // Keys with more streams take longest per configuration: start them first, so no worker is
  // left with one long key at the end while the others idle. Results keep the sweep's order.
  const order = tasks.map((_, i) => i).sort((a, b) => tasks[b]!.spec.infer.length - tasks[a]!.spec.infer.length || a - b);
  let next = 0;
  const init = { backend: options.backend, strategies: options.strategies, margins: options.margins, targetProbability: options.targetProbability, seed: options.seed };
  await Promise.all(
    Array.from({ length: count }, () => {
      return new Promise<void>((resolve, reject) => {
        const worker = startWorker(init);
        let current = -1;
        const feed = (): void => {
          if (next >= tasks.length) {
            void worker.terminate().then(() => resolve());
            return;
          }
          current = order[next++]!;
          worker.postMessage({ index: current, part: tasks[current]!.part, spec: tasks[current]!.spec });
        };
        worker.on('message', (msg: { type: 'progress'; n: number } | { type: 'result'; index: number; result: KeyResult } | { type: 'ready' }) => {
          if (msg.type === 'progress') progress(msg.n);
          else if (msg.type === 'result') {
            results[msg.index] = msg.result;
            feed();
          } else feed();
        });
        worker.on('error', reject);
        worker.on('exit', (code) => {
          if (code !== 0 && current >= 0 && results[current] === undefined) reject(new Error(`bench worker exited with code ${code}`));
        });
      });
    }),
  );
}
