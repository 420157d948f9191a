/**
 * `fulcrum solve` — one problem, one strategy: the plan (power mode, batch sizes), its predicted
 * figures, what it cost to find, and, on a backend with ground truth, how the plan really does.
 */
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { POWER_SEMANTICS, formatPowerMode, validateProblem, type PowerSemantics, type Problem } from '@fulcrum/core';
import { DEFAULT_NOISE, DEFAULT_SEED, SyntheticFamilyDevice, createTableBackend, createVirtualDevice, loadProfileTable, parseFamilyDevice, virtualDeviceIds, type ProfileTable, type TableBackend, type VirtualWorkloadSpec } from '@fulcrum/devices';
import { Planner, fromDeviceBackend, getStrategy, renderPlan, NO_MARGINS, strategyNames, type Plan } from '@fulcrum/strategies';
import { ModeScore, Objective, scoreAssignment, tableKeyOf } from '@fulcrum/strategies/internal';
import type { CliIo } from '../io.js';
import { UsageError, asUsageError, collect, oneOf, positiveInteger, positiveNumber } from '../usage.js';
import { parseBatchSizes, parseKeyValues, parseNoise, parseSeed, parseTargetProbability } from '../parse.js';
import { solveOnRemote } from './solve-remote.js';
import { localPlotInput, plotFormat, writePlanPlot } from './plan-plot.js';
import { addWorkloadsOption, checkWorkloadKind, openRegistry, userVirtualWorkloads } from '../workloads.js';

interface SolveOptions {
  device?: string;
  profiles?: string;
  train: string;
  trainBatch?: number;
  infer?: string;
  rate?: number;
  latency?: number;
  stream?: string[];
  batchSizes?: number[];
  power: number;
  semantics: PowerSemantics;
  strategy: string;
  noise: number;
  seed: number;
  targetProbability?: number;
  json?: boolean;
  plot?: string;
  remote?: string;
  board?: string;
  token?: string;
  tls?: boolean;
  tlsCa?: string;
  workloads?: string[];
}

const STREAM_KEYS = ['name', 'workload', 'rate', 'latency'] as const;

/** `workload=yolov8n,rate=10,latency=0.5[,name=cam]`. */
function parseStream(spec: string, index: number): { name?: string; workload?: string; arrivalRatePerS?: number; latencyBudgetS?: number } {
  const flag = `--stream #${index + 1}`;
  const values: Map<string, string> = parseKeyValues(spec, flag, STREAM_KEYS);
  const num = (k: 'rate' | 'latency'): number | undefined => {
    const t = values.get(k);
    if (t === undefined) throw new UsageError(`${flag}: missing ${k}=...`);
    try {
      return positiveNumber(t);
    } catch (err) {
      throw new UsageError(`${flag} ${k}: ${(err as Error).message.replace(/\.$/, '')}, got ${JSON.stringify(t)}`);
    }
  };
  if (!values.has('workload')) throw new UsageError(`${flag}: missing workload=...`);
  return { ...(values.has('name') ? { name: values.get('name')! } : {}), workload: values.get('workload')!, arrivalRatePerS: num('rate')!, latencyBudgetS: num('latency')! };
}

/** Maps core's problem fields to the flags a user typed. */
function flagFor(field: string, multi: boolean): string | undefined {
  if (field === 'device') return '--device';
  if (field === 'trainWorkload') return '--train';
  if (field === 'trainBatchSize') return '--train-batch';
  if (field === 'powerBudgetW') return '--power';
  const m = /^streams\[(\d+)\]\.(\w+)/.exec(field);
  if (!m) return undefined;
  // --batch-sizes is one flag for every stream.
  if (m[2] === 'candidateBatchSizes') return '--batch-sizes';
  if (multi) {
    const key = ({ workload: 'workload', arrivalRatePerS: 'rate', latencyBudgetS: 'latency', name: 'name' } as Record<string, string>)[m[2]!];
    return `--stream #${Number(m[1]) + 1}${key ? ` ${key}` : ''}`;
  }
  return { workload: '--infer', arrivalRatePerS: '--rate', latencyBudgetS: '--latency', name: '--stream' }[m[2]!];
}

/**
 * The virtual board (with the user's workloads `workloads`, from `userVirtualWorkloads`) or the
 * profile table of `--profiles` (its own workloads: `workloads` adds nothing to a table).
 */
export async function openSolveBackend(o: { device?: string; profiles?: string; noise: number; seed: number }, noiseGiven: boolean, workloads: readonly VirtualWorkloadSpec[] = []) {
  if (o.profiles !== undefined && o.device !== undefined) throw new UsageError('--profiles: give either --device (virtual device) or --profiles (a profile table), not both');
  if (o.profiles !== undefined) {
    let table;
    try {
      table = await loadProfileTable(o.profiles);
    } catch (err) {
      throw new UsageError(`--profiles: cannot read ${o.profiles}: ${(err as Error).message}`);
    }
    return fromDeviceBackend(createTableBackend(table, { name: o.profiles, noise: noiseGiven ? o.noise : 0, seed: o.seed }));
  }
  let variants: number[] | undefined;
  try {
    variants = o.device === undefined ? undefined : parseFamilyDevice(o.device);
  } catch (err) {
    throw new UsageError(`--device: ${(err as Error).message.replace(/^device: /, '')}`);
  }
  if (variants !== undefined) {
    // One variant of the synthetic family (the bench's family:N), to look at one of its problems.
    if (variants.length !== 1) throw new UsageError(`--device: solve runs on one device; give one variant (family:${variants[0]}), not a range`);
    if (workloads.length > 0) throw new UsageError('--device family:N: the synthetic family runs the built-in workloads only (no --workloads)');
    return fromDeviceBackend(new SyntheticFamilyDevice('orin-agx', { variant: variants[0]!, noise: o.noise, seed: o.seed }));
  }
  if (o.device !== undefined && !virtualDeviceIds().includes(o.device)) {
    throw new UsageError(`--device: unknown virtual device ${JSON.stringify(o.device)}; known: ${virtualDeviceIds().join(', ')}, or family:N (a synthetic variant)`);
  }
  return fromDeviceBackend(createVirtualDevice(o.device ?? 'orin-agx', { noise: o.noise, seed: o.seed, ...(workloads.length ? { workloads } : {}) }));
}

/** The table has training rows for the problem's bT and inference rows for every stream's workload. */
function checkTableHolds(table: ProfileTable, description: string, problem: Problem, multi: boolean): void {
  const trained = table.batchSizes(problem.trainWorkload, 'train');
  if (!trained.includes(problem.trainBatchSize)) {
    throw new UsageError(
      trained.length === 0
        ? `--train: ${description} has no training rows for ${problem.trainWorkload}${table.workloads().some((w) => table.batchSizes(w, 'train').length > 0) ? ` (it trains ${table.workloads().filter((w) => table.batchSizes(w, 'train').length > 0).join(', ')})` : ''}`
        : `--train-batch: ${description} has no ${problem.trainWorkload} training rows at batch ${problem.trainBatchSize} (it has ${trained.join(', ')})`,
    );
  }
  for (const s of problem.streams) {
    const served = table.batchSizes(s.workload, 'infer');
    if (served.length === 0) throw new UsageError(`${multi ? '--stream' : '--infer'}: ${description} has no inference rows for ${s.workload}`);
    const missing = s.candidateBatchSizes.filter((b) => !served.includes(b));
    if (missing.length > 0) throw new UsageError(`--batch-sizes: ${description} has no ${s.workload} inference rows at batch ${missing.join(', ')} (it has ${served.join(', ')})`);
  }
}

export interface SolveReport {
  strategy: string;
  backend: string;
  problem: Problem;
  plan: {
    mode: string;
    batchSizes: Record<string, number>;
    feasible: boolean;
    withinSafetyMargins: boolean;
    verdict: string;
    trainThroughputSamplesPerS: number;
    powerW: number;
    utilization: number;
    latencyBoundsS: Record<string, number>;
  };
  cost: Plan['cost'];
  /** The plan on the noise-free ground truth (virtual devices and profile tables). */
  groundTruth?: { feasible: boolean; trainThroughputSamplesPerS: number; oracleThroughputSamplesPerS: number | null; ratio: number | null; verdict: string };
}

function formatReport(r: SolveReport): string {
  const lines: string[] = [];
  lines.push(`strategy ${r.strategy} on ${r.backend}`);
  lines.push(`plan: mode ${r.plan.mode} (cores, CPU MHz, GPU MHz, EMC MHz); batch sizes ${Object.entries(r.plan.batchSizes).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  const t = new Table({ head: ['stream', 'batch', 'chosen among', 'latency bound s', 'budget s'], style: { head: [], border: [] } });
  for (const s of r.problem.streams) t.push([s.name, r.plan.batchSizes[s.name]!, s.candidateBatchSizes.join(','), r.plan.latencyBoundsS[s.name]!.toFixed(4), s.latencyBudgetS]);
  lines.push(t.toString());
  lines.push(`predicted: X = ${r.plan.trainThroughputSamplesPerS.toFixed(2)} samples/s, ${r.problem.powerSemantics} power ${r.plan.powerW.toFixed(2)} W (budget ${r.problem.powerBudgetW} W), GPU utilisation ρ = ${r.plan.utilization.toFixed(3)}`);
  lines.push(`verdict: ${r.plan.verdict}${r.plan.feasible && !r.plan.withinSafetyMargins ? ' (inside the noise safety margin: no mode met the budgets with margin to spare)' : ''}`);
  const again = r.cost.remeasures > 0 ? ` + ${r.cost.remeasures} re-measure${r.cost.remeasures === 1 ? '' : 's'}` : '';
  // ALS's front (or random-k's sample) and, where none of it met this problem, the modes its answer added.
  const own = r.cost.modesProfiled - r.cost.keyModes;
  const split = r.cost.keyModes > 0 && own > 0 ? ` (${r.cost.keyModes} for the key, which its other problems reuse; ${own} for this problem)` : '';
  lines.push(`cost: ${r.cost.modesProfiled} modes profiled${split}${again}, ${r.cost.profilingSeconds.toFixed(0)} s of profiling, ${r.cost.optimizerMs.toFixed(1)} ms optimizer time`);
  if (r.groundTruth) {
    const g = r.groundTruth;
    lines.push(
      `ground truth: ${g.feasible ? 'feasible' : 'INFEASIBLE'}, X = ${g.trainThroughputSamplesPerS.toFixed(2)} samples/s` +
        (g.oracleThroughputSamplesPerS !== null ? `; oracle X* = ${g.oracleThroughputSamplesPerS.toFixed(2)}, X/X* = ${g.ratio!.toFixed(3)}` : '; the oracle finds no feasible plan either'),
    );
  }
  return lines.join('\n') + '\n';
}

export function registerSolveCommand(program: Command, io: CliIo): void {
  addWorkloadsOption(
    program
      .command('solve')
      .description('Find a plan (power mode and inference batch sizes) for one problem with one strategy, profiling a virtual device or a profile table.')
      .addOption(new Option('--device <id>', `virtual device (${virtualDeviceIds().join(', ')}), or family:N — variant N of the bench's synthetic family (not a measured board); default orin-agx`))
      .option('--profiles <file.csv>', 'a profile table (SPEC §3 CSV) instead of a virtual device'),
  )
    .requiredOption('--train <workload>', 'training workload (a built-in or one of --workloads)')
    .option('--train-batch <n>', "training minibatch size bT (default: the workload's)", positiveInteger)
    .option('--infer <workload>', 'one stream: inference workload')
    .option('--rate <per_s>', 'one stream: arrival rate λ (requests/s)', positiveNumber)
    .option('--latency <s>', 'one stream: latency budget L (s)', positiveNumber)
    .option('--stream <spec>', 'a stream as workload=..,rate=..,latency=..[,name=..] (repeat for K streams)', collect)
    .option('--batch-sizes <list>', 'candidate inference batch sizes (default 1,2,4,8,16,32,64)', parseBatchSizes)
    .requiredOption('--power <w>', 'power budget P (W)', positiveNumber)
    .addOption(new Option('--semantics <peak|average>', 'how power is judged').argParser(oneOf(POWER_SEMANTICS)).default('peak'))
    .addOption(new Option('--strategy <name>', `strategy (${strategyNames().join(', ')}; als = als-100)`).default('gmd'))
    .addOption(new Option('--noise <x>', 'virtual device measurement noise (0, "default" = 2.5%, or a fraction)').argParser(parseNoise).default(DEFAULT_NOISE))
    .addOption(new Option('--seed <n>', 'noise seed').argParser(parseSeed).default(DEFAULT_SEED))
    .addOption(new Option('--target-probability <p>', 'one-sided probability the plan\'s constraints hold on the truth: margins are z·SE of each mode\'s measurements, default 0.975 (SPEC §4; with --remote the optimizer\'s margins.targetProbability decides)').argParser(parseTargetProbability))
    .option('--json', 'print the result as JSON')
    .option('--plot <file.svg|png>', 'also draw the plan: the profiled modes, their front and the true one where known, the budgets, the chosen plan')
    .option('--remote <host:port>', 'solve on a running optimizer service (fulcrum serve) instead of in this process')
    .option('--board <id>', "with --remote: plan for this board (fulcrum boards lists them): the problem's device is its model, and the plan goes to its executor")
    .addOption(new Option('--token <token>', 'with --remote: the bearer token the optimizer requires').env('FULCRUM_TOKEN'))
    .option('--tls', 'with --remote: connect with TLS (system roots)')
    .option('--tls-ca <file>', "with --remote: TLS, the optimizer's certificate signed by this CA")
    .addHelpText('after', '\nExamples:\n  fulcrum solve --train resnet18 --infer mobilenet --rate 30 --latency 0.5 --power 25\n  fulcrum solve --train bert-base --stream workload=mobilenet,rate=20,latency=0.4 --stream workload=yolov8n,rate=5,latency=1 --power 30 --strategy als-50 --json\n  fulcrum solve --remote 127.0.0.1:50054 --train resnet18 --infer mobilenet --rate 30 --latency 0.5 --power 25\n  fulcrum solve --workloads examples/workloads --train digits-classifier --infer digits-onnx --rate 20 --latency 0.2 --power 20\n')
    .action(async (o: SolveOptions, cmd: Command) => {
      let strategy;
      try {
        strategy = getStrategy(o.strategy, '--strategy');
      } catch (err) {
        throw asUsageError(err);
      }
      const single = [o.infer, o.rate, o.latency].some((v) => v !== undefined);
      if (o.stream?.length && single) throw new UsageError('--stream: give streams either with --stream or with --infer/--rate/--latency, not both');
      if (!o.stream?.length) {
        for (const [v, flag] of [
          [o.infer, '--infer'],
          [o.rate, '--rate'],
          [o.latency, '--latency'],
        ] as const) {
          if (v === undefined) throw new UsageError(`${flag} is required for the inference stream (or describe streams with --stream)`);
        }
      }
      const multi = Boolean(o.stream?.length);
      const streams = multi
        ? o.stream!.map(parseStream).map((s) => ({ ...s, ...(o.batchSizes ? { candidateBatchSizes: o.batchSizes } : {}) }))
        : [{ name: 'stream0', workload: o.infer!, arrivalRatePerS: o.rate!, latencyBudgetS: o.latency!, ...(o.batchSizes ? { candidateBatchSizes: o.batchSizes } : {}) }];
      if (o.remote !== undefined && o.workloads?.length) throw new UsageError('--workloads: with --remote the optimizer solves with the workloads it was started with (fulcrum serve … --workloads DIR)');
      if (o.remote !== undefined && o.targetProbability !== undefined) throw new UsageError('--target-probability: with --remote the optimizer\'s margins decide (its config margins.targetProbability)');
      if (o.remote !== undefined) return solveOnRemote({ ...o, remote: o.remote, strategy: strategy.name, streams, noiseGiven: cmd.getOptionValueSource('noise') === 'cli', seedGiven: cmd.getOptionValueSource('seed') === 'cli' }, io, (f) => flagFor(f, multi));
      if (o.board !== undefined) throw new UsageError('--board goes with --remote (a board is planned for by the optimizer that heard from it)');
      if (o.plot !== undefined) plotFormat(o.plot);
      const tokenGiven = o.token !== undefined && cmd.getOptionValueSource('token') === 'cli'; // FULCRUM_TOKEN in the environment is for --remote only
      if (tokenGiven || o.tls || o.tlsCa !== undefined) throw new UsageError(`${tokenGiven ? '--token' : o.tls ? '--tls' : '--tls-ca'} goes with --remote`);
      const registry = openRegistry(o.workloads);
      let userWorkloads: VirtualWorkloadSpec[] = [];
      if (o.profiles === undefined) {
        // The virtual board: the user's folders the problem names become workloads of the board.
        checkWorkloadKind(registry, o.train, 'train', '--train');
        streams.forEach((s, i) => s.workload !== undefined && checkWorkloadKind(registry, s.workload, 'infer', multi ? `--stream #${i + 1}` : '--infer'));
        userWorkloads = userVirtualWorkloads(registry, [o.train, ...streams.flatMap((s) => (s.workload !== undefined ? [s.workload] : []))]);
      }
      // Without --batch-sizes a stream gets its workload's own (a folder's infer.batch_sizes, a
      // table's rows; SPEC §2): the catalog's descriptor says which. A table's catalog is the
      // base (its own workloads and batch sizes); on a virtual board the registry's descriptors
      // are whole (the board's carry only what it simulates).
      const backend = await openSolveBackend(o, cmd.getOptionValueSource('noise') === 'cli', userWorkloads);
      const catalog = backend.source.type === 'table' ? registry.catalog(backend.source.catalog) : registry.catalog();
      if (backend.source.type === 'table') {
        // Names the table does not hold: say which it has (not every workload Fulcrum knows).
        const has = backend.source.workloads();
        const unknown = (w: string | undefined): boolean => w !== undefined && !has.includes(w) && !catalog.workloadIds().includes(w);
        if (unknown(o.train)) throw new UsageError(`--train: unknown workload ${JSON.stringify(o.train)}; ${backend.source.description} has ${has.join(', ')}`);
        streams.forEach((s, i) => {
          if (unknown(s.workload)) throw new UsageError(`${multi ? `--stream #${i + 1}` : '--infer'}: unknown workload ${JSON.stringify(s.workload)}; ${backend.source.description} has ${has.join(', ')}`);
        });
      }
      let problem: Problem;
      try {
        problem = validateProblem({ device: backend.deviceId, trainWorkload: o.train, ...(o.trainBatch ? { trainBatchSize: o.trainBatch } : {}), powerBudgetW: o.power, powerSemantics: o.semantics, streams }, catalog);
      } catch (err) {
        throw asUsageError(err, (f) => flagFor(f, multi));
      }
      for (const w of [problem.trainWorkload, ...problem.streams.map((s) => s.workload)]) {
        if (!backend.source.workloads().includes(w)) {
          const added = registry.userFolders().some((f) => f.manifest.name === w) ? ' (--workloads adds no workloads to a profile table: its rows decide)' : '';
          throw new UsageError(`${w === problem.trainWorkload ? '--train' : multi ? '--stream' : '--infer'}: ${backend.source.description} has no profiles for ${w}${added}`);
        }
      }
      if (backend.source.type === 'table') checkTableHolds((backend.source as TableBackend).table, backend.source.description, problem, multi);
      const planner = new Planner(backend, { seed: o.seed, ...(o.targetProbability !== undefined ? { targetProbability: o.targetProbability } : {}) });
      let plan: Plan;
      try {
        plan = planner.solveSync(strategy, problem);
      } catch (err) {
        // A table whose rows cannot host the problem (e.g. no mode holds both kinds): one line, no stack.
        if (o.profiles !== undefined && err instanceof Error) throw new UsageError(`--profiles ${o.profiles}: ${err.message}`);
        throw err;
      }
      const report: SolveReport = {
        strategy: strategy.name,
        backend: backend.source.description,
        problem,
        plan: {
          mode: formatPowerMode(plan.mode),
          batchSizes: Object.fromEntries(problem.streams.map((s, i) => [s.name, plan.batchSizes[i]!])),
          feasible: plan.feasible,
          withinSafetyMargins: plan.withinSafetyMargins,
          verdict: plan.verdict,
          trainThroughputSamplesPerS: plan.predicted.trainThroughputSamplesPerS,
          powerW: plan.predicted.powerW,
          utilization: plan.predicted.utilization,
          latencyBoundsS: Object.fromEntries(plan.predicted.streams.map((s) => [s.name, s.latencyBoundS])),
        },
        cost: plan.cost,
      };
      const truth = planner.store.truth(tableKeyOf(problem));
      if (truth) {
        const obj = new Objective(problem);
        const batchIndex = problem.streams.map((s, i) => s.candidateBatchSizes.indexOf(plan.batchSizes[i]!));
        const onTruth = scoreAssignment(truth, plan.modeIndex, batchIndex, obj, NO_MARGINS, new ModeScore(problem.streams.length));
        const oracle = planner.solveSync(getStrategy('oracle'), problem);
        const rendered = renderPlan(problem, truth, onTruth);
        report.groundTruth = {
          feasible: onTruth.feasible,
          trainThroughputSamplesPerS: onTruth.throughput,
          oracleThroughputSamplesPerS: oracle.feasible ? oracle.predicted.trainThroughputSamplesPerS : null,
          ratio: oracle.feasible ? (onTruth.feasible ? onTruth.throughput / oracle.predicted.trainThroughputSamplesPerS : 0) : null,
          verdict: rendered.verdict,
        };
      }
      if (o.plot !== undefined) {
        try {
          await writePlanPlot(o.plot, localPlotInput(planner, problem, plan), strategy.name, backend.source.description);
        } catch (err) {
          throw new UsageError(`--plot: cannot write ${o.plot}: ${(err as Error).message}`);
        }
      }
      io.stdout(o.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
      if (o.plot !== undefined && !o.json) io.stdout(`plot: ${o.plot}\n`);
    });
}

