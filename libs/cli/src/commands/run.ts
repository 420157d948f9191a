import { Command, InvalidArgumentError, Option } from 'commander';
import Table from 'cli-table3';
import { requireArrivalRatePerS, requireBatchSize, requireLatencyBudgetS, requireToken } from '@fulcrum/core';
import { descriptorOf } from '@fulcrum/workloads';
import { OnnxModelError, defaultCheckpointDir, runOnHost, type HostRunReport, type HostRunStream } from '@fulcrum/executor/internal';
import type { CliIo } from '../io.js';
import { writeTimelinePlot } from './timeline-plot.js';
import { UsageError, asUsageError, collect, nonNegativeNumber, oneOf, positiveInteger, positiveNumber } from '../usage.js';
import { parseKeyValues } from '../parse.js';
import { pythonSource, workerError } from '../worker-errors.js';
import { addWorkloadsOption, openRegistry } from '../workloads.js';

function nonNegativeInteger(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || v < 0) throw new InvalidArgumentError('must be an integer ≥ 0.');
  return v;
}

interface RunOptions {
  workloads?: string[];
  train?: string;
  infer?: string;
  duration: number;
  rate?: number;
  latency?: number;
  batch?: number;
  streamName: string;
  stream?: string[];
  trainBatch?: number;
  arrivals: 'even' | 'poisson';
  seed: number;
  threads: number;
  python?: string;
  device: 'cpu' | 'auto';
  onnx: boolean;
  checkpoints: boolean;
  checkpointDir?: string;
  checkpointEvery: number;
  checkpointEveryS: number;
  plot?: string;
  json?: boolean;
}

const STREAM_KEYS = ['name', 'workload', 'rate', 'latency', 'batch'] as const;

/** `name=cam,workload=my-detector,rate=20,latency=0.5,batch=4` → a stream to serve (`workload` defaults to `defaultWorkload`). */
export function parseRunStream(spec: string, index: number, defaultWorkload?: string): HostRunStream {
  const flag = `--stream #${index + 1}`;
  const values: Map<string, string> = parseKeyValues(spec, flag, STREAM_KEYS);
  const num = (key: string, parse: (t: string) => number): number => {
    const text = values.get(key);
    if (text === undefined) throw new UsageError(`${flag}: missing ${key}=...`);
    try {
      return parse(text);
    } catch (err) {
      throw new UsageError(`${flag} ${key}: ${(err as Error).message.replace(/\.$/, '')}, got ${JSON.stringify(text)}`);
    }
  };
  const name = values.get('name') ?? `stream${index}`;
  asUsage(() => requireToken(`${flag} name`, name, 'a stream name'));
  const workload = values.get('workload') ?? defaultWorkload;
  if (!workload) throw new UsageError(`${flag}: missing workload=... (the workload folder that serves it; or give --infer NAME)`);
  return { name, workload, arrivalRatePerS: num('rate', positiveNumber), latencyBudgetS: num('latency', positiveNumber), batchSize: num('batch', positiveInteger) };
}

const ms = (s: number): string => (s * 1000).toFixed(2);

export function formatRunReport(r: HostRunReport): string {
  const lines: string[] = [];
  const tr = r.training;
  const runners = [...new Set(r.streams.map((s) => s.runner))].join(' + ');
  lines.push(`workers: PyTorch ${r.worker.torch} on ${r.worker.device} (pid ${r.worker.pid}, ${r.worker.threads} thread(s)) trains ${tr.workload}; ${runners} serve${r.streams.length === 1 ? 's' : ''} the streams; ${r.durationS} s of ${r.process} arrivals`);
  for (const st of tr.starts) {
    if (st.checkpointError) lines.push(`checkpoint: ${st.checkpointError}`);
    else if (st.resumed) lines.push(`checkpoint: resumed ${tr.workload} at step ${st.step}`);
  }
  lines.push(`training minibatches: ${r.trainTime.count}, worker-timed tT mean ${ms(r.trainTime.meanS)} ms, p99 ${ms(r.trainTime.p99S)} ms, max ${ms(r.trainTime.maxS)} ms; data loading mean ${ms(tr.loadTime.meanS)} ms per step (apart from tT)`);
  const loss = (v: number | undefined): string => (v === undefined ? '–' : v.toPrecision(4));
  lines.push(`training: steps ${tr.firstStep} → ${tr.lastStep} (bT ${tr.batchSize}), loss ${loss(tr.firstLoss)} → ${loss(tr.lastLoss)}${tr.starts.length > 1 ? `; worker restarted ${tr.starts.length - 1}×` : ''}${tr.checkpoints ? '' : '; no checkpoints'}`);
  const t = new Table({
    head: ['stream', 'workload', 'λ /s', 'b', 'sent', 'answered', 'errors', 'late', 'p50 ms', 'p99 ms', 'max ms', 'L ms', 'bound(mean) ms', 'bound(max) ms', 'tI mean ms'],
    style: { head: [], border: [] },
  });
  for (const s of r.streams) {
    const errors = Object.entries(s.failed).map(([k, v]) => `${k}:${v}`).join(' ') || '0';
    t.push([s.stream, s.workload, s.plannedRatePerS, s.batchSize, s.sent, s.completed, errors, s.late, ms(s.latency.p50S), ms(s.latency.p99S), ms(s.latency.maxS), ms(s.latencyBudgetS), ms(s.boundMeanS), ms(s.boundMaxS), ms(s.inferTime.meanS)]);
  }
  lines.push(t.toString());
  lines.push(`every request answered: ${r.allAnswered ? 'yes' : 'NO'}`);
  lines.push(
    `training throughput: ${r.trainThroughputSamplesPerS.toFixed(1)} samples/s measured, ${r.formulaTrainThroughputSamplesPerS.toFixed(1)} by SPEC §2 with the worker-timed tT ` +
      `(the gap is the per-minibatch cost outside the worker's timer: pipe, JSON, scheduling)`,
  );
  lines.push(`inference GPU share ρ measured: ${r.utilization.toFixed(4)}; scheduling decision p99 ${r.status.decisionOverheadUs.p99.toFixed(1)} µs`);
  return lines.join('\n') + '\n';
}

export function registerRunCommand(program: Command, io: CliIo): void {
  const command = program
    .command('run')
    .description(
      'Run the executor on this host with real workers: a PyTorch worker trains a workload folder\'s model (its train_batch + train_step) while each stream ' +
        'is served by its workload (onnxruntime-node where the folder has an ONNX file, else its Python infer); requests arrive from a generator. ' +
        'Prints latencies against the budget and the SPEC §2 bound, and the training loss.',
    );
  addWorkloadsOption(command)
    .option('--train <workload>', 'the workload to train (required; a built-in or one of --workloads)')
    .option('--infer <workload>', 'the workload serving streams that name none (default: the --train workload, if it can be served)')
    .addOption(new Option('--duration <s>', 'seconds of arrivals').argParser(positiveNumber).default(20))
    .option('--rate <per_s>', 'one stream: arrival rate λ (requests/s)', positiveNumber)
    .option('--latency <s>', 'one stream: latency budget L in seconds', positiveNumber)
    .option('--batch <n>', 'one stream: inference batch size b (default 4, or the folder\'s infer.max_batch_size when smaller)', positiveInteger)
    .option('--stream-name <name>', 'one stream: its name', 'cam')
    .option('--stream <spec>', 'a stream as name=..,workload=..,rate=..,latency=..,batch=.. (repeat for K streams)', collect)
    .addOption(new Option('--train-batch <n>', "training minibatch size bT (default: the manifest's train.batch_size)").argParser(positiveInteger))
    .addOption(new Option('--arrivals <even|poisson>', 'arrival process').argParser(oneOf(['even', 'poisson'] as const)).default('even'))
    .addOption(new Option('--seed <n>', 'seed of the arrival generator and the workers').argParser(positiveInteger).default(1))
    .addOption(new Option('--threads <n>', 'torch and onnxruntime threads').argParser(positiveInteger).default(1))
    .option('--python <path>', 'python with torch (default: $FULCRUM_PYTHON or /usr/bin/python3)')
    .addOption(new Option('--device <cpu|auto>', 'the PyTorch device: auto = CUDA where available').argParser(oneOf(['cpu', 'auto'] as const)).default('auto'))
    .option('--no-onnx', "serve with the workload's Python infer even where its folder has an ONNX file")
    .option('--no-checkpoints', 'do not save or resume training checkpoints')
    .option('--checkpoint-dir <dir>', 'checkpoint folder (default $XDG_STATE_HOME/fulcrum/checkpoints)')
    .addOption(new Option('--checkpoint-every <steps>', 'save a checkpoint every N training steps (0: not by steps)').argParser(nonNegativeInteger).default(100))
    .addOption(new Option('--checkpoint-every-s <s>', 'save a checkpoint every S seconds (0: not by time)').argParser(nonNegativeNumber).default(60))
    .option('--plot <file.svg|file.png>', 'write the timeline plot (rate, batch size, latency, training throughput over time)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  fulcrum run --workloads ./my-models --train my-trainer --stream name=cam,workload=my-detector,rate=20,latency=0.5,batch=4\n' +
        '  fulcrum run --workloads examples/workloads --train digits-classifier --stream name=cam,workload=digits-onnx,rate=20,latency=0.2,batch=4 --duration 10\n',
    )
    .action(async (o: RunOptions) => {
      const registry = openRegistry(o.workloads);
      if (!o.train) throw new UsageError(`--train: name the workload to train; known workloads: ${registry.names().join(', ')} (add your own with --workloads DIR)`);
      const trainFolder = asUsage(() => registry.require(o.train!, 'train', '--train'));
      const defaultInfer = o.infer ?? (trainFolder.manifest.infer ? o.train : undefined);
      const single = [['rate', '--rate'], ['latency', '--latency'], ['batch', '--batch']] as const;
      let streams: HostRunStream[];
      if (o.stream?.length) {
        const given = single.find(([k]) => o[k] !== undefined);
        if (given) throw new UsageError(`${given[1]}: give streams either with --stream or with --rate/--latency/--batch, not both`);
        streams = o.stream.map((spec, i) => parseRunStream(spec, i, defaultInfer));
        const names = new Set<string>();
        for (const s of streams) {
          if (names.has(s.name)) throw new UsageError(`--stream: duplicate stream name ${JSON.stringify(s.name)}`);
          names.add(s.name);
        }
      } else {
        asUsage(() => requireToken('--stream-name', o.streamName, 'a stream name'));
        if (!defaultInfer) throw new UsageError(`--infer: workload ${JSON.stringify(o.train)} cannot be served (no infer: section); name the workload serving the stream with --infer or --stream name=..,workload=..`);
        // Default b: 4, or the folder's infer.max_batch_size when that is smaller.
        const maxB = asUsage(() => descriptorOf(registry.require(defaultInfer, 'infer', '--infer'))).maxInferBatchSize;
        streams = [{ name: o.streamName, workload: defaultInfer, arrivalRatePerS: o.rate ?? 20, latencyBudgetS: o.latency ?? 0.5, batchSize: o.batch ?? Math.min(4, maxB ?? 4) }];
      }
      streams.forEach((s, i) => {
        const flag = o.stream?.length ? `--stream #${i + 1} workload` : '--infer';
        const folder = asUsage(() => registry.require(s.workload, 'infer', flag));
        // Within Fulcrum's limit and the folder's infer.max_batch_size, as a plan's b (SPEC §2).
        asUsage(() => requireBatchSize(o.stream?.length ? `--stream #${i + 1} batch` : '--batch', s.batchSize, descriptorOf(folder), 'infer'));
        // λ and L within a problem's limits (SPEC §2: 1e6 requests/s, 3600 s).
        asUsage(() => requireArrivalRatePerS(o.stream?.length ? `--stream #${i + 1} rate` : '--rate', s.arrivalRatePerS));
        asUsage(() => requireLatencyBudgetS(o.stream?.length ? `--stream #${i + 1} latency` : '--latency', s.latencyBudgetS));
      });
      if (o.trainBatch !== undefined) asUsage(() => requireBatchSize('--train-batch', o.trainBatch, descriptorOf(trainFolder), 'train'));
      if (o.plot !== undefined && !/\.(svg|png)$/i.test(o.plot)) throw new UsageError(`--plot: the file must end in .svg or .png, got ${JSON.stringify(o.plot)}`);
      if (!o.json) io.stderr(`fulcrum run: starting the workers (${o.train}${streams.some((s) => s.workload !== o.train) ? ` + ${[...new Set(streams.map((s) => s.workload))].filter((w) => w !== o.train).join(', ')}` : ''}), warming up, then ${o.duration} s of arrivals …\n`);
      let report: HostRunReport;
      try {
        report = await runOnHost({
          registry,
          trainWorkload: o.train,
          ...(o.trainBatch !== undefined ? { trainBatchSize: o.trainBatch } : {}),
          streams,
          durationS: o.duration,
          process: o.arrivals,
          seed: o.seed,
          threads: o.threads,
          device: o.device,
          onnx: o.onnx,
          checkpoints: o.checkpoints ? { dir: o.checkpointDir ?? defaultCheckpointDir(), everySteps: o.checkpointEvery, everyS: o.checkpointEveryS } : false,
          ...(o.python ? { python: o.python } : {}),
        });
      } catch (err) {
        if (err instanceof OnnxModelError) throw new UsageError(`infer.onnx: ${err.message}`);
        throw workerError(err, pythonSource(o.python));
      }
      if (o.plot) await writeTimelinePlot(o.plot, report.timeline, `fulcrum run: ${o.train} training + ${[...new Set(streams.map((s) => s.workload))].join(', ')} on ${report.worker.device}`);
      if (o.json) {
        const { status, timeline, ...rest } = report;
        io.stdout(JSON.stringify({ ...rest, decisionOverheadUs: status.decisionOverheadUs }, null, 2) + '\n');
      } else io.stdout(formatRunReport(report));
    });
}

function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asUsageError(err);
  }
}
