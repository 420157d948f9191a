/**
 * `fulcrum demo` — Fulcrum end to end on a virtual Jetson Orin AGX, with nothing installed:
 *
 * 1. starts the embedded default — all four services in this process, over loopback gRPC (free
 *    ports), sharing an in-process bus, profiles in a SQLite file (a temp one unless
 *    `--store-path`);
 * 2. solves an example problem with GMD through the services (optimizer → profiler →
 *    device-controller + executor), showing each mode profiled;
 * 3. the optimizer applies the plan on the executor, which then runs it for `--duration-s` seconds
 *    of device time on a clock `--time-scale` times faster than real time, serving Poisson arrivals
 *    sent as inference requests on `fulcrum.<board>.infer.cam` while training in between;
 * 4. prints the plan, its cost (modes profiled, profiling seconds) and what the executor measured
 *    (latency p50/p99/max against the budget, training throughput against the prediction,
 *    requests answered and lost), then stops everything (the controller restores its mode).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { eventFilter, inferSubject, isErrorReply, powerSubject } from '@fulcrum/bus';
import { validateProblem, type Catalog, type Problem } from '@fulcrum/core';
import { makeFolders } from '@fulcrum/core/internal';
import { seededRandom, streamArrivals } from '@fulcrum/executor/internal';
import { executor as pb } from '@fulcrum/proto';
import { GrpcConnection, LOG_LEVELS, createLogger, type Logger } from '@fulcrum/runtime';
import type { CliIo } from '../io.js';
import { UsageError, asUsageError, oneOf, positiveInteger, positiveNumber } from '../usage.js';
import { checkOutputDir } from '../output-path.js';
import { loadAllConfigs, startAllServices, type RunningServices } from '../stack.js';
import { addWorkloadsOption, openRegistry, workloadPathsOf } from '../workloads.js';
import { expectedModes, progressReporter, remoteReport, remoteStrategy, solveRemote, type RemoteSolveReport } from './solve-remote.js';
import { remotePlotInput, writePlanPlot } from './plan-plot.js';
import { renderVegaLite, svgToPng, timelineSpec, type RunTimeline } from '@fulcrum/plot';

/** The example: ResNet-18 training next to a 30 req/s MobileNet camera stream, 0.5 s budget, 25 W. */
export const DEMO_PROBLEM = {
  device: 'orin-agx',
  trainWorkload: 'resnet18',
  powerBudgetW: 25,
  streams: [{ name: 'cam', workload: 'mobilenet', arrivalRatePerS: 30, latencyBudgetS: 0.5 }],
} as const;

export interface DemoOptions {
  /** Device seconds the plan runs with arrivals (default 60). */
  readonly durationS?: number;
  /** Device seconds per host second (default 10). */
  readonly timeScale?: number;
  readonly strategy?: string;
  /** Keep the profiles in this SQLite file (a second demo then profiles nothing); default a temp file. */
  readonly storePath?: string | undefined;
  readonly seed?: number;
  readonly logger: Logger;
  /** Progress while solving (the mode events), e.g. a progress bar. */
  readonly onProgress?: Parameters<typeof solveRemote>[1]['onProgress'];
  /** What the demo is doing now, one line at a time. */
  readonly onStep?: (text: string) => void;
  /** Draw the plan and the run's timeline into this folder (plan.svg/png, timeline.svg/png). */
  readonly plotDir?: string | undefined;
  /** Workload folders (or folders of them) the services take besides the built-in ones (`workloads.paths`). */
  readonly workloads?: readonly string[];
  /** The catalog the given problem's workloads are checked against (the registry's). */
  readonly catalog?: Catalog;
  /** The problem instead of DEMO_PROBLEM's (e.g. the user's workloads); checked by the optimizer's catalog. */
  readonly problem?: {
    readonly trainWorkload: string;
    readonly inferWorkload: string;
    readonly arrivalRatePerS: number;
    readonly latencyBudgetS: number;
    readonly powerBudgetW: number;
  };
}

export interface DemoStreamReport {
  stream: string;
  latencyBudgetS: number;
  sent: number;
  /** Replies received: results and explicit errors. */
  answered: number;
  results: number;
  /** Explicit error replies by code (deadline, shed, …). */
  errors: Record<string, number>;
  /** Requests that got no reply at all (must be 0). */
  lost: number;
  latencyP50S: number;
  latencyP99S: number;
  latencyMaxS: number;
  /** Results that came after the latency budget. */
  late: number;
  batchSize: number;
  withinBudget: boolean;
}

export interface DemoReport {
  device: string;
  services: { service: string; address: string }[];
  store: string;
  solve: RemoteSolveReport & { wallS: number };
  run: {
    durationS: number;
    timeScale: number;
    wallS: number;
    streams: DemoStreamReport[];
    trainThroughputSamplesPerS: number;
    predictedTrainThroughputSamplesPerS: number;
    utilization: number;
    meanBoardPowerW: number | null;
    powerBudgetW: number;
  };
  wallS: number;
  /** The files `plotDir` got. */
  plots?: string[];
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The demo's problem, checked (a ValidationError names the field): DEMO_PROBLEM, or the one given on its board. */
export function demoProblem(given?: DemoOptions['problem'], catalog?: Catalog): Problem {
  return given
    ? validateProblem(
        {
          device: DEMO_PROBLEM.device,
          trainWorkload: given.trainWorkload,
          powerBudgetW: given.powerBudgetW,
          streams: [{ name: 'cam', workload: given.inferWorkload, arrivalRatePerS: given.arrivalRatePerS, latencyBudgetS: given.latencyBudgetS }],
        },
        catalog,
      )
    : validateProblem({ ...DEMO_PROBLEM, streams: DEMO_PROBLEM.streams.map((s) => ({ ...s })) });
}

/** The demo's flag for a field of its problem (`fulcrum demo` names what the user typed). */
function demoFlag(field: string): string | undefined {
  return ({ trainWorkload: '--train', powerBudgetW: '--power', 'streams[0].workload': '--infer', 'streams[0].arrivalRatePerS': '--rate', 'streams[0].latencyBudgetS': '--latency' } as Record<string, string>)[field];
}

/** Runs the demo and returns its report; everything it started is stopped before it returns. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const wall0 = performance.now();
  const timeScale = options.timeScale ?? 10;
  const durationS = options.durationS ?? 60;
  const step = options.onStep ?? (() => undefined);
  const problem = demoProblem(options.problem, options.catalog);
  const tempDir = options.storePath ? undefined : mkdtempSync(join(tmpdir(), 'fulcrum-demo-'));
  const storePath = options.storePath ?? join(tempDir!, 'profiles.db');
  // Free loopback ports, no metrics listeners, nothing from FULCRUM_* env: the demo never collides
  // with services already running on this machine.
  const local = { 'grpc.port': 0, 'grpc.host': '127.0.0.1', 'metrics.port': -1 };
  const configs = loadAllConfigs([], options.workloads?.length ? { workloads: options.workloads.join(',') } : {}, {
    env: {},
    defaults: {
      'device-controller': { ...local, 'telemetry.publishIntervalMs': 100, ...(options.seed !== undefined ? { seed: options.seed } : {}) },
      // The executor's periodic telemetry computes latency percentiles on the event loop (a few ms
      // each); at 10–20× those ms become device tenths of a second, so the demo leaves it off.
      executor: { ...local, timeScale, 'executor.telemetryIntervalS': 0, ...(options.seed !== undefined ? { seed: options.seed } : {}) },
      profiler: { ...local, 'store.path': storePath },
      optimizer: { ...local, 'replan.auto': false },
    },
  });
  let running: RunningServices | undefined;
  try {
    running = await startAllServices(configs, options.logger);
    const bus = running.bus!;
    const optimizerAddress = running.optimizer!.address;
    step(`services: ${running.services.map((s) => `${s.service} ${s.address}`).join(', ')}`);

    const applied = new Set<string>();
    const appliedSub = bus.subscribe(eventFilter('plan.applied'), (m) => void applied.add(m.event.planId));
    const powerSamples: number[] = [];
    let sampling = false;
    // The timeline (for plotDir): device seconds since the run started.
    let runT0 = 0;
    const deviceNowS = (): number => ((performance.now() - runT0) / 1000) * timeScale;
    const timeline = { latencies: [] as { tS: number; stream: string; latencyS: number }[], power: [] as { tS: number; powerW: number }[], throughput: [] as { tS: number; samplesPerS: number }[] };
    const board = running.executor!.node.board;
    const telemetrySub = bus.subscribe(powerSubject(board), (m) => {
      if (!sampling) return;
      powerSamples.push(m.event.powerW);
      timeline.power.push({ tS: deviceNowS(), powerW: m.event.powerW });
    });
    await Promise.all([appliedSub.ready, telemetrySub.ready]);

    // ---- solve through the services
    const strategy = options.strategy ?? 'gmd';
    step(`solving with ${strategy.toUpperCase()} through the optimizer at ${optimizerAddress} (profiling the virtual board through the profiler) …`);
    const solveStart = performance.now();
    const result = await solveRemote(problem, { address: optimizerAddress, strategy, onProgress: options.onProgress, attempts: 1 });
    const solveWallS = (performance.now() - solveStart) / 1000;
    const report = remoteReport(problem, strategy, optimizerAddress, result);
    const plan = result.plan;
    if (!plan.feasible) step('the plan is infeasible: the optimizer does not apply it; running nothing');

    // ---- the executor runs the plan (the optimizer applied it before answering)
    const streams: DemoStreamReport[] = [];
    let trainX = 0;
    let utilization = 0;
    const runStart = performance.now();
    if (plan.feasible) {
      for (let i = 0; i < 500 && !applied.has(plan.planId); i++) await sleep(10);
      if (!applied.has(plan.planId)) throw new Error(`the executor did not announce plan ${plan.planId} on plan.applied`);
      step(`running the plan for ${durationS} s of device time (${(durationS / timeScale).toFixed(1)} s here, ${timeScale}× faster) with Poisson arrivals …`);
      const exec = running.executor!;
      const statusConn = new GrpcConnection(pb.ExecutorClient, { peer: 'executor', address: exec.address, token: configs.executor.grpc.token, timeoutMs: 5000 });
      const before = exec.executor!.status();
      sampling = true;
      const replies: Promise<void>[] = [];
      const perStream = new Map(problem.streams.map((s) => [s.name, { sent: 0, results: 0, errors: {} as Record<string, number>, lost: 0, latencies: [] as number[], late: 0 }]));
      const arrivals = problem.streams.map((s, k) => streamArrivals(s.name, [{ startS: 0, ratePerS: s.arrivalRatePerS }], { process: 'poisson', durationS, random: seededRandom(1000 + k + (options.seed ?? 0)) }));
      const queue = arrivals.flatMap((gen) => [...gen]).sort((a, b) => a.tS - b.tS);
      const t0 = performance.now();
      runT0 = t0;
      // Training throughput over the trailing 5 device seconds, sampled every device second, from
      // the executor's counters (a 1 s interval holds 3 or 4 minibatches: too coarse to read).
      const history = [{ nowS: before.nowS, minibatches: before.trainMinibatches }];
      const sampler = setInterval(() => {
        const s = exec.executor!.status();
        history.push({ nowS: s.nowS, minibatches: s.trainMinibatches });
        while (history.length > 2 && s.nowS - history[1]!.nowS >= 5) history.shift();
        const from = history[0]!;
        const dt = s.nowS - from.nowS;
        if (dt > 0) timeline.throughput.push({ tS: deviceNowS(), samplesPerS: ((s.trainMinibatches - from.minibatches) * problem.trainBatchSize) / dt });
      }, Math.max(50, 1000 / timeScale));
      let n = 0;
      for (const a of queue) {
        const dueMs = (a.tS / timeScale) * 1000;
        const wait = dueMs - (performance.now() - t0);
        if (wait > 1) await sleep(wait);
        const st = perStream.get(a.stream)!;
        st.sent++;
        const requestId = `demo-${++n}`;
        const budget = problem.streams.find((s) => s.name === a.stream)!.latencyBudgetS;
        replies.push(
          bus.request(inferSubject(board, a.stream), { requestId }, { timeoutMs: 10_000 }).then(
            (reply) => {
              if (isErrorReply(reply)) st.errors[reply.error.code] = (st.errors[reply.error.code] ?? 0) + 1;
              else {
                st.results++;
                st.latencies.push(reply.latencyS);
                timeline.latencies.push({ tS: a.tS, stream: a.stream, latencyS: reply.latencyS });
                if (reply.latencyS > budget * (1 + 1e-9)) st.late++;
              }
            },
            () => void st.lost++,
          ),
        );
      }
      const remainingMs = (durationS / timeScale) * 1000 - (performance.now() - t0);
      if (remainingMs > 0) await sleep(remainingMs);
      const after = exec.executor!.status();
      clearInterval(sampler);
      sampling = false;
      await Promise.all(replies);
      const deviceS = Math.max(1e-9, after.nowS - before.nowS);
      trainX = ((after.trainMinibatches - before.trainMinibatches) * problem.trainBatchSize) / deviceS;
      const status = await statusConn.unary<pb.StatusResponse>('Status', (c, md, o, cb) => c.status(pb.StatusRequest.fromPartial({}), md, o, cb)).finally(() => statusConn.close());
      utilization = status.utilization;
      for (const s of problem.streams) {
        const st = perStream.get(s.name)!;
        const ss = status.streams.find((x) => x.stream === s.name);
        const sorted = [...st.latencies].sort((x, y) => x - y);
        const answered = st.results + Object.values(st.errors).reduce((x, y) => x + y, 0);
        streams.push({
          stream: s.name,
          latencyBudgetS: s.latencyBudgetS,
          sent: st.sent,
          answered,
          results: st.results,
          errors: st.errors,
          lost: st.lost,
          latencyP50S: quantile(sorted, 0.5),
          latencyP99S: quantile(sorted, 0.99),
          latencyMaxS: sorted[sorted.length - 1] ?? 0,
          late: st.late,
          batchSize: ss?.batchSize ?? report.plan.batchSizes[s.name] ?? 0,
          withinBudget: st.lost === 0 && answered === st.sent && st.results > 0 && quantile(sorted, 0.99) <= s.latencyBudgetS * (1 + 1e-9),
        });
      }
    }
    const run = {
      durationS: plan.feasible ? durationS : 0,
      timeScale,
      wallS: (performance.now() - runStart) / 1000,
      streams,
      trainThroughputSamplesPerS: trainX,
      predictedTrainThroughputSamplesPerS: plan.predictedTrainThroughputSamplesPerS,
      utilization,
      meanBoardPowerW: powerSamples.length ? powerSamples.reduce((a, b) => a + b, 0) / powerSamples.length : null,
      powerBudgetW: problem.powerBudgetW,
    };
    appliedSub.unsubscribe();
    telemetrySub.unsubscribe();
    const services = running.services.map((s) => ({ service: s.service, address: s.address }));
    await running.close(1000);
    running = undefined;
    const plots = options.plotDir !== undefined ? await writeDemoPlots(options.plotDir, problem, strategy, optimizerAddress, result, { ...timeline, latencyBudgetsS: Object.fromEntries(problem.streams.map((s) => [s.name, s.latencyBudgetS])), powerBudgetW: problem.powerBudgetW, predictedThroughputSamplesPerS: plan.predictedTrainThroughputSamplesPerS }, run) : undefined;
    return { device: problem.device, services, store: options.storePath ?? 'a temporary SQLite file', solve: { ...report, wallS: solveWallS }, run, wallS: (performance.now() - wall0) / 1000, ...(plots ? { plots } : {}) };
  } finally {
    await running?.close(0).catch(() => undefined);
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

const f = (x: number, digits = 3): string => x.toFixed(digits);

/** The demo's plots: the plan (from the Solve's answer) and the run's timeline, each as SVG and PNG. */
async function writeDemoPlots(dir: string, problem: Problem, strategy: string, address: string, result: Awaited<ReturnType<typeof solveRemote>>, timeline: RunTimeline, run: DemoReport['run']): Promise<string[]> {
  makeFolders(dir);
  const written: string[] = [];
  for (const ext of ['svg', 'png']) {
    const file = join(dir, `plan.${ext}`);
    await writePlanPlot(file, remotePlotInput(problem, result.plan, result.cost, result.modes), strategy, `the demo's optimizer at ${address} (virtual orin-agx)`);
    written.push(file);
  }
  const answered = timeline.latencies.length;
  const spec = timelineSpec(timeline, {
    title: `the plan running: ${run.durationS} s of device time at ${run.timeScale}× on the virtual board`,
    subtitle: [
      `${problem.trainWorkload} training + ${problem.streams.map((s) => `${s.workload} at ${s.arrivalRatePerS}/s within ${s.latencyBudgetS} s`).join(', ')}; ${answered} requests answered`,
      `dashed: each stream's latency budget, the ${problem.powerBudgetW} W power budget, the plan's predicted ${run.predictedTrainThroughputSamplesPerS.toFixed(1)} samples/s; training X over the trailing 5 s`,
    ],
  });
  const { svg } = await renderVegaLite(spec);
  await writeFile(join(dir, 'timeline.svg'), svg);
  await writeFile(join(dir, 'timeline.png'), svgToPng(svg));
  written.push(join(dir, 'timeline.svg'), join(dir, 'timeline.png'));
  return written;
}

export function formatDemoReport(r: DemoReport): string {
  const s = r.solve;
  const p = s.problem;
  const lines: string[] = [];
  lines.push(`Fulcrum demo on a virtual Jetson Orin AGX (${r.device}): the four services in one process over loopback gRPC, events on an in-process bus, profiles in ${r.store}.`);
  lines.push('');
  lines.push(
    `problem: train ${p.trainWorkload} (batch ${p.trainBatchSize}) while serving ${p.streams.map((x) => `stream ${x.name} (${x.workload}, ${x.arrivalRatePerS} req/s, latency budget ${x.latencyBudgetS} s)`).join(', ')}; power budget ${p.powerBudgetW} W (${p.powerSemantics})`,
  );
  lines.push(`plan (${s.strategy}): power mode ${s.plan.mode} (cores, CPU MHz, GPU MHz, EMC MHz), batch sizes ${Object.entries(s.plan.batchSizes).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  lines.push(
    `  predicted: X = ${f(s.plan.trainThroughputSamplesPerS, 1)} samples/s, power ${f(s.plan.powerW, 1)} W, ${Object.entries(s.plan.latencyBoundsS).map(([k, v]) => `worst-case latency ${k} ${f(v)} s`).join(', ')}, ρ = ${f(s.plan.utilization)}; ${s.plan.verdict}`,
  );
  lines.push(
    `  cost: ${s.cost.modesProfiled} modes profiled (${s.cost.modesReused} reused) of the board's 18,096, ${f(s.cost.profilingSeconds, 1)} s of profiling on the board (switch + settle + minibatches; ${f(s.wallS, 1)} s here on the time-scaled virtual board)`,
  );
  if (r.run.durationS === 0) {
    lines.push('run: skipped (no feasible plan)');
  } else {
    lines.push(`run: ${r.run.durationS} s of device time (${f(r.run.wallS, 1)} s here, ${r.run.timeScale}× faster), Poisson arrivals; what the executor measured:`);
    for (const st of r.run.streams) {
      const errors = Object.entries(st.errors).map(([k, v]) => `${v} ${k}`).join(', ');
      lines.push(
        `  stream ${st.stream} (batch ${st.batchSize}): latency p50 ${f(st.latencyP50S)} s, p99 ${f(st.latencyP99S)} s, max ${f(st.latencyMaxS)} s vs budget ${st.latencyBudgetS} s; ${st.sent} requests, ${st.answered} answered (${st.results} results${errors ? `, ${errors}` : ''}; ${st.late} after the budget), ${st.lost} lost`,
      );
    }
    const ratio = r.run.predictedTrainThroughputSamplesPerS > 0 ? r.run.trainThroughputSamplesPerS / r.run.predictedTrainThroughputSamplesPerS : 0;
    lines.push(`  training: X = ${f(r.run.trainThroughputSamplesPerS, 1)} samples/s vs ${f(r.run.predictedTrainThroughputSamplesPerS, 1)} predicted (${f(ratio * 100, 0)} %); GPU share of inference ρ = ${f(r.run.utilization)}`);
    if (r.run.meanBoardPowerW !== null) lines.push(`  board power (device-controller telemetry): mean ${f(r.run.meanBoardPowerW, 1)} W (budget ${r.run.powerBudgetW} W)`);
    const held = r.run.streams.every((x) => x.withinBudget);
    lines.push(`verdict: ${held ? 'every latency budget held (p99), no request lost' : 'a budget was missed or a request went unanswered (see above)'}`);
  }
  lines.push(`done in ${f(r.wallS, 1)} s`);
  return lines.join('\n') + '\n';
}

interface DemoCliOptions {
  train?: string;
  infer?: string;
  rate: number;
  latency: number;
  power: number;
  durationS: number;
  timeScale: number;
  strategy: string;
  storePath?: string;
  seed?: number;
  logLevel?: string;
  json?: boolean;
  plot?: string;
  workloads?: string[];
}

export function registerDemoCommand(program: Command, io: CliIo): void {
  addWorkloadsOption(
    program
      .command('demo')
      .description('Fulcrum end to end on a virtual Jetson Orin AGX: the four services in this process, a GMD solve through them, the plan run by the executor.'),
  )
    .option('--train <workload>', 'train this workload instead of resnet18 (a built-in or one of --workloads; with --infer)')
    .option('--infer <workload>', 'serve the camera stream with this workload instead of mobilenet (with --train)')
    .addOption(new Option('--rate <per_s>', 'the camera stream\'s arrival rate λ, requests/s').argParser(positiveNumber).default(DEMO_PROBLEM.streams[0].arrivalRatePerS))
    .addOption(new Option('--latency <s>', 'the camera stream\'s latency budget L, seconds').argParser(positiveNumber).default(DEMO_PROBLEM.streams[0].latencyBudgetS))
    .addOption(new Option('--power <W>', 'the power budget P, watts').argParser(positiveNumber).default(DEMO_PROBLEM.powerBudgetW))
    .addOption(new Option('--duration-s <s>', 'device seconds the plan runs with arrivals').argParser(positiveNumber).default(40))
    .addOption(new Option('--time-scale <x>', 'device seconds per real second of the simulated board').argParser(positiveNumber).default(4))
    .addOption(new Option('--strategy <name>', 'strategy (gmd, als-50, random-15, maxn, best-preset, …)').default('gmd'))
    .option('--store-path <file>', 'keep the profiles in this SQLite file (a second demo then profiles nothing); default a temporary file')
    .addOption(new Option('--seed <n>', 'seed of the virtual board and the arrivals').argParser(positiveInteger))
    .addOption(new Option('--log-level <level>', 'service logs on stderr (default warn)').argParser(oneOf(LOG_LEVELS)))
    .option('--json', 'print the report as JSON')
    .option('--plot <dir>', 'also draw the plan and the run\'s timeline (latency against budget, power, training throughput) into this folder, as SVG and PNG')
    .action(async (o: DemoCliOptions) => {
      if (o.timeScale > 200) throw new UsageError('--time-scale: at most 200 (host timers are ~1 ms coarse: faster would distort latencies)');
      remoteStrategy(o.strategy); // a strategy the optimizer cannot run is a usage error before anything starts
      const registry = openRegistry(o.workloads); // so is a bad workload folder: the services take the same paths (workloads.paths)
      if ((o.train === undefined) !== (o.infer === undefined)) throw new UsageError(`${o.train === undefined ? '--train' : '--infer'}: give --train and --infer together (the demo's problem is one training workload and one stream)`);
      if (o.train !== undefined) {
        for (const [flag, name, kind] of [['--train', o.train, 'train'], ['--infer', o.infer!, 'infer']] as const) {
          let f;
          try {
            f = registry.get(name, flag);
          } catch (err) {
            throw new UsageError((err as Error).message);
          }
          if (kind === 'train' ? !f.manifest.train : !f.manifest.infer) throw new UsageError(`${flag}: workload ${JSON.stringify(name)} has no ${kind}: section in ${f.manifestPath}`);
        }
      }
      // The problem: the pair given (or the demo's), at the rate, latency and power given. A value past
      // its limit (SPEC §2) is one line naming the flag, before anything starts.
      const problem = {
        trainWorkload: o.train ?? DEMO_PROBLEM.trainWorkload,
        inferWorkload: o.infer ?? DEMO_PROBLEM.streams[0].workload,
        arrivalRatePerS: o.rate,
        latencyBudgetS: o.latency,
        powerBudgetW: o.power,
      };
      try {
        demoProblem(problem, registry.catalog());
      } catch (err) {
        throw asUsageError(err, demoFlag);
      }
      if (o.plot !== undefined) checkOutputDir(o.plot, '--plot'); // before the run, not after it
      const workloads = workloadPathsOf(o.workloads);
      const logger = createLogger({ name: 'fulcrum-demo', level: o.logLevel ?? process.env['FULCRUM_LOG_LEVEL'] ?? 'warn' });
      const tty = Boolean(process.stderr.isTTY) && !o.json;
      const progress = progressReporter(io, { tty, expected: expectedModes(o.strategy) });
      const report = await runDemo({
        durationS: o.durationS,
        timeScale: o.timeScale,
        strategy: o.strategy,
        storePath: o.storePath,
        ...(o.plot !== undefined ? { plotDir: o.plot } : {}),
        ...(workloads.length ? { workloads } : {}),
        problem,
        catalog: registry.catalog(),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        logger,
        onProgress: o.json ? undefined : progress.onProgress,
        onStep: o.json
          ? undefined
          : (text) => {
              progress.finish();
              io.stderr(`${text}\n`);
            },
      });
      progress.finish();
      io.stdout(o.json ? JSON.stringify(report, null, 2) + '\n' : formatDemoReport(report));
      if (report.plots && !o.json) io.stdout(`plots: ${report.plots.join(', ')}\n`);
    });
}
