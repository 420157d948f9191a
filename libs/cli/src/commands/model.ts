import { Command, Option } from 'commander';
import Table from 'cli-table3';
import {
  POWER_SEMANTICS,
  assertOnGrid,
  assertOperatingPoint,
  describeBinding,
  deviceIds,
  evaluate,
  formatPowerMode,
  getDevice,
  parsePowerMode,
  requireArrivalRatePerS,
  requireLatencyBudgetS,
  requirePowerBudgetW,
  type Evaluation,
  type OperatingPoint,
  type PowerMode,
  type PowerSemantics,
  type StreamOperatingPoint,
} from '@fulcrum/core';
import type { CliIo } from '../io.js';
import { UsageError, asUsageError, collect, oneOf, positiveInteger, positiveNumber, nonNegativeNumber } from '../usage.js';
import { parseKeyValues } from '../parse.js';

interface ModelOptions {
  device: string;
  mode?: string;
  trainBatch: number;
  trainTimeMs: number;
  trainPowerW: number;
  power: number;
  semantics: PowerSemantics;
  streamName: string;
  rate?: number;
  latency?: number;
  batch?: number;
  inferTimeMs?: number;
  inferPowerW?: number;
  stream?: string[];
  json?: boolean;
}

const SINGLE_STREAM_FLAGS = [
  ['rate', '--rate'],
  ['latency', '--latency'],
  ['batch', '--batch'],
  ['inferTimeMs', '--infer-time-ms'],
  ['inferPowerW', '--infer-power-w'],
] as const;

const STREAM_KEYS = ['name', 'rate', 'latency', 'batch', 'time_ms', 'power_w'] as const;

/** `name=cam,rate=30,latency=0.2,batch=4,time_ms=12,power_w=25` → a stream operating point. */
export function parseStreamSpec(spec: string, index: number): StreamOperatingPoint {
  const flag = `--stream #${index + 1}`;
  const values = parseKeyValues(spec, flag, STREAM_KEYS);
  const number = (key: (typeof STREAM_KEYS)[number], parse: (t: string) => number): number => {
    const text = values.get(key);
    if (text === undefined) throw new UsageError(`${flag}: missing ${key}=... (a stream needs ${STREAM_KEYS.slice(1).join(', ')})`);
    try {
      return parse(text);
    } catch (err) {
      throw new UsageError(`${flag} ${key}: ${(err as Error).message.replace(/\.$/, '')}, got ${JSON.stringify(text)}`);
    }
  };
  return {
    name: values.get('name') ?? `stream${index}`,
    arrivalRatePerS: number('rate', positiveNumber),
    latencyBudgetS: number('latency', positiveNumber),
    batchSize: number('batch', positiveInteger),
    inference: { timeS: number('time_ms', positiveNumber) / 1000, powerW: number('power_w', nonNegativeNumber) },
  };
}

function streamsFromOptions(o: ModelOptions): StreamOperatingPoint[] {
  const given = SINGLE_STREAM_FLAGS.filter(([key]) => o[key] !== undefined);
  if (o.stream?.length) {
    if (given.length) throw new UsageError(`${given[0]![1]}: give streams either with --stream or with the single-stream flags, not both`);
    return o.stream.map(parseStreamSpec);
  }
  if (given.length === 0) {
    throw new UsageError('no inference stream: give --rate, --latency, --batch, --infer-time-ms and --infer-power-w, or one --stream per stream');
  }
  const missing = SINGLE_STREAM_FLAGS.find(([key]) => o[key] === undefined);
  if (missing) throw new UsageError(`${missing[1]} is required for the inference stream (or describe it with --stream)`);
  return [
    {
      name: o.streamName,
      arrivalRatePerS: o.rate!,
      latencyBudgetS: o.latency!,
      batchSize: o.batch!,
      inference: { timeS: o.inferTimeMs! / 1000, powerW: o.inferPowerW! },
    },
  ];
}

export interface ModelReport {
  device: string;
  mode?: string;
  powerBudgetW: number;
  powerSemantics: PowerSemantics;
  trainBatchSize: number;
  training: { timeMs: number; powerW: number };
  streams: Array<{
    name: string;
    arrivalRatePerS: number;
    batchSize: number;
    inferTimeMs: number;
    inferPowerW: number;
    utilization: number;
    latencyBoundS: number;
    latencyBudgetS: number;
    latencyOk: boolean;
  }>;
  utilization: number;
  stable: boolean;
  trainThroughputSamplesPerS: number;
  powerW: number;
  feasible: boolean;
  binding: Evaluation['binding'];
  verdict: string;
}

export function modelReport(device: string, mode: PowerMode | undefined, point: OperatingPoint, e: Evaluation, powerBudgetW: number): ModelReport {
  return {
    device,
    ...(mode ? { mode: formatPowerMode(mode) } : {}),
    powerBudgetW,
    powerSemantics: e.powerSemantics,
    trainBatchSize: point.trainBatchSize,
    training: { timeMs: point.training.timeS * 1000, powerW: point.training.powerW },
    streams: point.streams.map((s, i) => {
      const se = e.streams[i]!;
      return {
        name: s.name,
        arrivalRatePerS: s.arrivalRatePerS,
        batchSize: s.batchSize,
        inferTimeMs: s.inference.timeS * 1000,
        inferPowerW: s.inference.powerW,
        utilization: se.utilization,
        latencyBoundS: se.latencyBoundS,
        latencyBudgetS: se.latencyBudgetS,
        latencyOk: e.checks.find((c) => c.kind === 'latency' && c.stream === s.name)!.satisfied,
      };
    }),
    utilization: e.utilization,
    stable: e.stable,
    trainThroughputSamplesPerS: e.trainThroughputSamplesPerS,
    powerW: e.powerW,
    feasible: e.feasible,
    binding: e.binding,
    verdict: `${e.feasible ? 'feasible' : 'infeasible'}: ${e.feasible ? 'tightest' : 'binding'} constraint is ${describeBinding(e)}`,
  };
}

const n = (x: number, digits = 3): string => (Number.isInteger(x) ? String(x) : x.toFixed(digits));
const mark = (ok: boolean): string => (ok ? 'ok' : 'VIOLATED');

export function formatModelReport(r: ModelReport): string {
  const lines: string[] = [];
  lines.push(`device ${r.device}${r.mode ? `, mode ${r.mode}` : ''}, power budget ${n(r.powerBudgetW)} W (${r.powerSemantics})`);
  lines.push(`training: bT = ${r.trainBatchSize}, tT = ${n(r.training.timeMs)} ms, pT = ${n(r.training.powerW)} W`);
  const table = new Table({
    head: ['stream', 'rate /s', 'batch', 'tI ms', 'pI W', 'ρ', 'latency bound s', 'budget s', 'latency'],
    style: { head: [], border: [] },
  });
  for (const s of r.streams) {
    table.push([s.name, n(s.arrivalRatePerS), s.batchSize, n(s.inferTimeMs), n(s.inferPowerW), n(s.utilization), n(s.latencyBoundS, 4), n(s.latencyBudgetS, 4), mark(s.latencyOk)]);
  }
  lines.push(table.toString());
  lines.push(`GPU utilisation ρ = ${n(r.utilization)} (${r.stable ? 'stable' : 'UNSTABLE: inference alone fills the GPU'})`);
  lines.push(`training throughput X = ${r.trainThroughputSamplesPerS.toFixed(2)} samples/s`);
  lines.push(`power (${r.powerSemantics}) = ${r.powerW.toFixed(2)} W, budget ${n(r.powerBudgetW)} W: ${mark(r.powerW <= r.powerBudgetW * (1 + 1e-9))}`);
  lines.push(`verdict: ${r.verdict}`);
  return lines.join('\n') + '\n';
}

export function registerModelCommand(program: Command, io: CliIo): void {
  program
    .command('model')
    .description(
      'Evaluate one plan (power mode, inference batch sizes) with the Fulcrum interleaving model: ' +
        'latency bounds, training throughput, power and the verdict, from the minibatch times and powers you give.',
    )
    .addOption(new Option('--device <id>', `device whose grid --mode must lie on (${deviceIds().join(', ')})`).default('orin-agx'))
    .option('--mode <cores,cpuMhz,gpuMhz,emcMhz>', 'the power mode the measurements belong to (checked against the device grid)')
    .requiredOption('--train-batch <n>', 'training minibatch size bT (samples)', positiveInteger)
    .requiredOption('--train-time-ms <ms>', 'tT: milliseconds per training minibatch', positiveNumber)
    .requiredOption('--train-power-w <w>', 'pT: mean watts while training', nonNegativeNumber)
    .requiredOption('--power <w>', 'power budget P in watts', positiveNumber)
    .addOption(new Option('--semantics <peak|average>', 'how power is judged against the budget').argParser(oneOf(POWER_SEMANTICS)).default('peak'))
    .option('--rate <per_s>', 'one stream: arrival rate λ (requests/s)', positiveNumber)
    .option('--latency <s>', 'one stream: latency budget L in seconds', positiveNumber)
    .option('--batch <n>', 'one stream: inference minibatch size b', positiveInteger)
    .option('--infer-time-ms <ms>', 'one stream: tI, milliseconds per inference minibatch of size b', positiveNumber)
    .option('--infer-power-w <w>', 'one stream: pI, mean watts while inferring', nonNegativeNumber)
    .option('--stream-name <name>', 'one stream: its name', 'stream0')
    .option('--stream <spec>', 'a stream as name=..,rate=..,latency=..,batch=..,time_ms=..,power_w=.. (repeat for K streams)', collect)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  fulcrum model --train-batch 16 --train-time-ms 200 --train-power-w 30 \\\n' +
        '      --rate 20 --latency 0.5 --batch 4 --infer-time-ms 50 --infer-power-w 25 --power 35\n' +
        '  fulcrum model --train-batch 32 --train-time-ms 400 --train-power-w 40 --power 50 --semantics average \\\n' +
        '      --stream name=a,rate=10,latency=1,batch=2,time_ms=40,power_w=35 \\\n' +
        '      --stream name=b,rate=50,latency=0.6,batch=8,time_ms=80,power_w=45 --json\n',
    )
    .action((o: ModelOptions) => {
      let mode: PowerMode | undefined;
      try {
        const device = getDevice(o.device, '--device');
        if (o.mode !== undefined) {
          mode = parsePowerMode(o.mode, '--mode');
          assertOnGrid(mode, device.grid, device.id, '--mode');
        }
      } catch (err) {
        throw asUsageError(err);
      }
      const point: OperatingPoint = {
        trainBatchSize: o.trainBatch,
        training: { timeS: o.trainTimeMs / 1000, powerW: o.trainPowerW },
        streams: streamsFromOptions(o),
      };
      const names = new Set<string>();
      for (const s of point.streams) {
        if (names.has(s.name)) throw new UsageError(`--stream: duplicate stream name ${JSON.stringify(s.name)}`);
        names.add(s.name);
      }
      try {
        assertOperatingPoint(point);
        requirePowerBudgetW('--power', o.power);
        // λ and L within a problem's limits (SPEC §2), named as typed.
        point.streams.forEach((s, i) => {
          requireArrivalRatePerS(o.stream?.length ? `--stream #${i + 1} rate` : '--rate', s.arrivalRatePerS);
          requireLatencyBudgetS(o.stream?.length ? `--stream #${i + 1} latency` : '--latency', s.latencyBudgetS);
        });
      } catch (err) {
        throw asUsageError(err);
      }
      const evaluation = evaluate(point, { powerBudgetW: o.power, powerSemantics: o.semantics });
      const report = modelReport(o.device, mode, point, evaluation, o.power);
      io.stdout(o.json ? JSON.stringify(report, null, 2) + '\n' : formatModelReport(report));
    });
}
