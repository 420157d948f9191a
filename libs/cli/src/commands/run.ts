import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { runOnHost, type HostRunReport, type HostRunStream } from '@fulcrum/executor/internal';
import type { CliIo } from '../io.js';
import { writeTimelinePlot } from './timeline-plot.js';
import { UsageError, collect, oneOf, positiveInteger, positiveNumber } from '../usage.js';

interface RunOptions {
  duration: number;
  rate?: number;
  latency?: number;
  batch?: number;
  streamName: string;
  stream?: string[];
  trainBatch: number;
  arrivals: 'even' | 'poisson';
  seed: number;
  model: string;
  input: string;
  threads: number;
  python?: string;
  plot?: string;
  json?: boolean;
}

const STREAM_KEYS = ['name', 'rate', 'latency', 'batch'] as const;

/** `name=cam,rate=20,latency=0.5,batch=4` → a stream to serve. */
export function parseRunStream(spec: string, index: number): HostRunStream {
  const flag = `--stream #${index + 1}`;
  const values = new Map<string, string>();
  for (const part of spec.split(',')) {
    const [key, value] = part.split('=').map((s) => s.trim());
    if (!(STREAM_KEYS as readonly string[]).includes(key ?? '')) throw new UsageError(`${flag}: unknown key ${JSON.stringify(key)}; keys: ${STREAM_KEYS.join(', ')}`);
    if (value === undefined || value === '') throw new UsageError(`${flag}: ${key} needs a value`);
    values.set(key!, value);
  }
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
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new UsageError(`${flag} name: must be letters, digits, '-' or '_', got ${JSON.stringify(name)}`);
  return { name, arrivalRatePerS: num('rate', positiveNumber), latencyBudgetS: num('latency', positiveNumber), batchSize: num('batch', positiveInteger) };
}

function parseShape(text: string): number[] {
  const dims = text.split(',').map((s) => Number(s.trim()));
  if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d <= 0)) throw new UsageError(`--input: expected C,H,W (e.g. 3,32,32), got ${JSON.stringify(text)}`);
  return dims;
}

const ms = (s: number): string => (s * 1000).toFixed(2);

export function formatRunReport(r: HostRunReport): string {
  const lines: string[] = [];
  lines.push(`workers: PyTorch ${r.worker.torch} on ${r.worker.device} (pid ${r.worker.pid}, ${r.worker.threads} thread(s)) + onnxruntime-node; ${r.durationS} s of ${r.process} arrivals`);
  lines.push(`training minibatches: ${r.trainTime.count}, worker-timed tT mean ${ms(r.trainTime.meanS)} ms, p99 ${ms(r.trainTime.p99S)} ms, max ${ms(r.trainTime.maxS)} ms`);
  const t = new Table({
    head: ['stream', 'λ /s', 'b', 'sent', 'answered', 'errors', 'late', 'p50 ms', 'p99 ms', 'max ms', 'L ms', 'bound(mean) ms', 'bound(max) ms', 'tI mean ms'],
    style: { head: [], border: [] },
  });
  for (const s of r.streams) {
    const errors = Object.entries(s.failed).map(([k, v]) => `${k}:${v}`).join(' ') || '0';
    t.push([s.stream, s.plannedRatePerS, s.batchSize, s.sent, s.completed, errors, s.late, ms(s.latency.p50S), ms(s.latency.p99S), ms(s.latency.maxS), ms(s.latencyBudgetS), ms(s.boundMeanS), ms(s.boundMaxS), ms(s.inferTime.meanS)]);
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
  program
    .command('run')
    .description(
      'Run the executor on this host with real workers: a PyTorch worker trains a small CNN on generated data while onnxruntime-node ' +
        'serves each stream from an ONNX export of the model; requests arrive from a generator. Prints latencies against the budget and the SPEC §2 bound.',
    )
    .addOption(new Option('--duration <s>', 'seconds of arrivals').argParser(positiveNumber).default(20))
    .option('--rate <per_s>', 'one stream: arrival rate λ (requests/s)', positiveNumber)
    .option('--latency <s>', 'one stream: latency budget L in seconds', positiveNumber)
    .option('--batch <n>', 'one stream: inference batch size b', positiveInteger)
    .option('--stream-name <name>', 'one stream: its name', 'cam')
    .option('--stream <spec>', 'a stream as name=..,rate=..,latency=..,batch=.. (repeat for K streams)', collect)
    .addOption(new Option('--train-batch <n>', 'training minibatch size bT').argParser(positiveInteger).default(16))
    .addOption(new Option('--arrivals <even|poisson>', 'arrival process').argParser(oneOf(['even', 'poisson'] as const)).default('even'))
    .addOption(new Option('--seed <n>', 'seed of the arrival generator').argParser(positiveInteger).default(1))
    .addOption(new Option('--model <cnn|resnet18>', 'the model to train and serve (resnet18 needs torchvision)').argParser(oneOf(['cnn', 'resnet18'] as const)).default('cnn'))
    .option('--input <C,H,W>', 'per-sample input shape', '3,32,32')
    .addOption(new Option('--threads <n>', 'torch and onnxruntime threads').argParser(positiveInteger).default(1))
    .option('--python <path>', 'python with torch (default: $FULCRUM_PYTHON or /usr/bin/python3)')
    .option('--plot <file.svg|file.png>', 'write the timeline plot (rate, batch size, latency, training throughput over time)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  fulcrum run --rate 20 --latency 0.5 --batch 4 --duration 20\n  fulcrum run --stream name=a,rate=10,latency=0.4,batch=2 --stream name=b,rate=30,latency=0.8,batch=8 --arrivals poisson --json\n')
    .action(async (o: RunOptions) => {
      const single = [['rate', '--rate'], ['latency', '--latency'], ['batch', '--batch']] as const;
      let streams: HostRunStream[];
      if (o.stream?.length) {
        const given = single.find(([k]) => o[k] !== undefined);
        if (given) throw new UsageError(`${given[1]}: give streams either with --stream or with --rate/--latency/--batch, not both`);
        streams = o.stream.map(parseRunStream);
        const names = new Set<string>();
        for (const s of streams) {
          if (names.has(s.name)) throw new UsageError(`--stream: duplicate stream name ${JSON.stringify(s.name)}`);
          names.add(s.name);
        }
      } else {
        if (!/^[A-Za-z0-9_-]+$/.test(o.streamName)) throw new UsageError(`--stream-name: must be letters, digits, '-' or '_', got ${JSON.stringify(o.streamName)}`);
        streams = [{ name: o.streamName, arrivalRatePerS: o.rate ?? 20, latencyBudgetS: o.latency ?? 0.5, batchSize: o.batch ?? 4 }];
      }
      const input = parseShape(o.input);
      if (o.plot !== undefined && !/\.(svg|png)$/i.test(o.plot)) throw new UsageError(`--plot: the file must end in .svg or .png, got ${JSON.stringify(o.plot)}`);
      const model = { model: o.model, input, classes: 10, width: 16 };
      const report = await runOnHost({
        streams,
        trainBatchSize: o.trainBatch,
        durationS: o.duration,
        process: o.arrivals,
        seed: o.seed,
        trainModel: model,
        threads: o.threads,
        ...(o.python ? { python: o.python } : {}),
      });
      if (o.plot) await writeTimelinePlot(o.plot, report.timeline, `fulcrum run: PyTorch training + ONNX inference on ${report.worker.device}`);
      if (o.json) {
        const { status, timeline, ...rest } = report;
        io.stdout(JSON.stringify({ ...rest, decisionOverheadUs: status.decisionOverheadUs }, null, 2) + '\n');
      } else io.stdout(formatRunReport(report));
    });
}
