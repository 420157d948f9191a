/**
 * npm run bench:soak — the bounded soak of issue 14: the four services as four processes
 * (`fulcrum serve <name>`) on the virtual board, with a real nats-server, all on loopback, under
 * a steady load for `--duration-s` (default 180 s):
 *
 *   - inference at a steady Poisson (or fixed) rate on two streams: `cam` over the executor's gRPC
 *     Infer, `mic` as NATS requests (`fulcrum.<device>.infer.mic`);
 *   - a stream of DISTINCT Solves (training workload and bT, stream workloads, candidate batch
 *     sizes, power budget, arrival rates, latency budgets all vary), far more than the optimizer's
 *     LRU bounds (32 profile keys + 32 prepared fronts per grid), each feasible plan applied on the
 *     executor;
 *   - the inference rate stepping up (× `--rate-factor`) and back every `--phase-s`; the Solves
 *     learn of a step `--solve-lag-s` late, so meanwhile the executor measures a rate the running
 *     plan was not made for, publishes it (`arrivals.rate`), and the optimizer re-plans.
 *
 * It prints progress every 10 s on stderr and a summary at the end: requests sent / answered /
 * errored (by code) / lost (sent − answered − errored: must be 0), device-side p50/p99 latency
 * against the latency budget, Solves (profiled vs answered from stored profiles), re-plans, and
 * each process's RSS (VmRSS, after a full GC in each service) after the warm-up and at the end,
 * with its growth, and what their /metrics say of their heaps and series. Exit 0 when nothing
 * was lost and no service's RSS grew by `--max-rss-growth-pct` (10 %) or more; else 1, saying why.
 * Every process it started is stopped at the end, on errors and on Ctrl-C too.
 *
 *   npm run bench:soak                        # 180 s
 *   npm run bench:soak -- --duration-s 600 --rate 60 --json > soak.json
 */
import { seededRandom } from '@fulcrum/core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { connectNatsBus, eventFilter, inferSubject, isBusError, isErrorReply, type EventBus } from '@fulcrum/bus';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { common, executor, optimizer } from '@fulcrum/proto';
import { SOURCE_NODE_ARGS, killAllServices, serveProcess, type ServiceProcess } from '../support/serve-process.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEVICE = 'orin-agx';
/** The board id the controller and executor run as: the token of their NATS subjects (SPEC §1). */
const BOARD = 'soak-board';
const SERVICES = ['device-controller', 'executor', 'profiler', 'optimizer'] as const;
type ServiceName = (typeof SERVICES)[number];

// ---------------------------------------------------------------------------------------------
// Options

const HELP = `npm run bench:soak -- [options]

A bounded soak of the four services as processes on the virtual board (loopback, real nats-server):
steady inference on two streams (cam: gRPC Infer, mic: NATS), distinct Solves applied on the
executor, and the rate stepping up and down so the optimizer re-plans. Exit 0 when no request was
lost and no service's RSS grew by --max-rss-growth-pct or more after the warm-up; else 1.

Options:
  --duration-s <s>           load duration, host seconds (default 180)
  --warmup-s <s>             RSS baseline after this long … (default 20, at most a third of the duration)
  --warmup-solves <n>        … and after this many Solves (default 100: about three times the optimizer's LRU bound of
                             32 keys, by when its memory is at its steady level), whichever is later, but no later
                             than half the duration
  --rate <r>                 inference requests per host second per stream (default 40)
  --arrivals <poisson|fixed> inter-arrival times (default poisson)
  --streams <1|2>            1: cam only (gRPC); 2: cam (gRPC) and mic (NATS) (default 2)
  --phase-s <s>              the rate alternates every this many host seconds … (default 20)
  --rate-factor <x>          … between --rate and --rate × this (default 3)
  --time-scale <x>           device seconds per host second of the simulated executor (default 20)
  --solve-gap-ms <ms>        pause between Solves (default 200)
  --solve-lag-s <s>          the Solves' arrival rates follow a rate step this late, so the optimizer re-plans meanwhile (default 5)
  --request-timeout-ms <ms>  deadline of one inference request (default 15000)
  --max-rss-growth-pct <p>   RSS growth limit per service (default 10)
  --seed <n>                 seed of the problems and arrivals (default 1)
  --rss-gc <on|off>          collect garbage in every service just before each RSS reading (default on; see below)
  --heap-snapshots <dir>     write a heap snapshot of every service into <dir> after each RSS reading (for hunting a leak)
  --json                     print the summary as one JSON object on stdout (progress stays on stderr)
  --help                     this text

RSS (VmRSS of /proc/<pid>/status) is read twice: when the warm-up is over and 4 s before the end of
the load, each time as the median of three readings 1.5–2.5 s after a full garbage collection in
every service (test/soak/gc-signal.ts, preloaded with --expose-gc; SIGUSR2). Growth = end / start − 1.
`;

interface Options {
  durationS: number;
  warmupS: number;
  warmupSolves: number;
  rate: number;
  arrivals: 'poisson' | 'fixed';
  streams: 1 | 2;
  phaseS: number;
  rateFactor: number;
  timeScale: number;
  solveGapMs: number;
  solveLagS: number;
  requestTimeoutMs: number;
  maxRssGrowthPct: number;
  seed: number;
  heapSnapshots: string | undefined;
  rssGc: boolean;
  json: boolean;
}

function options(argv: string[]): Options {
  try {
    return parsed(argv);
  } catch (err) {
    usage((err as Error).message);
  }
}

function parsed(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      'duration-s': { type: 'string' },
      'warmup-s': { type: 'string' },
      'warmup-solves': { type: 'string' },
      rate: { type: 'string' },
      arrivals: { type: 'string' },
      streams: { type: 'string' },
      'phase-s': { type: 'string' },
      'rate-factor': { type: 'string' },
      'time-scale': { type: 'string' },
      'solve-gap-ms': { type: 'string' },
      'solve-lag-s': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'max-rss-growth-pct': { type: 'string' },
      seed: { type: 'string' },
      'heap-snapshots': { type: 'string' },
      'rss-gc': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const num = (name: string, fallback: number, min: number): number => {
    const text = (values as Record<string, unknown>)[name];
    if (text === undefined) return fallback;
    const x = Number(text);
    if (!Number.isFinite(x) || x < min) usage(`--${name}: expected a number ≥ ${min}, got ${JSON.stringify(text)}`);
    return x;
  };
  const durationS = num('duration-s', 180, 10);
  const rssGc = values['rss-gc'] ?? 'on';
  if (rssGc !== 'on' && rssGc !== 'off') usage(`--rss-gc: on or off, got ${JSON.stringify(rssGc)}`);
  const arrivals = values.arrivals ?? 'poisson';
  if (arrivals !== 'poisson' && arrivals !== 'fixed') usage(`--arrivals: poisson or fixed, got ${JSON.stringify(arrivals)}`);
  const streams = num('streams', 2, 1);
  if (streams !== 1 && streams !== 2) usage(`--streams: 1 or 2, got ${streams}`);
  return {
    durationS,
    warmupS: Math.min(num('warmup-s', 20, 0), durationS / 3),
    warmupSolves: num('warmup-solves', 100, 0),
    rate: num('rate', 40, 0.1),
    arrivals,
    streams,
    phaseS: num('phase-s', 20, 1),
    rateFactor: num('rate-factor', 3, 1),
    timeScale: num('time-scale', 20, 1),
    solveGapMs: num('solve-gap-ms', 200, 0),
    solveLagS: num('solve-lag-s', 5, 0),
    requestTimeoutMs: num('request-timeout-ms', 15_000, 100),
    maxRssGrowthPct: num('max-rss-growth-pct', 10, 0),
    seed: num('seed', 1, 0),
    heapSnapshots: values['heap-snapshots'],
    rssGc: rssGc === 'on',
    json: values.json ?? false,
  };
}

function usage(message: string): never {
  process.stderr.write(`soak-bench: ${message}\n\n${HELP}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Small helpers


const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
}

function median(values: readonly number[]): number | null {
  return quantile(values, 0.5);
}

/** VmRSS of a process in KiB; undefined when it is gone. */
function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/mu.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const mib = (kib: number | null | undefined): string => (kib == null ? '—' : `${(kib / 1024).toFixed(1)} MiB`);

// ---------------------------------------------------------------------------------------------
// Processes

// Whatever happens, no service outlives the bench (startNatsServer has its own exit hook).
process.once('exit', () => killAllServices());

const GC_SIGNAL = pathToFileURL(join(root, 'test/soak/gc-signal.ts')).href;

/** A service as a process (test/support/serve-process.ts), with a preload that answers a full-GC request (RSS read after a GC). */
function serve(name: ServiceName, args: readonly string[], heapDir: string | undefined): Promise<ServiceProcess> {
  return serveProcess(name, args, {
    nodeArgs: ['--expose-gc', ...SOURCE_NODE_ARGS, '--import', GC_SIGNAL],
    ...(heapDir ? { env: { FULCRUM_SOAK_HEAP_DIR: heapDir } } : {}),
    readyTimeoutMs: 90_000,
    stopGraceMs: 10_000,
  });
}

async function scrape(url: string | null): Promise<string> {
  if (!url) return '';
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}

/** Sum of a metric's samples whose labels include every `labels` pair. */
function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const x = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(x)) sum += x;
  }
  return sum;
}

/** The time series a /metrics page exposes (a label per plan id or request would make them grow). */
const seriesOf = (text: string): string[] => text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.slice(0, l.lastIndexOf(' ')));

// ---------------------------------------------------------------------------------------------
// Problems: every Solve a new one (and a new profile key, so the optimizer's LRU caches turn over)

// A small pool (two training workloads at two bT, three inference workloads, subsets of three
// batch sizes, seven power levels, four latency levels): 128 profile keys, four times the
// optimizer's LRU bound, whose modes the profiler's store soon holds — so after the first Solves
// almost nothing is measured any more, and each Solve is the optimizer preparing and answering a
// front for a new problem. Rates carry a random factor: no two problems are the same.
const TRAIN_WORKLOADS = ['resnet18', 'mobilenet'];
const TRAIN_BATCHES = [16, 32];
const STREAM_WORKLOADS: Record<string, readonly string[]> = { cam: ['mobilenet', 'resnet18'], mic: ['mobilenet'] };
const BATCH_POOL = [1, 4, 8];
/** Every subset of BATCH_POOL with at least two sizes. */
const BATCH_SETS = Array.from({ length: 1 << BATCH_POOL.length }, (_, bits) => BATCH_POOL.filter((_, i) => bits & (1 << i))).filter((s) => s.length >= 2);
const POWER_LEVELS_W = [20, 25, 30, 35, 40, 45, 50];
const LATENCY_LEVELS_S = [0.5, 0.75, 1, 1.5];

interface ProblemSource {
  /** A problem never handed out before; `ratePerS`: the device rate the bench sends now. */
  next(ratePerS: number): common.Problem;
  /** Distinct profile keys so far. */
  readonly keys: number;
}

function problemSource(seed: number, streams: readonly string[]): ProblemSource {
  const rand = seededRandom(seed);
  const keys = new Set<string>();
  const problems = new Set<string>();
  return {
    get keys() {
      return keys.size;
    },
    next(ratePerS) {
      for (;;) {
        const trainWorkload = pick(rand, TRAIN_WORKLOADS);
        const trainBatchSize = pick(rand, TRAIN_BATCHES);
        const s = streams.map((name) => ({
          name,
          workload: pick(rand, STREAM_WORKLOADS[name]!),
          arrivalRatePerS: round(ratePerS * (0.9 + 0.2 * rand()), 4),
          latencyBudgetS: pick(rand, LATENCY_LEVELS_S),
          candidateBatchSizes: pick(rand, BATCH_SETS),
        }));
        const powerBudgetW = pick(rand, POWER_LEVELS_W);
        const key = JSON.stringify([trainWorkload, trainBatchSize, s.map((x) => [x.workload, x.candidateBatchSizes])]);
        const whole = JSON.stringify([key, powerBudgetW, s.map((x) => [x.arrivalRatePerS, x.latencyBudgetS])]);
        if (problems.has(whole)) continue;
        keys.add(key);
        problems.add(whole);
        return common.Problem.fromPartial({
          device: DEVICE,
          trainWorkload: { name: trainWorkload, kind: common.WorkloadKind.WORKLOAD_KIND_TRAIN },
          trainBatchSize,
          powerBudgetW,
          streams: s.map((x) => ({ ...x, workload: { name: x.workload, kind: common.WorkloadKind.WORKLOAD_KIND_INFER } })),
        });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Accounting

class Requests {
  sent = 0;
  answered = 0;
  late = 0;
  readonly errored = new Map<string, number>();
  inFlight = 0;
  /** Device seconds (the executor's clock) from arrival to result, and the budget in force at send. */
  readonly latencyS: number[] = [];
  /** The same for the requests during which no profiler measurement held the GPU. */
  readonly latencyNoMeasurementS: number[] = [];
  readonly overBudget: number[] = [];
  readonly roundTripMs: number[] = [];

  error(code: string): void {
    this.errored.set(code, (this.errored.get(code) ?? 0) + 1);
  }

  get erroredTotal(): number {
    let n = 0;
    for (const v of this.errored.values()) n += v;
    return n;
  }
}

interface SolveRecord {
  readonly index: number;
  readonly planId: string;
  readonly feasible: boolean;
  readonly modesProfiled: number;
  readonly modesReused: number;
  readonly ms: number;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const o = options(process.argv.slice(2));
  const streamNames = o.streams === 2 ? ['cam', 'mic'] : ['cam'];
  const via: Record<string, 'grpc' | 'nats'> = { cam: 'grpc', mic: 'nats' };
  const deviceRate = o.rate / o.timeScale;
  log(
    `soak: ${o.durationS} s, ${streamNames.map((s) => `${s} via ${via[s]}`).join(', ')} at ${o.rate}/s (${o.arrivals}; λ ${round(deviceRate)}/device-s at time scale ${o.timeScale}), ×${o.rateFactor} every other ${o.phaseS} s; RSS baseline after ${round(o.warmupS, 1)} s and ${o.warmupSolves} Solves`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-soak-'));
  const procs: ServiceProcess[] = [];
  let nats: NatsServer | undefined;
  let bus: EventBus | undefined;
  const clients: grpc.Client[] = [];
  let interrupted: NodeJS.Signals | undefined;
  let stopLoad: () => void = () => undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) process.exit(130);
    interrupted = signal;
    log(`soak: ${signal}: stopping`);
    stopLoad();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // ---- start ------------------------------------------------------------------------------
    const t0 = performance.now();
    nats = await startNatsServer({ storeDir: join(dir, 'nats') });
    bus = await connectNatsBus({ url: nats.url });
    const commonArgs = ['--nats', nats.url, '--metrics.port=0', '--grpc.port=0'];
    if (o.heapSnapshots) mkdirSync(o.heapSnapshots, { recursive: true });
    const heapDir = o.heapSnapshots ? resolve(o.heapSnapshots) : undefined;
    const controller = await serve('device-controller', [...commonArgs, `--board=${BOARD}`, '--telemetry.min-interval-ms=1'], heapDir);
    procs.push(controller);
    const exec = await serve('executor', [...commonArgs, `--board=${BOARD}`, `--time-scale=${o.timeScale}`, `--controller.address=${controller.ready.address}`], heapDir);
    procs.push(exec);
    const prof = await serve('profiler', [
      ...commonArgs,
      '--store',
      'kv',
      `--controller.address=${controller.ready.address}`,
      `--executor.address=${exec.ready.address}`,
      '--protocol.settle-s=0.05',
      '--protocol.warmup-minibatches=1',
      '--protocol.measured-minibatches=4',
      '--protocol.telemetry-interval-ms=2',
    ], heapDir);
    procs.push(prof);
    const opt = await serve('optimizer', [...commonArgs, `--profiler.address=${prof.ready.address}`, `--executor.address=${exec.ready.address}`, '--executor.apply'], heapDir);
    procs.push(opt);
    const startupS = (performance.now() - t0) / 1000;
    if (interrupted) throw new Error(`interrupted (${interrupted}) while starting`);
    log(`soak: nats-server and 4 services up in ${startupS.toFixed(1)} s (pids ${procs.map((p) => `${p.name} ${p.ready.pid}`).join(', ')}, nats ${nats.pid})`);
    let died: string | undefined;
    for (const p of procs) void p.exited.then((code) => void (died ??= `${p.name} exited (${code}) during the soak:\n${p.log().slice(-4000)}`));

    // ---- observers --------------------------------------------------------------------------
    /** Latency budget per stream of the plan running now (from plan.applied). */
    const budgetS = new Map<string, number>();
    const applied: { planId: string; strategy: string }[] = [];
    let rateEvents = 0;
    let measuring = false;
    /** Measurements started so far (a request whose count changed while it waited met one). */
    let measurements = 0;
    const subs = [
      bus.subscribe(eventFilter('plan.applied', BOARD), (m) => {
        applied.push({ planId: m.event.planId, strategy: m.event.strategy ?? '' });
        for (const s of m.event.streams) if (s.latencyBudgetS) budgetS.set(s.stream, s.latencyBudgetS);
      }),
      bus.subscribe(eventFilter('arrivals.rate', BOARD), () => void rateEvents++),
      // Whether a profiler measurement holds the GPU (inference waits for it): the latencies are
      // also given for the requests that met none.
      bus.subscribe(eventFilter('activity', BOARD), (m) => {
        const now = m.event.measurement === true;
        if (now && !measuring) measurements++;
        measuring = now;
      }),
    ];
    await Promise.all(subs.map((s) => s.ready));

    const optClient = new optimizer.OptimizerClient(opt.ready.address, grpc.credentials.createInsecure());
    const execClient = new executor.ExecutorClient(exec.ready.address, grpc.credentials.createInsecure());
    clients.push(optClient, execClient);

    const solves: SolveRecord[] = [];
    const solveErrors = new Map<string, number>();
    const problems = problemSource(o.seed, streamNames);
    const solveOnce = (problem: common.Problem): Promise<optimizer.SolveCompleted> =>
      new Promise((resolve, reject) => {
        let done: optimizer.SolveCompleted | undefined;
        const call = optClient.solve(optimizer.SolveRequest.fromPartial({ problem, strategy: optimizer.Strategy.STRATEGY_GMD }), new grpc.Metadata(), { deadline: new Date(Date.now() + 120_000) });
        call.on('data', (ev: optimizer.SolveResponse) => {
          if (ev.event?.$case === 'completed') done = ev.event.value;
        });
        call.on('error', reject);
        call.on('end', () => (done ? resolve(done) : reject(new Error('the Solve stream ended without SolveCompleted'))));
      });

    // A plan must run before inference makes sense: Solves first, until one is feasible (applied).
    const record = (done: optimizer.SolveCompleted, started: number): SolveRecord => {
      const r = { index: solves.length, planId: done.plan!.planId, feasible: done.plan!.feasible, modesProfiled: done.cost!.modesProfiled, modesReused: done.cost!.modesReused, ms: performance.now() - started };
      solves.push(r);
      return r;
    };
    for (let tries = 1; ; tries++) {
      const started = performance.now();
      const first = record(await solveOnce(problems.next(deviceRate)), started);
      if (!first.feasible) {
        if (tries < 20) continue;
        throw new Error(`none of the first ${tries} problems had a feasible plan`);
      }
      for (let i = 0; i < 200 && !applied.some((a) => a.planId === first.planId); i++) await sleep(50);
      if (!applied.some((a) => a.planId === first.planId)) throw new Error(`the first feasible plan (${first.planId}) was not applied on the executor`);
      break;
    }

    // ---- load -------------------------------------------------------------------------------
    const req = new Requests();
    const loadStart = performance.now();
    const elapsedS = (): number => (performance.now() - loadStart) / 1000;
    const endAt = loadStart + o.durationS * 1000;
    let stopping = false;
    const stopped = new Promise<void>((resolve) => {
      stopLoad = () => {
        stopping = true;
        resolve();
      };
    });
    const timer = setTimeout(() => stopLoad(), o.durationS * 1000);
    if (interrupted) stopLoad();
    /** The rate the bench sends at `tS` seconds into the load: --rate, × --rate-factor every other phase. */
    const rateAt = (tS: number): number => o.rate * (Math.floor(Math.max(0, tS) / o.phaseS) % 2 === 1 ? o.rateFactor : 1);
    const currentRate = (): number => rateAt(elapsedS());

    const sendOne = (stream: string, id: string): Promise<void> => {
      req.sent++;
      req.inFlight++;
      const budget = budgetS.get(stream);
      const sentAt = performance.now();
      const measuredBefore = measurements;
      const measuringAtSend = measuring;
      const answered = (requestId: string, latencyS: number): void => {
        if (requestId !== id) return req.error('mismatched-request-id');
        req.answered++;
        req.latencyS.push(latencyS);
        if (!measuringAtSend && !measuring && measurements === measuredBefore) req.latencyNoMeasurementS.push(latencyS);
        req.roundTripMs.push(performance.now() - sentAt);
        if (budget !== undefined && latencyS > budget) req.late++;
        if (budget !== undefined) req.overBudget.push(latencyS / budget);
      };
      let p: Promise<void>;
      if (via[stream] === 'grpc') {
        p = new Promise<void>((resolve) => {
          execClient.infer(executor.InferRequest.fromPartial({ stream, requestId: id }), new grpc.Metadata(), { deadline: new Date(Date.now() + o.requestTimeoutMs) }, (err, res) => {
            if (err) req.error(`grpc:${grpc.status[err.code] ?? err.code}`);
            else answered(res!.requestId, res!.latencyS);
            resolve();
          });
        });
      } else {
        p = bus!.request(inferSubject(BOARD, stream), { requestId: id }, { timeoutMs: o.requestTimeoutMs }).then(
          (reply) => (isErrorReply(reply) ? req.error(`nats:${reply.error.code}`) : answered(reply.requestId, reply.latencyS)),
          (err: unknown) => req.error(isBusError(err) ? `nats:${err.code}` : `nats:${(err as Error).name}`),
        );
      }
      return p.finally(() => void req.inFlight--);
    };

    const arrivalsRand = seededRandom(o.seed * 7919 + 17);
    const streamLoops = streamNames.map(async (stream) => {
      let seq = 0;
      let nextAt = performance.now();
      while (!stopping) {
        const gapMs = 1000 / currentRate();
        nextAt += o.arrivals === 'poisson' ? -Math.log(1 - arrivalsRand()) * gapMs : gapMs;
        const wait = nextAt - performance.now();
        if (wait > 1) await Promise.race([sleep(wait), stopped]);
        if (stopping || performance.now() >= endAt) break;
        void sendOne(stream, `${stream}-${++seq}`);
      }
    });

    const solveLoop = (async () => {
      while (!stopping) {
        // The Solves learn of a rate step --solve-lag-s late (a client re-solving as its load
        // changes): until then the plans they apply are the old rate's, the executor measures the
        // new one, and the optimizer re-plans.
        const problem = problems.next(rateAt(elapsedS() - o.solveLagS) / o.timeScale);
        const started = performance.now();
        try {
          record(await solveOnce(problem), started);
        } catch (err) {
          const code = (err as grpc.ServiceError).code;
          const name = code !== undefined ? `grpc:${grpc.status[code]}` : (err as Error).message;
          solveErrors.set(name, (solveErrors.get(name) ?? 0) + 1);
        }
        if (o.solveGapMs > 0) await Promise.race([sleep(o.solveGapMs), stopped]);
      }
    })();

    // ---- RSS and progress --------------------------------------------------------------------
    const watched = [...procs.map((p) => ({ name: p.name as string, pid: p.ready.pid, metricsUrl: p.ready.metricsUrl, child: p.child as ServiceProcess['child'] | undefined })), { name: 'nats-server', pid: nats.pid, metricsUrl: null, child: undefined }];
    /** One RSS reading per second of every process (progress and peak). */
    const samples = new Map<string, number[]>(watched.map((w) => [w.name, []]));
    interface Point {
      readonly tS: number;
      readonly solves: number;
      readonly rssKiB: ReadonlyMap<string, number | null>;
      readonly heapUsedBytes: ReadonlyMap<string, number>;
      readonly externalBytes: ReadonlyMap<string, number>;
      readonly heapTotalBytes: ReadonlyMap<string, number>;
      readonly series: ReadonlyMap<string, readonly string[]>;
    }
    /** RSS of every process after a full GC in each service: the median of three readings 1.5–2.5 s after it. */
    const measure = async (): Promise<Point> => {
      const tS = elapsedS();
      const count = solveCount();
      if (o.rssGc) for (const w of watched) w.child?.kill('SIGUSR2');
      await sleep(1500);
      const readings = new Map<string, number[]>(watched.map((w) => [w.name, []]));
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(500);
        for (const w of watched) {
          const kib = rssKiB(w.pid);
          if (kib !== undefined) readings.get(w.name)!.push(kib);
        }
      }
      const heapUsedBytes = new Map<string, number>();
      const externalBytes = new Map<string, number>();
      const heapTotalBytes = new Map<string, number>();
      const series = new Map<string, string[]>();
      for (const w of watched) {
        const text = await scrape(w.metricsUrl);
        heapUsedBytes.set(w.name, metricSum(text, 'fulcrum_nodejs_heap_size_used_bytes'));
        externalBytes.set(w.name, metricSum(text, 'fulcrum_nodejs_external_memory_bytes'));
        heapTotalBytes.set(w.name, metricSum(text, 'fulcrum_nodejs_heap_size_total_bytes'));
        series.set(w.name, seriesOf(text));
      }
      if (heapDir) for (const w of watched) w.child?.kill('SIGWINCH');
      return { tS, solves: count, rssKiB: new Map(watched.map((w) => [w.name, median(readings.get(w.name)!)])), heapUsedBytes, externalBytes, heapTotalBytes, series };
    };
    let startPoint: Point | undefined;
    let endPoint: Point | undefined;
    const solveCount = (): number => solves.length + [...solveErrors.values()].reduce((a, b) => a + b, 0);
    const sampler = (async () => {
      let nextProgress = 10;
      while (!stopping) {
        const t = elapsedS();
        for (const w of watched) {
          const kib = rssKiB(w.pid);
          if (kib !== undefined) samples.get(w.name)!.push(kib);
        }
        if (!startPoint && ((t >= o.warmupS && solveCount() >= o.warmupSolves) || t >= o.durationS / 2)) {
          log(`soak: warm-up over at ${t.toFixed(1)} s (${solveCount()} Solves): RSS baseline`);
          startPoint = await measure();
        } else if (startPoint && !endPoint && t >= o.durationS - 4) {
          endPoint = await measure();
        }
        if (t >= nextProgress) {
          nextProgress += 10;
          const rss = watched.map((w) => `${w.name} ${mib(samples.get(w.name)!.at(-1))}`).join(', ');
          log(
            `[${t.toFixed(0).padStart(4)} s] rate ${currentRate()}/s; requests sent ${req.sent} answered ${req.answered} errored ${req.erroredTotal} in flight ${req.inFlight}; Solves ${solves.length} (errors ${solveCount() - solves.length}), distinct keys ${problems.keys}; re-plans ${applied.filter((a) => a.strategy === 'stored-front').length}; RSS ${rss}`,
          );
        }
        if (died) {
          log(`soak: ${died}`);
          stopLoad();
          break;
        }
        await Promise.race([sleep(1000), stopped]);
      }
    })();

    await stopped;
    clearTimeout(timer);
    const loadS = elapsedS();
    await Promise.all(streamLoops);
    await sampler;
    // Stopped early (Ctrl-C, a service gone): the end reading is taken now.
    if (startPoint && !endPoint && !died) endPoint = await measure();
    // Every request ends: answered, or an error (each has a deadline). Whatever has not after its
    // deadline and a grace period counts as lost.
    const drainDeadline = Date.now() + o.requestTimeoutMs + 5000;
    while (req.inFlight > 0 && Date.now() < drainDeadline) await sleep(50);
    await Promise.race([solveLoop, sleep(130_000)]);
    await sleep(500); // late plan.applied events
    const [optMetrics, execMetrics] = await Promise.all([scrape(opt.ready.metricsUrl), scrape(exec.ready.metricsUrl)]);

    // ---- summary ----------------------------------------------------------------------------
    const lost = req.sent - req.answered - req.erroredTotal;
    const rss = watched.map((w) => {
      const start = startPoint?.rssKiB.get(w.name) ?? null;
      const end = endPoint?.rssKiB.get(w.name) ?? null;
      const growthPct = start && end ? round(((end - start) / start) * 100, 1) : null;
      const seriesStart = startPoint?.series.get(w.name) ?? [];
      const seriesEnd = endPoint?.series.get(w.name) ?? [];
      const before = new Set(seriesStart);
      const inMiB = (bytes: number | undefined): number | null => (bytes ? round(bytes / 2 ** 20, 1) : null);
      return {
        process: w.name,
        pid: w.pid,
        startKiB: start,
        endKiB: end,
        growthPct,
        peakKiB: Math.max(0, ...samples.get(w.name)!),
        /** What the service's own /metrics said right after the reading (V8 heap used, external memory: ArrayBuffers and the like). */
        heapUsedStartMiB: inMiB(startPoint?.heapUsedBytes.get(w.name)),
        heapUsedEndMiB: inMiB(endPoint?.heapUsedBytes.get(w.name)),
        heapTotalStartMiB: inMiB(startPoint?.heapTotalBytes.get(w.name)),
        heapTotalEndMiB: inMiB(endPoint?.heapTotalBytes.get(w.name)),
        externalStartMiB: inMiB(startPoint?.externalBytes.get(w.name)),
        externalEndMiB: inMiB(endPoint?.externalBytes.get(w.name)),
        metricSeriesStart: w.metricsUrl ? seriesStart.length : null,
        metricSeriesEnd: w.metricsUrl ? seriesEnd.length : null,
        /** Series that appeared after the warm-up (a few: first errors, first re-plans; many: a label per id). */
        newMetricSeries: seriesEnd.filter((x) => !before.has(x)).slice(0, 20),
        gated: w.name !== 'nats-server',
      };
    });
    const solveMs = solves.map((s) => s.ms);
    const afterFirstDozen = solves.slice(12);
    const solveIds = new Set(solves.map((s) => s.planId));
    const replans = applied.filter((a) => a.strategy === 'stored-front');
    const budgets = req.overBudget;
    const summary = {
      durationS: round(loadS, 1),
      startupS: round(startupS, 1),
      options: o,
      requests: {
        sent: req.sent,
        answered: req.answered,
        errored: req.erroredTotal,
        erroredByCode: Object.fromEntries(req.errored),
        lost,
        lateAgainstBudgetAtSend: req.late,
        executorLate: metricSum(execMetrics, 'fulcrum_executor_requests_total', { outcome: 'late' }),
        latencyDeviceS: { p50: quantile(req.latencyS, 0.5), p99: quantile(req.latencyS, 0.99), max: quantile(req.latencyS, 1) },
        /** Requests that met no profiler measurement (sent and answered while none ran, none started meanwhile). */
        latencyNoMeasurementDeviceS: { count: req.latencyNoMeasurementS.length, p50: quantile(req.latencyNoMeasurementS, 0.5), p99: quantile(req.latencyNoMeasurementS, 0.99), max: quantile(req.latencyNoMeasurementS, 1) },
        latencyBudgetsS: [Math.min(...LATENCY_LEVELS_S), Math.max(...LATENCY_LEVELS_S)],
        latencyOverBudget: { p50: quantile(budgets, 0.5), p99: quantile(budgets, 0.99) },
        roundTripHostMs: { p50: quantile(req.roundTripMs, 0.5), p99: quantile(req.roundTripMs, 0.99) },
      },
      solves: {
        done: solves.length,
        errors: Object.fromEntries(solveErrors),
        distinctKeys: problems.keys,
        feasible: solves.filter((s) => s.feasible).length,
        appliedOnExecutor: applied.filter((a) => solveIds.has(a.planId)).length,
        modesProfiled: solves.reduce((a, s) => a + s.modesProfiled, 0),
        modesReused: solves.reduce((a, s) => a + s.modesReused, 0),
        afterFirst12NothingProfiled: afterFirstDozen.filter((s) => s.modesProfiled === 0).length,
        afterFirst12: afterFirstDozen.length,
        durationMs: { p50: quantile(solveMs, 0.5), p99: quantile(solveMs, 0.99) },
        optimizerModesProfiledTotal: metricSum(optMetrics, 'fulcrum_optimizer_modes_profiled_total'),
        /** Modes each Solve had measured, in order: profiling dies out as the profiler's store fills. */
        modesProfiledBySolve: solves.map((s) => s.modesProfiled),
      },
      replans: {
        applied: replans.length,
        byOptimizer: {
          changed: metricSum(optMetrics, 'fulcrum_optimizer_replans_total', { trigger: 'arrivals', outcome: 'changed' }),
          unchanged: metricSum(optMetrics, 'fulcrum_optimizer_replans_total', { trigger: 'arrivals', outcome: 'unchanged' }),
          error: metricSum(optMetrics, 'fulcrum_optimizer_replans_total', { trigger: 'arrivals', outcome: 'error' }),
        },
        arrivalRateEvents: rateEvents,
      },
      rss: {
        startAtS: startPoint ? round(startPoint.tS, 1) : null,
        startAfterSolves: startPoint?.solves ?? null,
        endAtS: endPoint ? round(endPoint.tS, 1) : null,
        endAfterSolves: endPoint?.solves ?? null,
        gcBeforeReading: o.rssGc,
        limitPct: o.maxRssGrowthPct,
        processes: rss,
      },
      failures: [] as string[],
    };
    if (lost !== 0) summary.failures.push(`${lost} request(s) lost: sent ${req.sent}, answered ${req.answered}, errored ${req.erroredTotal}`);
    for (const r of rss) {
      if (!r.gated) continue;
      if (r.growthPct === null) summary.failures.push(`${r.process}: no RSS reading (start ${r.startKiB}, end ${r.endKiB})`);
      else if (r.growthPct >= o.maxRssGrowthPct) summary.failures.push(`${r.process}: RSS grew ${r.growthPct} % (${mib(r.startKiB)} → ${mib(r.endKiB)}), limit ${o.maxRssGrowthPct} %`);
    }
    if (died) summary.failures.push(died.split('\n')[0]!);
    if (interrupted) summary.failures.push(`interrupted (${interrupted})`);
    if (solves.length < 2) summary.failures.push(`only ${solves.length} Solve(s) completed`);

    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else printSummary(summary);
    for (const s of subs) s.unsubscribe();
    return summary.failures.length === 0 ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    for (const c of clients) c.close();
    // The optimizer first, the device-controller last (it restores the mode it found).
    for (const p of [...procs].reverse()) {
      const code = await p.stop().catch(() => 'error');
      if (code !== 0 && code !== 'SIGTERM') log(`soak: fulcrum serve ${p.name} exited ${code}:\n${p.log().slice(-4000)}`);
    }
    await bus?.close().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

type Summary = {
  durationS: number;
  requests: Record<string, unknown> & { erroredByCode: Record<string, number> };
  [k: string]: unknown;
};

function printSummary(s: Summary): void {
  const j = (x: unknown): string => JSON.stringify(x);
  const r = s.requests as Record<string, any>;
  const sv = s['solves'] as Record<string, any>;
  const rp = s['replans'] as Record<string, any>;
  const rss = s['rss'] as { startAtS: number | null; startAfterSolves: number | null; endAtS: number | null; endAfterSolves: number | null; gcBeforeReading: boolean; limitPct: number; processes: any[] };
  const out: string[] = [];
  out.push(`\nSoak: ${s.durationS} s of load (services up in ${s['startupS']} s)`);
  out.push(`  requests  sent ${r.sent}, answered ${r.answered}, errored ${r.errored} ${j(r.erroredByCode)}, lost ${r.lost}`);
  const f = (x: number | null, d = 3): string => (x == null ? '—' : x.toFixed(d));
  out.push(`  latency   device s (budgets ${r.latencyBudgetsS.join('–')} s): p50 ${f(r.latencyDeviceS.p50)} p99 ${f(r.latencyDeviceS.p99)} max ${f(r.latencyDeviceS.max)}; / the budget in force: p50 ${f(r.latencyOverBudget.p50, 2)}× p99 ${f(r.latencyOverBudget.p99, 2)}× (late ${r.lateAgainstBudgetAtSend}; the executor counted ${r.executorLate})`);
  const nm = r.latencyNoMeasurementDeviceS;
  out.push(`            the ${nm.count} requests that met no profiler measurement: p50 ${f(nm.p50)} p99 ${f(nm.p99)} max ${f(nm.max)}`);
  out.push(`            host round trip ms: p50 ${f(r.roundTripHostMs.p50, 1)} p99 ${f(r.roundTripHostMs.p99, 1)}`);
  out.push(`  Solves    ${sv.done} done (${sv.distinctKeys} distinct profile keys, ${sv.feasible} feasible, ${sv.appliedOnExecutor} applied), errors ${j(sv.errors)}; modes profiled ${sv.modesProfiled}, reused ${sv.modesReused}; after the first 12: ${sv.afterFirst12NothingProfiled}/${sv.afterFirst12} profiled nothing; p50 ${f(sv.durationMs.p50, 0)} ms p99 ${f(sv.durationMs.p99, 0)} ms`);
  out.push(`  re-plans  ${rp.applied} applied; optimizer (arrivals): changed ${rp.byOptimizer.changed}, unchanged ${rp.byOptimizer.unchanged}, error ${rp.byOptimizer.error}; arrivals.rate events ${rp.arrivalRateEvents}`);
  out.push(`  RSS       at ${rss.startAtS ?? '—'} s (${rss.startAfterSolves ?? '—'} Solves) and at ${rss.endAtS ?? '—'} s (${rss.endAfterSolves ?? '—'} Solves)${rss.gcBeforeReading ? ', each after a full GC' : ''}; limit ${rss.limitPct} %`);
  for (const p of rss.processes) {
    out.push(`    ${p.process.padEnd(18)} ${mib(p.startKiB).padStart(10)} → ${mib(p.endKiB).padStart(10)}  ${p.growthPct === null ? '—' : `${p.growthPct > 0 ? '+' : ''}${p.growthPct} %`}  (peak ${mib(p.peakKiB)}; JS heap used ${p.heapUsedStartMiB ?? '—'} → ${p.heapUsedEndMiB ?? '—'} MiB of ${p.heapTotalStartMiB ?? '—'} → ${p.heapTotalEndMiB ?? '—'}, external ${p.externalStartMiB ?? '—'} → ${p.externalEndMiB ?? '—'} MiB; metric series ${p.metricSeriesStart ?? '—'} → ${p.metricSeriesEnd ?? '—'})${p.gated ? '' : ' [not gated]'}`);
  }
  const failures = s['failures'] as string[];
  out.push(failures.length === 0 ? '  PASS: nothing lost, every service within the RSS limit' : `  FAIL:\n${failures.map((x) => `    - ${x}`).join('\n')}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
