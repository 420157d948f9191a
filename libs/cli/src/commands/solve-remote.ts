/**
 * `fulcrum solve --remote HOST:PORT`: the problem goes to a running optimizer's `Solve` (gRPC,
 * bearer token and TLS as configured), which profiles through its profiler; progress is shown as
 * it streams (each mode profiled: a progress bar on a terminal, one plain line each otherwise),
 * then the plan and its cost, like the local solve (`--json` too). An unreachable optimizer (or
 * one whose profiler is away: UNAVAILABLE) is retried a bounded number of times with backoff,
 * then reported in one line with exit code 1.
 */
import * as grpc from '@grpc/grpc-js';
import Table from 'cli-table3';
import { BUILTIN_CATALOG, DEVICES, NAME_RULE, TOKEN_RULE, catalogWith, formatPowerMode, userWorkload, validateProblem, type Catalog, type PowerMode, type PowerSemantics, type Problem } from '@fulcrum/core';
import { common, constraintFromProto, optimizer, problemToProto, strategyToProto } from '@fulcrum/proto';
import { GrpcConnection, GrpcStatusError, errorField, isServiceError } from '@fulcrum/runtime';
import { describeValue } from '@fulcrum/core/internal';
import type { CliIo } from '../io.js';
import { plotFormat, remotePlotInput, writePlanPlot } from './plan-plot.js';
import { CommandError, UsageError, asUsageError } from '../usage.js';

export interface RemoteTarget {
  /** `host:port` of the optimizer. */
  readonly address: string;
  readonly token?: string | undefined;
  /** Use TLS (system roots unless `tlsCa`). */
  readonly tls?: boolean | undefined;
  /** CA that signed the optimizer's certificate (implies TLS). */
  readonly tlsCa?: string | undefined;
}

export interface RemoteSolveOptions extends RemoteTarget {
  /** A strategy registry name (`gmd`, `als-50`, `random-15`, `maxn`, `best-preset`, …). */
  readonly strategy: string;
  readonly seed?: number | undefined;
  readonly grid?: string | undefined;
  /** Plan for this board (one the optimizer has heard from, `fulcrum boards`); the problem's device is then the board's model unless given. */
  readonly board?: string | undefined;
  /** Send no device: the optimizer takes the board's model. */
  readonly boardDevice?: boolean | undefined;
  /** Tries in all while the optimizer answers UNAVAILABLE (the first included); default 4. */
  readonly attempts?: number | undefined;
  /** First backoff, ms (doubles each try, with jitter); default 500. */
  readonly initialDelayMs?: number | undefined;
  /** Deadline of one Solve, seconds (profiling a real board takes minutes); default 3600. */
  readonly timeoutS?: number | undefined;
  readonly onProgress?: ((ev: optimizer.ModeProfiled) => void) | undefined;
  readonly onRetry?: ((err: grpc.ServiceError, attempt: number, delayMs: number) => void) | undefined;
  /** Send no training batch size: the optimizer takes its default bT for the workload (a table's own workload's). */
  readonly optimizerTrainBatchSize?: boolean | undefined;
  /** Per stream: send no candidate batch sizes, so the optimizer takes the workload's own (its folder's, its table's; SPEC §2). */
  readonly optimizerBatchSizes?: readonly boolean[] | undefined;
}

export interface RemoteSolveResult {
  readonly plan: common.Plan;
  readonly cost: common.PlanCost;
  readonly modes: readonly optimizer.ModeProfiled[];
  /** Tries it took (1: no retry). */
  readonly attempts: number;
}

/** Registry name → the proto's strategy and mode budget (usage errors name `--strategy`). */
export function remoteStrategy(name: string): { strategy: optimizer.Strategy; modeBudget: number } {
  if (name === 'oracle' || name === 'oracle-margins' || name === 'exhaustive') {
    throw new UsageError(`--strategy: ${name} needs the noise-free ground truth of a virtual device or table, which a remote optimizer does not have; solve locally (without --remote)`);
  }
  try {
    return strategyToProto(name, '--strategy');
  } catch {
    throw new UsageError(`--strategy: ${JSON.stringify(name)} is not a strategy the optimizer service runs; it runs gmd, als, random, powertrain and bo (each with an optional -N mode budget, e.g. als-50), maxn and best-preset`);
  }
}

/** The connection to the optimizer; bad TLS files are a usage error before any call. */
export function optimizerConnection(target: RemoteTarget, retry: { attempts?: number | undefined; initialDelayMs?: number | undefined; onRetry?: RemoteSolveOptions['onRetry'] } = {}): GrpcConnection<optimizer.OptimizerClient> {
  try {
    return new GrpcConnection(optimizer.OptimizerClient, {
      peer: 'optimizer',
      address: target.address,
      token: target.token,
      tls: target.tls,
      tlsCa: target.tlsCa,
      attempts: retry.attempts ?? 4,
      initialBackoffMs: retry.initialDelayMs ?? 500,
      maxBackoffMs: 8000,
      onRetry: (_method, err, attempt, delayMs) => {
        if (isServiceError(err)) retry.onRetry?.(err, attempt, Math.round(delayMs));
      },
    });
  } catch (err) {
    throw new UsageError(`--tls-ca: cannot read ${target.tlsCa}: ${(err as Error).message}`);
  }
}

/** One Solve call: every event as it comes; rejects with the stream's gRPC error. */
function solveOnce(client: optimizer.OptimizerClient, req: optimizer.SolveRequest, metadata: grpc.Metadata, timeoutS: number, onEvent: (ev: optimizer.SolveResponse) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.solve(req, metadata, { deadline: new Date(Date.now() + timeoutS * 1000) });
    call.on('data', onEvent);
    call.on('error', reject);
    call.on('end', resolve);
  });
}

/**
 * Solves `problem` on the optimizer at `options.address`, retrying UNAVAILABLE with backoff on a
 * fresh channel (runtime's `GrpcConnection`). Throws `CommandError` (exit 1) when it stays
 * unavailable or fails otherwise, `UsageError` (exit 2) for INVALID_ARGUMENT (naming the field).
 */
export async function solveRemote(problem: Problem, options: RemoteSolveOptions): Promise<RemoteSolveResult> {
  const { strategy, modeBudget } = remoteStrategy(options.strategy);
  const proto = problemToProto(problem);
  if (options.optimizerTrainBatchSize) proto.trainBatchSize = 0;
  proto.streams.forEach((s, i) => {
    if (options.optimizerBatchSizes?.[i]) s.candidateBatchSizes = [];
  });
  if (options.boardDevice) proto.device = '';
  const req = optimizer.SolveRequest.fromPartial({ problem: proto, strategy, modeBudget, seed: options.seed ?? 0, grid: options.grid ?? '', board: options.board ?? '' });
  const conn = optimizerConnection(options, options);
  let attempts = 0;
  try {
    return await conn.retrying('Solve', async (client, attempt) => {
      attempts = attempt;
      const modes: optimizer.ModeProfiled[] = [];
      let done: optimizer.SolveCompleted | undefined;
      await solveOnce(client, req, conn.metadata(), options.timeoutS ?? 3600, (ev) => {
        if (ev.event?.$case === 'modeProfiled') {
          modes.push(ev.event.value);
          options.onProgress?.(ev.event.value);
        } else if (ev.event?.$case === 'completed') {
          done = ev.event.value;
        }
      });
      if (!done?.plan) throw new CommandError(`optimizer at ${options.address}: the Solve stream ended without a plan`);
      return { plan: done.plan, cost: done.cost ?? common.PlanCost.fromPartial({}), modes, attempts: attempt };
    });
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw remoteError(err, options.address, attempts);
  } finally {
    conn.close();
  }
}

/** grpc-js details without its empty trailers (`… Resolution note: `). */
const details = (err: { details?: string; message: string }): string => (err.details ?? err.message).replace(/\s*Resolution note:\s*$/u, '');

export function remoteError(err: unknown, address: string, attempts: number): Error {
  if (!(err instanceof GrpcStatusError) && !isServiceError(err)) return err instanceof Error ? err : new Error(String(err));
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      // After the retries the connection names the peer, the method and the tries itself.
      return new CommandError(err instanceof GrpcStatusError ? err.message : `optimizer at ${address} is unavailable (${attempts} ${attempts === 1 ? 'try' : 'tries'}): ${details(err)}`);
    case grpc.status.INVALID_ARGUMENT: {
      const field = errorField(err as grpc.ServiceError);
      return new UsageError(`optimizer at ${address} rejected the problem: ${field && !details(err).includes(field) ? `${field}: ` : ''}${details(err)}`);
    }
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return new CommandError(`optimizer at ${address}: ${details(err)} (give the service's token with --token)`);
    case grpc.status.DEADLINE_EXCEEDED:
      return new CommandError(`optimizer at ${address}: no plan before the deadline: ${details(err)}`);
    default:
      return new CommandError(`optimizer at ${address}: ${grpc.status[err.code] ?? err.code}: ${details(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Progress

/** How many modes a strategy is expected to profile (the bar's length); GMD's target is ~15. */
export function expectedModes(strategy: string): number {
  const m = /-(\d+)$/.exec(strategy);
  if (m) return Number(m[1]);
  return strategy === 'maxn' ? 1 : strategy === 'best-preset' ? 4 : 15;
}

const modeText = (m: common.PowerMode | undefined): string => (m ? formatPowerMode(m as PowerMode) : '?');

/**
 * A progress display: on a terminal one line redrawn in place
 * (`[#######·········] 7 modes (5 measured, 2 reused) · 12.4 s profiling · best X 118.2/s`),
 * otherwise one plain line per mode.
 */
export function progressReporter(io: CliIo, options: { tty: boolean; expected: number }): { onProgress: (ev: optimizer.ModeProfiled) => void; onRetry: (err: grpc.ServiceError, attempt: number, delayMs: number) => void; finish: () => void } {
  let n = 0;
  let drawn = false;
  const width = 24;
  return {
    onProgress(ev) {
      // A re-measure (issue 16) is a fresh window of a mode already counted.
      if (!ev.remeasured) n++;
      const cost = ev.cost;
      const best = ev.bestPlan;
      const bestText = best ? `best X ${best.predictedTrainThroughputSamplesPerS.toFixed(1)}/s${best.feasible ? '' : ' (infeasible)'}` : 'no plan yet';
      if (options.tty) {
        const filled = Math.min(width, Math.round((n / Math.max(n, options.expected)) * width));
        const line = `[${'#'.repeat(filled)}${'·'.repeat(width - filled)}] ${n} mode${n === 1 ? '' : 's'} (${cost?.modesProfiled ?? 0} measured, ${cost?.modesReused ?? 0} reused) · ${(cost?.profilingSeconds ?? 0).toFixed(1)} s profiling · ${bestText}`;
        io.stderr(`\r\x1b[2K${line}`);
        drawn = true;
      } else {
        io.stderr(`${ev.remeasured ? 're-measure' : `mode ${n}`}: ${modeText(ev.mode)} ${ev.remeasured ? 'measured again' : ev.reused ? 'from the store' : 'profiled'} (${ev.results.length} results); ${cost?.modesProfiled ?? 0} measured, ${cost?.modesReused ?? 0} reused, ${(cost?.profilingSeconds ?? 0).toFixed(1)} s profiling; ${bestText}\n`);
      }
    },
    onRetry(err, attempt, delayMs) {
      if (drawn) io.stderr('\n');
      drawn = false;
      io.stderr(`optimizer unavailable (${details(err)}); try ${attempt + 1} in ${(delayMs / 1000).toFixed(1)} s\n`);
    },
    finish() {
      if (drawn) io.stderr('\n');
      drawn = false;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Report

export interface RemoteSolveReport {
  strategy: string;
  optimizer: string;
  problem: Problem;
  plan: {
    planId: string;
    mode: string;
    batchSizes: Record<string, number>;
    feasible: boolean;
    verdict: string;
    bindingConstraint: string | null;
    trainThroughputSamplesPerS: number;
    powerW: number;
    utilization: number;
    latencyBoundsS: Record<string, number>;
  };
  cost: { modesProfiled: number; modesReused: number; remeasures: number; profilingSeconds: number; optimizerMs: number };
  /** Every mode looked at, in order (re-measures not repeated here: `cost.remeasures`). */
  modes: { mode: string; reused: boolean }[];
}

function constraintText(c: common.Constraint, stream: string): string | null {
  const name = constraintFromProto(c, 'plan.bindingConstraint');
  if (!name) return null;
  return name === 'latency' && stream ? `latency of ${stream}` : name;
}

function verdictOf(plan: common.Plan): string {
  const binding = constraintText(plan.bindingConstraint, plan.bindingStream);
  if (plan.feasible) return `feasible${binding ? `; tightest constraint: ${binding}` : ''}`;
  const units: Record<string, string> = { latency: ' s', power: ' W', stability: '' };
  const broken = (v: common.Violation): string => {
    const name = constraintFromProto(v.constraint, 'plan.violations.constraint') ?? 'constraint';
    const unit = units[name] ?? '';
    return `${constraintText(v.constraint, v.stream) ?? name} ${v.value.toFixed(3)}${unit} > ${v.limit.toFixed(3)}${unit}`;
  };
  const first = plan.violations.find((v) => v.constraint === plan.bindingConstraint && (!plan.bindingStream || v.stream === plan.bindingStream)) ?? plan.violations[0];
  const rest = plan.violations.filter((v) => v !== first).map(broken);
  return `infeasible: binding constraint is ${first ? broken(first) : (binding ?? 'unknown')}${rest.length ? `; also ${rest.join('; ')}` : ''}`;
}

export function remoteReport(problem: Problem, strategy: string, address: string, r: RemoteSolveResult): RemoteSolveReport {
  const p = r.plan;
  return {
    strategy: p.strategy || strategy,
    optimizer: address,
    problem,
    plan: {
      planId: p.planId,
      mode: modeText(p.mode),
      batchSizes: Object.fromEntries(p.streams.map((s) => [s.stream, s.batchSize])),
      feasible: p.feasible,
      verdict: verdictOf(p),
      bindingConstraint: constraintText(p.bindingConstraint, p.bindingStream),
      trainThroughputSamplesPerS: p.predictedTrainThroughputSamplesPerS,
      powerW: p.predictedPowerW,
      utilization: p.utilization,
      latencyBoundsS: Object.fromEntries(p.streams.map((s) => [s.stream, s.predictedLatencyS])),
    },
    cost: { modesProfiled: r.cost.modesProfiled, modesReused: r.cost.modesReused, remeasures: r.cost.remeasures, profilingSeconds: r.cost.profilingSeconds, optimizerMs: r.cost.optimizerMs },
    modes: r.modes.filter((m) => !m.remeasured).map((m) => ({ mode: modeText(m.mode), reused: m.reused })),
  };
}

/** The plan and its cost in the local solve's layout. */
export function formatRemoteReport(r: RemoteSolveReport): string {
  const lines: string[] = [];
  lines.push(`strategy ${r.strategy} on the optimizer at ${r.optimizer} (plan ${r.plan.planId})`);
  lines.push(`plan: mode ${r.plan.mode} (cores, CPU MHz, GPU MHz, EMC MHz); batch sizes ${Object.entries(r.plan.batchSizes).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  const t = new Table({ head: ['stream', 'batch', 'chosen among', 'latency bound s', 'budget s'], style: { head: [], border: [] } });
  for (const s of r.problem.streams) t.push([s.name, r.plan.batchSizes[s.name] ?? '-', s.candidateBatchSizes.join(',') || '-', (r.plan.latencyBoundsS[s.name] ?? 0).toFixed(4), s.latencyBudgetS]);
  lines.push(t.toString());
  lines.push(
    `predicted: X = ${r.plan.trainThroughputSamplesPerS.toFixed(2)} samples/s, ${r.problem.powerSemantics} power ${r.plan.powerW.toFixed(2)} W (budget ${r.problem.powerBudgetW} W), GPU utilisation ρ = ${r.plan.utilization.toFixed(3)}`,
  );
  lines.push(`verdict: ${r.plan.verdict}`);
  // As the local solve says it: re-measured windows of profiled modes counted apart (issue 16).
  const again = r.cost.remeasures > 0 ? ` + ${r.cost.remeasures} re-measure${r.cost.remeasures === 1 ? '' : 's'}` : '';
  lines.push(`cost: ${r.cost.modesProfiled} modes profiled${again}, ${r.cost.modesReused} reused from the store, ${r.cost.profilingSeconds.toFixed(1)} s of profiling, ${r.cost.optimizerMs.toFixed(1)} ms optimizer time`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// The command

export interface RemoteSolveCommandOptions {
  readonly remote: string;
  readonly token?: string | undefined;
  readonly tls?: boolean | undefined;
  readonly tlsCa?: string | undefined;
  readonly device?: string | undefined;
  readonly profiles?: string | undefined;
  readonly train: string;
  readonly trainBatch?: number | undefined;
  readonly power: number;
  readonly semantics: PowerSemantics;
  /** The registry name `--strategy` resolved to. */
  readonly strategy: string;
  readonly streams: readonly unknown[];
  readonly seed: number;
  readonly seedGiven: boolean;
  readonly noiseGiven: boolean;
  readonly json?: boolean | undefined;
  readonly board?: string | undefined;
  /** Draw the plan into this file (.svg or .png) from the Solve's answer. */
  readonly plot?: string | undefined;
}

/**
 * What a remote problem may name: the built-in devices and workloads, and any other name that
 * follows the name rule (a board's own, from its profile table): the optimizer knows its board and
 * refuses a name it does not have (INVALID_ARGUMENT naming the field, exit 2 here).
 */
function remoteCatalog(device: string | undefined, workloads: readonly unknown[]): Catalog {
  const own = (name: unknown): name is string => typeof name === 'string' && NAME_RULE.test(name);
  const template = DEVICES[0]!;
  return catalogWith(BUILTIN_CATALOG, {
    devices: own(device) ? [{ ...template, id: device, displayName: device, presets: [], notes: 'a board of its own (the optimizer knows its grid)' }] : [],
    workloads: workloads.filter(own).map((w) => userWorkload(w, 1)),
  });
}

/** True when the optimizer's board list says `board` runs `planId`; false when it does not, or the list cannot be read. */
async function boardRuns(o: RemoteSolveCommandOptions, board: string, planId: string): Promise<boolean> {
  const conn = optimizerConnection({ address: o.remote, token: o.token, tls: o.tls, tlsCa: o.tlsCa });
  try {
    const res = await conn.unary<optimizer.ListBoardsResponse>('ListBoards', (c, md, opts, cb) => c.listBoards({}, md, opts, cb));
    return res.boards.some((b) => b.board === board && b.planId === planId);
  } catch {
    return false;
  } finally {
    conn.close();
  }
}

/** `fulcrum solve --remote …`: validates the problem here (exit 2 naming the flag), solves there. */
export async function solveOnRemote(o: RemoteSolveCommandOptions, io: CliIo, fieldToFlag: (field: string) => string | undefined): Promise<void> {
  if (o.profiles !== undefined) throw new UsageError('--profiles: with --remote the optimizer profiles through its profiler; a profile table is for a local solve');
  if (o.noiseGiven) throw new UsageError('--noise: with --remote the board (or its virtual model) is the services\'; noise is for a local solve');
  if (o.board !== undefined && !TOKEN_RULE.test(o.board)) throw new UsageError(`--board: a board id is 1–64 letters, digits, '-' or '_', got ${describeValue(o.board)}`);
  if (o.plot !== undefined) plotFormat(o.plot);
  if (!/^[^\s:]+:\d{1,5}$/.test(o.remote) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(o.remote)) throw new UsageError(`--remote: expected HOST:PORT, got ${JSON.stringify(o.remote)}`);
  const catalog = remoteCatalog(o.device, [o.train, ...o.streams.map((s) => (s && typeof s === 'object' ? (s as { workload?: unknown }).workload : undefined))]);
  let problem: Problem;
  try {
    problem = validateProblem({
      device: o.device ?? 'orin-agx',
      trainWorkload: o.train,
      ...(o.trainBatch ? { trainBatchSize: o.trainBatch } : {}),
      powerBudgetW: o.power,
      powerSemantics: o.semantics,
      streams: o.streams as never,
    }, catalog);
  } catch (err) {
    throw asUsageError(err, fieldToFlag);
  }
  // A workload of the board's own: its bT is the optimizer's to know (from the board's profile table).
  const optimizerTrainBatchSize = !o.trainBatch && !BUILTIN_CATALOG.workloadIds().includes(problem.trainWorkload);
  // Streams without --batch-sizes: the optimizer knows the workload's own (a folder's, the board's table's).
  const optimizerBatchSizes = o.streams.map((s) => !(s && typeof s === 'object' && (s as { candidateBatchSizes?: unknown }).candidateBatchSizes !== undefined));
  const progress = progressReporter(io, { tty: Boolean(process.stderr.isTTY), expected: expectedModes(o.strategy) });
  let result: RemoteSolveResult;
  try {
    result = await solveRemote(problem, {
      address: o.remote,
      token: o.token,
      tls: o.tls,
      tlsCa: o.tlsCa,
      strategy: o.strategy,
      ...(o.seedGiven ? { seed: o.seed } : {}),
      onProgress: progress.onProgress,
      onRetry: progress.onRetry,
      optimizerTrainBatchSize,
      optimizerBatchSizes,
      ...(o.board !== undefined ? { board: o.board, boardDevice: o.device === undefined } : {}),
    });
  } finally {
    progress.finish();
  }
  if (optimizerTrainBatchSize) {
    // The bT the optimizer used: its training measurements' batch size.
    const trained = result.modes.flatMap((m) => m.results).find((r) => r.workload === problem.trainWorkload && r.kind === common.WorkloadKind.WORKLOAD_KIND_TRAIN);
    if (trained) problem = { ...problem, trainBatchSize: trained.batchSize };
  }
  // The batch sizes the optimizer chose among: those its measurements of each stream's workload have.
  const measured = (workload: string): number[] =>
    [...new Set(result.modes.flatMap((m) => m.results).filter((r) => r.workload === workload && r.kind === common.WorkloadKind.WORKLOAD_KIND_INFER).map((r) => r.batchSize))].sort((a, b) => a - b);
  problem = { ...problem, streams: problem.streams.map((s, i) => (optimizerBatchSizes[i] && measured(s.workload).length > 0 ? { ...s, candidateBatchSizes: measured(s.workload) } : s)) };
  const report: RemoteSolveReport & { board?: { id: string; applied: boolean } } = remoteReport(problem, o.strategy, o.remote, result);
  if (o.board !== undefined) {
    // Whether the board runs the plan now, as the optimizer knows it (it applies a plan before it
    // answers): a plan the board's executor did not take must not look like one it did.
    const applied = await boardRuns(o, o.board, result.plan.planId);
    report.board = { id: o.board, applied };
    if (!applied) {
      io.stderr(
        `fulcrum: the plan was not applied on board ${o.board}${result.plan.feasible ? " (its executor did not take it, or the optimizer applies no plans: executor.apply; the optimizer's log says which)" : ' (an infeasible plan is never applied)'}\n`,
      );
    }
  }
  if (o.plot !== undefined) {
    try {
      await writePlanPlot(o.plot, remotePlotInput(problem, result.plan, result.cost, result.modes), o.strategy, `the optimizer at ${o.remote}`);
    } catch (err) {
      throw new UsageError(`--plot: cannot write ${o.plot}: ${(err as Error).message}`);
    }
  }
  io.stdout(o.json ? JSON.stringify(report, null, 2) + '\n' : formatRemoteReport(report));
  if (o.plot !== undefined && !o.json) io.stdout(`plot: ${o.plot}\n`);
}
