import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { POWER_SEMANTICS, deviceIds, formatPowerMode, requireArrivalRatePerS, requireLatencyBudgetS, validateProblem, type PowerSemantics, type Problem } from '@fulcrum/core';
import { createVirtualDevice, type ProfileTable, type VirtualWorkloadSpec } from '@fulcrum/devices';
import {
  FrontReplanner,
  alsFront,
  backendModes,
  backendTimeSource,
  constantRates,
  parseRateTrace,
  planFromFront,
  profiledModes,
  runScaled,
  SimulationLimitError,
  simulate,
  tableTimeSource,
  traceArrivals,
  withRates,
  type RateTrace,
  type SimulationReport,
  type TimelinePoint,
} from '@fulcrum/executor/internal';
import type { CliIo } from '../io.js';
import { writeTimelinePlot } from './timeline-plot.js';
import { UsageError, asUsageError, collect, nonNegativeNumber, oneOf, positiveInteger, positiveNumber } from '../usage.js';
import { parseKeyValues } from '../parse.js';
import { loadProfileFile } from '../profile-file.js';
import { addWorkloadsOption, checkWorkloadKind, openRegistry, userVirtualWorkloads } from '../workloads.js';

interface SimulateOptions {
  profiles?: string;
  /** The old name of --profiles (hidden; still accepted). */
  profile?: string;
  front: 'als' | 'grid';
  alsBudget: number;
  grid: string;
  device: string;
  train?: string;
  /** The old name of --train (hidden; still accepted). */
  trainWorkload?: string;
  trainBatch?: number;
  power: number;
  semantics: PowerSemantics;
  stream: string[];
  trace?: string;
  duration: number;
  arrivals: 'even' | 'poisson';
  seed: number;
  scale: number;
  rateWindow: number;
  replanThreshold: number;
  replan: boolean;
  timeline?: string;
  plot?: string;
  json?: boolean;
  workloads?: string[];
}

const STREAM_KEYS = ['name', 'workload', 'rate', 'latency', 'batches'] as const;

function parseSimStream(spec: string, index: number): { name: string; workload: string; rate?: number; latency: number; batches?: number[] } {
  const flag = `--stream #${index + 1}`;
  const values: Map<string, string> = parseKeyValues(spec, flag, STREAM_KEYS);
  const num = (key: string, parse: (t: string) => number): number | undefined => {
    const text = values.get(key);
    if (text === undefined) return undefined;
    try {
      return parse(text);
    } catch (err) {
      throw new UsageError(`${flag} ${key}: ${(err as Error).message.replace(/\.$/, '')}, got ${JSON.stringify(text)}`);
    }
  };
  const workload = values.get('workload');
  if (!workload) throw new UsageError(`${flag}: missing workload=...`);
  const latency = num('latency', positiveNumber);
  if (latency === undefined) throw new UsageError(`${flag}: missing latency=... (seconds)`);
  const rate = num('rate', positiveNumber);
  // Within a problem's limits (SPEC §2), named as typed: the problem would name only `--stream`.
  try {
    requireLatencyBudgetS(`${flag} latency`, latency);
    if (rate !== undefined) requireArrivalRatePerS(`${flag} rate`, rate);
  } catch (err) {
    throw asUsageError(err);
  }
  const batches = values.get('batches')?.split('/').map((b, i) => {
    try {
      return positiveInteger(b);
    } catch {
      throw new UsageError(`${flag} batches: item ${i + 1} must be a positive integer, got ${JSON.stringify(b)} (separate sizes with '/')`);
    }
  });
  return { name: values.get('name') ?? `stream${index}`, workload, latency, ...(rate !== undefined ? { rate } : {}), ...(batches ? { batches } : {}) };
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function timelineCsv(points: readonly TimelinePoint[]): string {
  const head = 't_s,stream,plan_id,arrival_rate_per_s,measured_rate_per_s,batch_size,latency_p99_s,latency_max_s,latency_budget_s,train_throughput_samples_per_s';
  const rows = points.map((p) =>
    [p.tS, p.stream, p.planId, p.arrivalRatePerS, p.measuredRatePerS.toFixed(3), p.batchSize, Number.isNaN(p.latencyP99S) ? '' : p.latencyP99S.toFixed(6), Number.isNaN(p.latencyMaxS) ? '' : p.latencyMaxS.toFixed(6), p.latencyBudgetS, p.trainThroughputSamplesPerS.toFixed(3)].join(','),
  );
  return [head, ...rows].join('\n') + '\n';
}

export function formatSimulationReport(r: SimulationReport, mode: string): string {
  const lines: string[] = [];
  lines.push(`${mode}: ${r.durationS.toFixed(0)} s of device time in ${r.wallS.toFixed(2)} s of wall time; ${r.plans.length} plan(s), ${r.replanRequests} re-plan request(s)`);
  for (const p of r.plans) {
    const b = Object.entries(p.plan.batchSizes).map(([s, v]) => `${s}:b=${v}`).join(' ');
    const rates = p.problem.streams.map((s) => `${s.name}:λ=${s.arrivalRatePerS.toFixed(1)}`).join(' ');
    lines.push(`  t=${p.atS.toFixed(1)} s  ${p.plan.planId}  mode ${p.plan.mode ? formatPowerMode(p.plan.mode) : '-'}  ${b}  (${rates})  predicted X ${p.plan.predictedTrainThroughputSamplesPerS?.toFixed(1) ?? '-'}`);
  }
  const t = new Table({ head: ['stream', 'arrivals', 'answered', 'errors', 'late', 'partial', 'p50 s', 'p99 s', 'max s', 'L s', 'p99 ≤ L'], style: { head: [], border: [] } });
  for (const s of r.streams) {
    const errors = Object.entries(s.failed).map(([k, v]) => `${k}:${v}`).join(' ') || '0';
    t.push([s.stream, s.arrivals, s.completed, errors, s.late, s.partialMinibatches, s.latency.p50S.toFixed(4), s.latency.p99S.toFixed(4), s.latency.maxS.toFixed(4), s.latencyBudgetS, s.latency.p99S <= s.latencyBudgetS ? 'yes' : 'NO']);
  }
  lines.push(t.toString());
  lines.push(`training: ${r.trainMinibatches} minibatches, ${r.trainThroughputSamplesPerS.toFixed(2)} samples/s; inference GPU share ${r.utilization.toFixed(3)}; every request answered: ${r.allAnswered ? 'yes' : 'NO'}`);
  return lines.join('\n') + '\n';
}

export function registerSimulateCommand(program: Command, io: CliIo): void {
  const command = program
    .command('simulate')
    .description(
      'Simulate the executor on the virtual Jetson (@fulcrum/devices) or on a profile table (SPEC §3 CSV): arrivals at constant rates or from a rate trace, ' +
        'the SPEC §2 policy with the deadline rule, re-planning from the table’s modes when rates move. Event-driven by default (hours in seconds); ' +
        '--scale N runs the real executor on a clock N× faster than the host.',
    )
    .option('--profiles <csv>', 'a profile table (device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w) instead of the virtual device')
    // The names simulate had before it took solve's and bench's: still accepted, not shown.
    .addOption(new Option('--profile <csv>').hideHelp())
    .addOption(new Option('--train-workload <id>').hideHelp());
  addWorkloadsOption(command)
    .addOption(new Option('--front <als|grid>', 'virtual device: plan among the modes ALS profiles (als) or among every mode of --grid (grid)').argParser(oneOf(['als', 'grid'] as const)).default('als'))
    .addOption(new Option('--als-budget <modes>', 'modes ALS profiles (50–150)').argParser(positiveInteger).default(100))
    .option('--grid <name>', 'with --front grid: the (sub-)grid profiled once and planned from (441, 4368, full)', '441')
    .addOption(new Option('--device <id>', `device of the table rows to use (${deviceIds().join(', ')})`).default('orin-agx'))
    .option('--train <workload>', 'training workload (as in the table; on the virtual device a built-in or one of --workloads)')
    .option('--train-batch <n>', 'training minibatch size bT (default: the workload’s)', positiveInteger)
    .requiredOption('--power <w>', 'power budget P in watts', positiveNumber)
    .addOption(new Option('--semantics <peak|average>', 'how power is judged').argParser(oneOf(POWER_SEMANTICS)).default('peak'))
    .requiredOption('--stream <spec>', 'a stream as name=..,workload=..,latency=..[,rate=..][,batches=1/2/4/8] (repeat for K streams)', collect)
    .option('--trace <file>', 'rate trace: CSV time_s,stream,rate_per_s or JSON {"stream": [[time_s, rate], ...]} (overrides rate=)')
    .addOption(new Option('--duration <s>', 'device seconds of arrivals').argParser(positiveNumber).default(3600))
    .addOption(new Option('--arrivals <even|poisson>', 'arrival process').argParser(oneOf(['even', 'poisson'] as const)).default('poisson'))
    .addOption(new Option('--seed <n>', 'arrival seed').argParser(positiveInteger).default(1))
    .addOption(new Option('--scale <x>', '0: event-driven (virtual time); > 0: the real executor, device time x× faster than the host').argParser(nonNegativeNumber).default(0))
    .addOption(new Option('--rate-window <s>', 'sliding window of the measured arrival rate').argParser(positiveNumber).default(10))
    .addOption(new Option('--replan-threshold <fraction>', 're-plan when a measured rate moves this far from the plan’s').argParser(positiveNumber).default(0.25))
    .option('--no-replan', 'keep the first plan whatever the rates do')
    .option('--timeline <csv>', 'write the timeline (rate, batch size, latency, training throughput per bucket) as CSV')
    .option('--plot <file.svg|file.png>', 'write the timeline plot (rate, batch size, latency, training throughput over time)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  fulcrum simulate --profiles orin.csv --train resnet18 --power 40 \\\n' +
        '      --stream name=cam,workload=mobilenet,latency=0.5 --trace rates.csv --duration 3600 --timeline timeline.csv\n' +
        '  fulcrum simulate --workloads examples/workloads --train digits-classifier --power 20 \\\n' +
        '      --stream name=cam,workload=digits-onnx,rate=20,latency=0.2 --duration 600\n',
    )
    .action(async (o: SimulateOptions, cmd: Command) => {
      const deviceGiven = cmd.getOptionValueSource('device') === 'cli';
      if (o.profile !== undefined && o.profiles !== undefined) throw new UsageError('--profiles: give it once (--profile is its old name)');
      if (o.trainWorkload !== undefined && o.train !== undefined) throw new UsageError('--train: give it once (--train-workload is its old name)');
      const profiles = o.profiles ?? o.profile;
      const trainWorkload = o.train ?? o.trainWorkload;
      if (trainWorkload === undefined) throw new UsageError('--train: name the workload to train');
      const specs = o.stream.map(parseSimStream);
      if (o.plot !== undefined && !/\.(svg|png)$/i.test(o.plot)) throw new UsageError(`--plot: the file must end in .svg or .png, got ${JSON.stringify(o.plot)}`);
      let table: ProfileTable | undefined;
      if (profiles !== undefined) {
        try {
          table = await loadProfileFile(profiles, o.profiles !== undefined ? '--profiles' : '--profile');
        } catch (err) {
          throw asUsageError(err);
        }
      }
      let trace: RateTrace;
      if (o.trace) {
        try {
          trace = parseRateTrace(readText(o.trace, '--trace'), '--trace');
        } catch (err) {
          throw asUsageError(err);
        }
        for (const s of specs) if (!trace[s.name]) throw new UsageError(`--trace: no rows for stream ${JSON.stringify(s.name)}`);
      } else {
        const missing = specs.find((s) => s.rate === undefined);
        if (missing) throw new UsageError(`--stream ${missing.name}: give rate=... or a --trace`);
        trace = constantRates(Object.fromEntries(specs.map((s) => [s.name, s.rate!])));
      }
      const registry = openRegistry(o.workloads);
      let userWorkloads: VirtualWorkloadSpec[] = [];
      if (!table) {
        // The virtual Jetson: the user's folders the problem names become workloads of the board,
        // each served at its manifest's batch sizes unless batches= says otherwise.
        checkWorkloadKind(registry, trainWorkload, 'train', '--train');
        specs.forEach((s) => checkWorkloadKind(registry, s.workload, 'infer', `--stream ${s.name}`));
        userWorkloads = userVirtualWorkloads(registry, [trainWorkload, ...specs.map((s) => s.workload)]);
        for (const s of specs) {
          const f = registry.userFolders().find((x) => x.manifest.name === s.workload);
          if (!s.batches && f?.manifest.infer) s.batches = [...f.manifest.infer.batchSizes];
        }
      }
      let problem: Problem;
      try {
        problem = validateProblem({
          // A table of a device of its own: its device, unless --device says otherwise.
          device: table?.ownGrid && !deviceGiven ? table.deviceId : o.device,
          trainWorkload,
          ...(o.trainBatch ? { trainBatchSize: o.trainBatch } : {}),
          powerBudgetW: o.power,
          powerSemantics: o.semantics,
          streams: specs.map((s) => ({
            name: s.name,
            workload: s.workload,
            arrivalRatePerS: trace[s.name]!.find((seg) => seg.ratePerS > 0)?.ratePerS ?? 1,
            latencyBudgetS: s.latency,
            ...(s.batches ? { candidateBatchSizes: s.batches } : {}),
          })),
        }, table ? table.catalog() : registry.catalog());
      } catch (err) {
        const flags: Record<string, string> = { device: '--device', trainWorkload: '--train', trainBatchSize: '--train-batch', powerBudgetW: '--power' };
        throw asUsageError(err, (field) => flags[field] ?? (field.startsWith('streams') ? '--stream' : undefined));
      }
      let front;
      let times;
      if (table) {
        front = profiledModes(table, problem);
        times = tableTimeSource(table, problem);
        if (front.length === 0) {
          throw new UsageError(`--profile: no mode of device ${problem.device} has a train row for ${problem.trainWorkload} at batch ${problem.trainBatchSize}`);
        }
      } else {
        // The virtual Jetson: the grid's modes are profiled once (with the model's seeded noise) and
        // every plan and re-plan is chosen among them; minibatches run at the noise-free times.
        const device = createVirtualDevice(problem.device, { seed: o.seed, ...(userWorkloads.length ? { workloads: userWorkloads } : {}) });
        if (o.front === 'als') {
          const profiled = alsFront(device, problem, { budget: o.alsBudget, seed: o.seed });
          front = profiled.modes;
          io.stderr(`fulcrum: ALS profiled ${profiled.modesProfiled} modes (${profiled.profilingSeconds.toFixed(0)} s of profiling on a board); re-plans use only these\n`);
        } else {
          try {
            front = backendModes(device, problem, o.grid);
          } catch (err) {
            throw asUsageError(err, (field) => (field === 'grid' ? '--grid' : undefined));
          }
        }
        times = backendTimeSource(device, problem);
      }
      const frontName = table ? 'table' : o.front === 'als' ? `als-${o.alsBudget}` : `grid-${o.grid}`;
      let first;
      try {
        first = planFromFront(problem, front, frontName);
      } catch (err) {
        throw new UsageError(`${table ? '--profiles' : '--grid'}: ${(err as Error).message}`);
      }
      if (!first.evaluation.feasible) io.stderr(`fulcrum: warning: the first plan is ${first.verdict}\n`);
      const replanner = o.replan ? new FrontReplanner(problem, front, frontName) : undefined;
      const common = {
        problem: withRates(problem, {}),
        plan: first.plan,
        times,
        arrivals: traceArrivals(trace, { process: o.arrivals, durationS: o.duration, seed: o.seed }),
        durationS: o.duration,
        ...(replanner ? { replanner } : {}),
        rateWatch: { windowS: o.rateWindow, replanThreshold: o.replanThreshold },
        timelineBucketS: Math.max(o.duration / 120, 0.01),
      };
      let report;
      try {
        report = o.scale > 0 ? await runScaled({ ...common, scale: o.scale }) : await simulate(common);
      } catch (err) {
        if (err instanceof SimulationLimitError) throw new UsageError(`--duration: the simulation ${err.message}`);
        throw err;
      }
      if (o.timeline) writeFileSync(o.timeline, timelineCsv(report.timeline));
      if (o.plot) {
        await writeTimelinePlot(o.plot, report.timeline, `fulcrum simulate: ${problem.trainWorkload} training, ${problem.streams.map((s) => s.name).join(', ')}`);
      }
      if (o.json) io.stdout(JSON.stringify({ ...report, timeline: undefined, firstPlanVerdict: first.verdict }, null, 2) + '\n');
      else io.stdout(formatSimulationReport(report, o.scale > 0 ? `time-scaled ×${o.scale}` : 'event-driven'));
    });
}


