/**
 * The optimizer as a library (SPEC §5): solves problems with a strategy (GMD by default), profiling
 * through a profiler port; computes the profiled time–power front of a key from stored profiles;
 * re-plans from stored profiles with no new profiling; applies plans on the executor; re-plans by
 * itself when arrival rates move.
 *
 * Profiling: the strategies' ProfileCache (one per profile key and grid, kept for the process's
 * life) asks the profiler for a mode at most once; the profiler answers from its store what any
 * optimizer already had measured, so a problem solved again — here, after a restart or elsewhere —
 * profiles nothing new. Prepared strategies (ALS's front, random-k's sample, GMD's axis model) are
 * kept per (strategy, key, seed), as the strategies' Planner does.
 */
import { LRUCache } from 'lru-cache';
import { status } from '@grpc/grpc-js';
import { BUILTIN_CATALOG, LOCAL_FRONT_STRATEGY, ValidationError, stackBase, type Catalog, type DeviceSpec, type Problem } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { eventFilter, type ArrivalRatesEvent, type BoardAnnounceEvent, type BoardEventMessage, type EventBus, type PlanAppliedEvent, type Subscription } from '@fulcrum/bus';
import {
  MeasurementTable,
  ModeSpace,
  NO_MARGINS,
  DEFAULT_TARGET_PROBABILITY,
  Remeasure,
  marginsFor,
  type SafetyMargins,
  type Strategy,
  type TableKey,
} from '@fulcrum/strategies';
import {
  BackendCaches,
  ModeScore,
  Objective,
  ProfiledFront,
  bestAmong,
  scoreMode,
  seedFrom,
  tableKeyOf,
  tableKeyText,
  type PreparedStrategy,
  type ProfileCache,
  type Profiling,
  type StrategyContext,
} from '@fulcrum/strategies/internal';
import type { ProfileResult } from '@fulcrum/core';
import { GrpcStatusError } from '@fulcrum/runtime';
import type { Logger } from 'pino';
import { UNBOUNDED } from '@fulcrum/proto/internal';
import { MAX_FRONT_MODES, type FrontModeRecord } from '@fulcrum/proto';
import type { OptimizerMetrics } from './metrics.js';
import { PlanRegistry, buildPlan, samePlan, type OptimizerPlan, type PlanRecord } from './plans.js';
import { allProfiles, type PlanExecutorPort, type ProfilerPort } from './ports.js';
import { movedProblem, type RateMove, type RateRule } from './replan-rule.js';
import { RemoteProfileBackend, measurementOf, resolveStrategy, type ProfileProtocolOverrides } from './strategies.js';


/**
 * Documented limits of what the optimizer keeps in memory per device grid: the profile caches of
 * this many problem keys and this many prepared fronts (strategy × key × seed), least recently used
 * first out. An evicted key's profiles come back from the profiler's store without measuring; an
 * evicted front is prepared again from them. Memory stays flat over any number of distinct problems.
 * And the answers of this many problems solved before (SPEC §4): a repeat profiles nothing.
 */
export const CACHE_LIMITS = { profileKeys: 32, preparedFronts: 32, answers: 256 } as const;

/**
 * A problem's own figures (power budget and semantics; per stream its workload, candidate batch
 * sizes, rate and latency budget), without its names: two boards' identical problems are one.
 */
function problemFiguresText(problem: Problem): string {
  const streams = problem.streams.map((s) => `${s.workload}@${s.candidateBatchSizes.join('.')}:${s.arrivalRatePerS}/${s.latencyBudgetS}`).join('+');
  return `${problem.powerBudgetW}${problem.powerSemantics}|${streams}`;
}

/** Modes looked at again (answered from the cache: reported as reused). */
function* asked(modes: readonly number[]): Profiling<void> {
  yield modes;
}

/** What a Solve answered: the modes it looked at, and the one it chose. */
interface Answer {
  readonly modes: readonly number[];
  readonly mode: number;
  readonly feasible: boolean;
}
export interface SolveCost {
  /** Modes the profiler newly measured for this call. */
  readonly modesProfiled: number;
  /** Modes answered from stored profiles (the profiler's store or this optimizer's cache). */
  readonly modesReused: number;
  /** Fresh windows of already profiled modes the profiler measured for this call (re-measures). */
  readonly remeasures: number;
  /** Profiling seconds of the newly measured modes and the re-measures (switch + settle + minibatches). */
  readonly profilingSeconds: number;
  /** Optimizer wall time, waiting for the profiler excluded, ms. */
  readonly optimizerMs: number;
}

export interface SolveInput {
  /** A validated problem (core's `validateProblem`, or `problemFromProto`). */
  readonly problem: Problem;
  /** Strategy name (`gmd`, `als`, `als-50`, `maxn`, `best-preset`, `random-15`, `powertrain-50`, `bo-15`, `gmd-20`, …); default the configured one. */
  readonly strategy?: string | undefined;
  /** Sub-grid (`full`, `4368`, `441`); default `full`. */
  readonly grid?: string | undefined;
  /** Seed of the strategy's random choices; default the configured one. */
  readonly seed?: number | undefined;
  /** Apply the plan on the executor when feasible; default the optimizer's `apply`. */
  readonly apply?: boolean | undefined;
  /** Plan for this board (one that announced itself): its executor gets the plan. */
  readonly board?: string | undefined;
  /** Aborts the Solve before its next profiling call (the client cancelled or its deadline passed): CANCELLED. */
  readonly signal?: AbortSignal | undefined;
}

/** One mode the strategy looked at. */
export interface ModeProfiledEvent {
  readonly type: 'mode';
  readonly modeIndex: number;
  readonly mode: OptimizerPlan['mode'];
  /** Answered from stored profiles: nothing was measured for it in this call. */
  readonly reused: boolean;
  /** A re-measure of a mode reported earlier: `results` are the fresh window's. */
  readonly remeasured: boolean;
  readonly results: readonly ProfileResult[];
  /** Cost so far, this mode included. */
  readonly cost: SolveCost;
  /** Best plan among the modes looked at so far (planId ''). */
  readonly bestPlan: OptimizerPlan | undefined;
}

export interface SolveCompletedEvent {
  readonly type: 'completed';
  readonly problem: Problem;
  readonly plan: OptimizerPlan;
  readonly cost: SolveCost;
  /** The plan was applied on the executor. */
  readonly applied: boolean;
}

export type SolveEvent = ModeProfiledEvent | SolveCompletedEvent;

export interface ReplanInput {
  readonly problem: Problem;
  /** The plan now running, if any: `changed` is judged against it, and its strategy is used if profiling is needed. */
  readonly previousPlanId?: string | undefined;
  /** Profile with the strategy when the stored profiles give no feasible plan. */
  readonly allowProfiling?: boolean | undefined;
  readonly strategy?: string | undefined;
  readonly apply?: boolean | undefined;
  /** The board it is for (its executor gets the plan, when the board announced one). */
  readonly board?: string | undefined;
}

export interface ReplanOutcome {
  readonly plan: OptimizerPlan;
  readonly cost: SolveCost;
  /** Mode or batch sizes differ from the previous plan's (true when there is none). */
  readonly changed: boolean;
  readonly applied: boolean;
}

export interface ParetoFront {
  /** Non-dominated plans (higher X, lower power), one per mode, by power ascending. */
  readonly points: readonly OptimizerPlan[];
  /** Stored modes with complete profiles for the key. */
  readonly modesConsidered: number;
}

/** A board as its last `board.announce` described it (the optimizer's registry; `ListBoards`). */
export interface BoardRecord {
  readonly board: string;
  readonly device: string;
  readonly softwareStack: string;
  /** Where its executor answers gRPC; '' when not reachable. */
  readonly executorAddress: string;
  readonly state: string;
  /** The plan running there as far as this optimizer knows. */
  readonly planId: string | undefined;
  readonly lastSeen: Date;
}

/** Boards the registry keeps (least recently heard from go first). */
export const MAX_BOARDS = 1024;

/** Seconds before following a board's stream is tried again after it failed. */
export const FEED_RETRY_S = 30;

interface BoardFeed {
  sub: Subscription<BoardEventMessage>;
  readonly domain: string | undefined;
  /** The stream is being read (ready resolved); core NATS events of this board are then ignored. */
  live: boolean;
  /** The last plan applied was the board's own (`local-front`): re-plan once caught up. */
  reconcile: boolean;
  /** The newest arrival rates read while catching up, acted on once caught up. */
  latestRates: ArrivalRatesEvent | undefined;
}

export interface OptimizerOptions {
  readonly profiler: ProfilerPort;
  /** Where plans are applied (ApplyPlan); none: plans are only returned. */
  readonly executor?: PlanExecutorPort | undefined;
  /** A board's executor, by the address it announced (a Solve for a board applies there); none: boards cannot be planned for by id. */
  readonly executorAt?: ((address: string) => PlanExecutorPort) | undefined;
  /** Apply feasible plans by default (Solve, Replan and automatic re-plans). */
  readonly apply?: boolean | undefined;
  readonly defaults: { readonly strategy: string; readonly device: string; readonly seed: number };
  /**
   * The devices (their grids) and workloads (their bT) problems may name; default the built-in
   * ones. A profile table's catalog (`ProfileTable.catalog()`) adds its own device and workloads.
   */
  readonly catalog?: Catalog | undefined;
  /**
   * Further checks of a request's problem against the board (e.g. that its profile table trains the
   * training workload at bT and serves every stream's); throws a ValidationError on `problem.…`.
   */
  readonly checkProblem?: ((problem: Problem) => void) | undefined;
  /** Relative measurement noise: the margins of modes whose measurements carry no standard errors (z × it). */
  readonly noiseFraction: number;
  /**
   * Safety margins (SPEC §4): the one-sided probability a plan's constraints hold on the truth
   * (default 0.975: z = 1.96), and the relative error one measurement window cannot show (thermal
   * drift; default 0), added to the standard errors in quadrature and shrinking with re-measures.
   */
  readonly margins?: {
    readonly targetProbability?: number | undefined;
    readonly systematicFraction?: number | undefined;
    /** Let strategies re-measure profiled modes where a margin decides (default true). */
    readonly remeasure?: boolean | undefined;
  } | undefined;
  /** Stored profiles of this stack only (fronts, re-plans); default the newest stack seen. */
  readonly softwareStack?: string | undefined;
  /** Sent with every Profile call (absent: the profiler's defaults). */
  readonly profileProtocol?: ProfileProtocolOverrides | undefined;
  readonly logger: Logger;
  readonly metrics?: OptimizerMetrics | undefined;
}

export interface ArrivalReplanRule extends RateRule {
  readonly minIntervalS: number;
  readonly allowProfiling: boolean;
}

/** One grid of one device: its mode space, the remote backend and the per-key caches. */
interface SolverSpace {
  readonly id: string;
  readonly device: DeviceSpec;
  readonly space: ModeSpace;
  readonly backend: RemoteProfileBackend;
  readonly store: BackendCaches;
  readonly prepared: LRUCache<string, { prepared: PreparedStrategy; modes: number[] }>;
  /** Answers of Solves (strategy × key × seed × problem figures), so a repeat profiles nothing. */
  readonly answers: LRUCache<string, Answer>;
}

/** Per-call bookkeeping of the modes looked at and their cost. */
class Session {
  constructor(readonly signal?: AbortSignal) {}
  readonly seen = new Set<number>();
  readonly order: number[] = [];
  modesProfiled = 0;
  modesReused = 0;
  remeasures = 0;
  profilingSeconds = 0;
  waitedMs = 0;
  readonly started = performance.now();

  cost(): SolveCost {
    return {
      modesProfiled: this.modesProfiled,
      modesReused: this.modesReused,
      remeasures: this.remeasures,
      profilingSeconds: this.profilingSeconds,
      optimizerMs: Math.max(0, performance.now() - this.started - this.waitedMs),
    };
  }
}

export class Optimizer {
  readonly plans = new PlanRegistry();
  private readonly options: OptimizerOptions;
  private readonly logger: Logger;
  private readonly margins: SafetyMargins;
  private readonly spaces = new Map<string, SolverSpace>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly lastAutoReplan = new Map<string, number>();
  /** The plan running on each board, as far as this optimizer knows (applied by it, or seen on plan.applied). */
  private readonly running = new Map<string, string>();
  private readonly subscriptions: Subscription<unknown>[] = [];
  /** The boards heard from on `board.announce` (at most MAX_BOARDS). */
  private readonly boardRegistry = new LRUCache<string, Omit<BoardRecord, 'planId'>>({ max: MAX_BOARDS });
  /** The boards whose durable stream this optimizer follows (at most MAX_BOARDS). */
  private readonly feeds = new LRUCache<string, BoardFeed>({ max: MAX_BOARDS, dispose: (feed) => feed.sub.unsubscribe() });
  /** When following a board last failed (no JetStream, or the stream not reachable yet), by board. */
  private readonly feedFailedAt = new LRUCache<string, number>({ max: MAX_BOARDS });
  /** The automatic re-plan rule (`watchArrivals`); none: arrival rates are only noted. */
  private arrivalsRule: ArrivalReplanRule | undefined;
  /** Executors of boards planned for by id, by address. */
  private readonly boardExecutors = new LRUCache<string, PlanExecutorPort>({ max: 64, dispose: (port) => port.close?.() });
  /** The devices and workloads problems may name (options.catalog, default the built-in ones). */
  readonly catalog: Catalog;
  /** options.checkProblem (none: every problem the catalog admits). */
  readonly checkProblem: (problem: Problem) => void;

  constructor(options: OptimizerOptions) {
    this.checkProblem = options.checkProblem ?? (() => undefined);
    this.catalog = options.catalog ?? BUILTIN_CATALOG;
    this.options = options;
    this.logger = options.logger;
    const target = options.margins?.targetProbability ?? DEFAULT_TARGET_PROBABILITY;
    if (!(target > 0.5 && target < 1)) throw new ValidationError('margins.targetProbability', `must be a one-sided probability in (0.5, 1) (0.975: z = 1.96), got ${describeValue(target)}`);
    const systematic = options.margins?.systematicFraction ?? 0;
    if (!(systematic >= 0 && systematic <= 0.5)) throw new ValidationError('margins.systematicFraction', `must be a relative error in [0, 0.5], got ${describeValue(systematic)}`);
    this.systematicFraction = systematic;
    this.margins = marginsFor(options.noiseFraction, { targetProbability: target, systematicFraction: systematic });
  }

  /** The relative error per window the margins add (options.margins.systematicFraction). */
  private readonly systematicFraction: number;

  /** Resolves a strategy name (default the configured one); ValidationError('strategy') when unknown or not usable here. */
  strategy(name?: string): Strategy {
    const s = resolveStrategy(name || this.options.defaults.strategy);
    if (s.needsGroundTruth) {
      throw new ValidationError('strategy', `${s.name} needs the noise-free ground truth of a virtual device or profile table, which a profiler service does not have (use fulcrum solve or bench)`);
    }
    return s;
  }

  /**
   * Solves a problem: yields one `mode` event per mode the strategy looks at (in order), then one
   * `completed` event with the plan. An infeasible problem completes with `plan.feasible` false and
   * the binding constraint. Profiler failures end it with the profiler's error (UNAVAILABLE after
   * the retries); what was measured stays stored, so a retry resumes.
   */
  async *solve(input: SolveInput): AsyncGenerator<SolveEvent, OptimizerPlan, void> {
    const problem = input.problem;
    const board = input.board === undefined ? undefined : this.board(input.board);
    if (board && board.device !== problem.device) {
      throw new ValidationError('problem.device', `board ${describeValue(board.board)} is a ${describeValue(board.device)}, not ${describeValue(problem.device)}`);
    }
    if (board && (!board.executorAddress || !this.options.executorAt)) {
      throw new GrpcStatusError(status.FAILED_PRECONDITION, `board ${describeValue(board.board)} announced no executor address this optimizer can reach`);
    }
    // Before any profiling: the board's executor must be one this optimizer will dial (executorAt may refuse it).
    if (board) this.executorOf(board, true);
    const strategy = this.strategy(input.strategy);
    const ss = this.spaceFor(problem.device, input.grid);
    const seed = input.seed || this.options.defaults.seed;
    const key = tableKeyOf(problem);
    const keyText = tableKeyText(key);
    const session = new Session(input.signal);
    const release = await this.acquire(`${ss.id}|${keyText}`);
    let outcome = 'error';
    try {
      const cache = ss.store.cache(key);
      const objective = new Objective(problem);
      const ctx: StrategyContext = {
        space: ss.space,
        key,
        measured: cache.table,
        truth: undefined,
        presets: ss.device.presets,
        seed: seedFrom(`${strategy.name}|${keyText}`, seed),
        margins: this.margins,
        // GMD and ALS re-measure where a margin decides (confirmed): the profiler takes fresh windows.
        canRemeasure: ss.backend.remeasures && this.options.margins?.remeasure !== false,
      };
      const handleId = `${strategy.name}#${keyText}#${seed}`;
      let handle = ss.prepared.get(handleId);
      if (!handle) {
        const before = session.order.length;
        const prepared = yield* this.drive(strategy.prepare(ctx), ss, cache, key, session, problem, objective);
        handle = { prepared, modes: session.order.slice(before) };
        ss.prepared.set(handleId, handle);
      } else if (handle.modes.length > 0) {
        // Prepared earlier: its modes are reported (as reused) so the caller sees what the plan was chosen among.
        yield* this.drive(asked(handle.modes), ss, cache, key, session, problem, objective);
      }
      const prepared = handle.prepared;
      const choice = yield* this.answer(prepared, `${handleId}#${problemFiguresText(problem)}`, ss, cache, key, session, problem, objective);
      if (!choice?.measurable) {
        throw new GrpcStatusError(status.FAILED_PRECONDITION, `strategy ${strategy.name} found no mode with measurements for every stream (did the profiler return results for the candidate batch sizes?)`);
      }
      const plan = buildPlan(problem, prepared.choiceTable ?? cache.table, choice, strategy.name, ss.space);
      this.plans.add({ plan, problem, strategy: strategy.name, grid: input.grid || 'full', seed });
      const applied = await this.maybeApply(problem, plan, input.apply, board, frontOf(problem, cache.table, session.order, ss.space));
      const cost = session.cost();
      outcome = plan.feasible ? 'feasible' : 'infeasible';
      this.logger.info(
        { strategy: strategy.name, planId: plan.planId, mode: plan.mode, batchSizes: plan.batchSizes, feasible: plan.feasible, verdict: plan.verdict, ...cost, applied },
        'solved',
      );
      yield { type: 'completed', problem, plan, cost, applied };
      return plan;
    } finally {
      release();
      const m = this.options.metrics;
      if (m) {
        m.solves.inc({ strategy: strategy.name, outcome });
        m.solveDuration.observe({ strategy: strategy.name }, (performance.now() - session.started) / 1000);
      }
    }
  }

  /**
   * The strategy's answer to a problem. A problem solved before (same strategy, key, seed and
   * figures, on any board) is answered again among the modes that Solve looked at, with no
   * profiling: its plan's mode, re-scored on the current figures (its re-measures included), while
   * that holds at least as well as it did; else the best of those modes. Running the strategy again
   * instead could, on figures its re-measures moved, take another path and profile a mode.
   */
  private async *answer(prepared: PreparedStrategy, answerId: string, ss: SolverSpace, cache: ProfileCache, key: TableKey, session: Session, problem: Problem, objective: Objective): AsyncGenerator<SolveEvent, ModeScore | undefined, void> {
    // A strategy that chooses on its own table (predictions, which re-measures do not move) is asked again.
    const before = prepared.choiceTable ? undefined : ss.answers.get(answerId);
    if (before && before.modes.every((m) => cache.table.has(m))) {
      const modes = before.modes;
      yield* this.drive(asked(modes), ss, cache, key, session, problem, objective);
      const again = scoreMode(cache.table, before.mode, objective, this.margins, new ModeScore(objective.streamCount));
      if (again.measurable && (again.feasible || !before.feasible)) return again;
      return bestAmong(cache.table, modes, objective, this.margins);
    }
    const choice = yield* this.drive(prepared.answer(objective), ss, cache, key, session, problem, objective);
    if (choice?.measurable && !prepared.choiceTable) ss.answers.set(answerId, { modes: session.order.slice(), mode: choice.modeIndex, feasible: choice.feasible });
    return choice;
  }

  /** `solve` to the end: the plan and its cost (events dropped). */
  async solveToEnd(input: SolveInput): Promise<SolveCompletedEvent> {
    for await (const ev of this.solve(input)) if (ev.type === 'completed') return ev;
    throw new Error('solve ended without a plan');
  }

  /**
   * The profiled time–power front of a problem's key from the stored profiles (the profiler's
   * store): per stored mode the best batch sizes for X under the problem's latency budgets and
   * rates (the power budget is ignored), then the modes no other mode beats on both X and power.
   * Modes that meet the latency budgets form the front; when none does, all modes do.
   */
  async paretoFront(problem: Problem): Promise<ParetoFront> {
    const unbounded: Problem = { ...problem, powerBudgetW: UNBOUNDED };
    const ss = this.spaceFor(problem.device, 'full');
    const { table, modes } = await this.storedTable(unbounded, ss);
    const objective = new Objective(unbounded);
    const scores = modes.map((m) => scoreMode(table, m, objective, NO_MARGINS, new ModeScore(objective.streamCount))).filter((s) => s.measurable);
    const feasible = scores.filter((s) => s.feasible);
    const pool = feasible.length > 0 ? feasible : scores;
    pool.sort((a, b) => a.powerW - b.powerW || b.throughput - a.throughput);
    const front: ModeScore[] = [];
    for (const s of pool) if (front.length === 0 || s.throughput > front[front.length - 1]!.throughput) front.push(s);
    return { points: front.map((s) => buildPlan(unbounded, table, s, 'front', ss.space, '')), modesConsidered: modes.length };
  }

  /**
   * A changed problem (rates, power or latency budgets) answered among the stored profiles of its
   * key — ALS's front reused, or whatever was profiled for it — with no new profiling. With
   * `allowProfiling`, when the stored profiles give no feasible plan (or there are none), the
   * strategy profiles what it needs. Without it and with nothing stored: FAILED_PRECONDITION.
   */
  async replan(input: ReplanInput, trigger: 'request' | 'arrivals' | 'reconcile' = 'request'): Promise<ReplanOutcome> {
    const session = new Session();
    try {
      const problem = input.problem;
      const previous = input.previousPlanId ? this.plans.get(input.previousPlanId) : undefined;
      // The board the previous plan runs on gets its successor: without a board named, a re-plan of
      // one board's plan went to the configured executor, replacing another board's job.
      const board = input.board ? this.knownBoard(input.board) : input.previousPlanId ? this.boardRunning(input.previousPlanId) : undefined;
      // Asked for a board whose executor this optimizer refuses: said before any profiling, as Solve
      // says it (an automatic re-plan logs it and applies nothing).
      if (trigger === 'request' && board) this.executorOf(board, true);
      const ss = this.spaceFor(problem.device, 'full');
      const { table, modes } = await this.storedTable(problem, ss);
      let plan: OptimizerPlan | undefined;
      let cost: SolveCost = { modesProfiled: 0, modesReused: modes.length, remeasures: 0, profilingSeconds: 0, optimizerMs: 0 };
      if (modes.length > 0) {
        const step = new ProfiledFront(table, modes, this.margins).answer(new Objective(problem)).next();
        const choice = step.done ? step.value : undefined;
        if (choice?.measurable) plan = buildPlan(problem, table, choice, 'stored-front', ss.space);
        cost = { ...cost, optimizerMs: session.cost().optimizerMs };
      }
      if ((!plan || !plan.feasible) && input.allowProfiling) {
        const solved = await this.solveToEnd({
          problem,
          strategy: input.strategy || previous?.strategy,
          grid: previous?.grid,
          seed: previous?.seed,
          apply: false,
        });
        if (!plan || solved.plan.feasible || solved.plan.predicted.binding.relativeSlack > plan.predicted.binding.relativeSlack) plan = solved.plan;
        cost = solved.cost;
      }
      if (!plan) {
        throw new GrpcStatusError(
          status.FAILED_PRECONDITION,
          `no stored profiles answer this problem (device ${problem.device}, training ${problem.trainWorkload}@${problem.trainBatchSize}, streams ${problem.streams.map((s) => `${s.workload}@${s.candidateBatchSizes.join('/')}`).join(', ') || 'none'}); Solve it first or set allow_profiling`,
        );
      }
      const changed = !previous || !samePlan(previous.plan, plan);
      this.plans.add({ plan, problem, strategy: input.strategy || previous?.strategy || this.options.defaults.strategy, grid: previous?.grid ?? 'full', seed: previous?.seed ?? this.options.defaults.seed });
      // A re-plan for moved arrival rates (or of a board that re-planned by itself) is applied even
      // when the mode and batch sizes stay: the board then runs this optimizer's plan for the rates
      // it measures, and does not re-plan by itself (SPEC §6).
      const applied = changed || trigger !== 'request' ? await this.maybeApply(problem, plan, input.apply, board, frontOf(problem, table, modes, ss.space)) : false;
      this.options.metrics?.replans.inc({ trigger, outcome: changed ? 'changed' : 'unchanged', board: input.board ?? '' });
      this.logger.info({ trigger, planId: plan.planId, previousPlanId: input.previousPlanId, changed, feasible: plan.feasible, verdict: plan.verdict, ...cost, applied }, 're-planned');
      return { plan, cost, changed, applied };
    } catch (err) {
      this.options.metrics?.replans.inc({ trigger, outcome: 'error', board: input.board ?? '' });
      throw err;
    }
  }

  /** The boards this optimizer has heard from, most recently seen first. */
  boards(): BoardRecord[] {
    return [...this.boardRegistry.values()]
      // A board that stopped runs no plan; its last plan stays known here, so a re-plan of it still
      // goes to that board (and fails there), never to another board's executor.
      .map((b) => ({ ...b, planId: b.state === 'stopped' ? undefined : this.running.get(b.board) }))
      .sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
  }

  /** Notes a board's announcement (`fulcrum.<board>.board.announce`). */
  boardAnnounced(board: string, event: BoardAnnounceEvent): void {
    // When it was said (an announcement read back from the board's stream after a partition is old), never in the future.
    const said = Math.min(Date.parse(event.measuredAt) || Date.now(), Date.now());
    const known = this.boardRegistry.peek(board);
    if (known && known.lastSeen.getTime() > said) return;
    this.boardRegistry.set(board, { board, device: event.device, softwareStack: event.softwareStack, executorAddress: event.executorAddress ?? '', state: event.state ?? '', lastSeen: new Date(said) });
    if (event.planId && !this.running.has(board)) this.running.set(board, event.planId);
  }

  /** A known board's record; FAILED_PRECONDITION naming the known ones otherwise. */
  board(board: string): BoardRecord {
    const b = this.knownBoard(board);
    if (!b) {
      const known = this.boards().map((x) => x.board);
      throw new GrpcStatusError(status.FAILED_PRECONDITION, `board ${describeValue(board)} has not announced itself to this optimizer (is its executor on the same NATS?); known boards: ${known.length ? known.join(', ') : 'none'}`);
    }
    return b;
  }

  /** The known board whose running plan is `planId`, if any. */
  private boardRunning(planId: string): BoardRecord | undefined {
    for (const [board, running] of this.running) if (running === planId) return this.knownBoard(board);
    return undefined;
  }

  private knownBoard(board: string): BoardRecord | undefined {
    const b = this.boardRegistry.get(board);
    return b && { ...b, planId: this.running.get(board) };
  }

  /** The plan running on a board as far as this optimizer knows (it applied it, or saw it on `plan.applied`). */
  runningPlan(board: string): string | undefined {
    return this.running.get(board);
  }

  /**
   * Notes that a plan runs on a board (`plan.applied` on `fulcrum.<board>.plan.applied`). A plan
   * this optimizer did not make — the board re-planned by itself from its front while this
   * optimizer was away (`local-front`) — is recorded against the plan it replaced: the same problem
   * with the rates the board planned for, its mode and batch sizes (the predictions stay the
   * replaced plan's), so the next arrival rates are judged against what the board really runs.
   */
  planApplied(board: string, planId: string, event?: PlanAppliedEvent): void {
    if (event && !this.plans.get(planId)) {
      const base = this.plans.get(this.running.get(board) ?? '');
      if (base) {
        const planned = new Map(event.streams.map((s) => [s.stream, s]));
        const problem: Problem = {
          ...base.problem,
          streams: base.problem.streams.map((s) => {
            const rate = planned.get(s.name)?.arrivalRatePerS;
            return rate !== undefined && rate > 0 ? { ...s, arrivalRatePerS: rate } : s;
          }),
        };
        const batchSizes = base.problem.streams.map((s, i) => planned.get(s.name)?.batchSize ?? base.plan.batchSizes[i]!);
        this.plans.add({ ...base, problem, plan: { ...base.plan, planId, strategy: event.strategy || 'board', mode: event.mode, batchSizes, createdAt: new Date(event.appliedAt) } });
      }
    }
    this.running.set(board, planId);
  }

  /**
   * Re-plans when an `arrivals.rate` event shows a stream's rate moved beyond the rule against the
   * plan running on that board (learnt from `plan.applied` and from the plans this optimizer
   * applied) when this optimizer made that plan; at most once per `minIntervalS` per board.
   * An event naming another plan — stale, or forged by anyone on the bus — is ignored: it never
   * puts an older problem back on the board. Returns the re-plan, or undefined when the rule did
   * not fire.
   */
  async onArrivalRates(board: string, event: ArrivalRatesEvent, rule: ArrivalReplanRule): Promise<(ReplanOutcome & { moves: RateMove[] }) | undefined> {
    const planId = this.running.get(board);
    if (!planId) return undefined;
    if (event.planId !== undefined && event.planId !== planId) {
      this.logger.warn({ board, event: event.planId, running: planId }, 'arrivals.rate names a plan that is not the one running on this board (stale or forged); ignored');
      return undefined;
    }
    const record: PlanRecord | undefined = this.plans.get(planId);
    if (!record) return undefined;
    // A board that asks for a plan (its own rule fired: it waits, then re-plans from its front by
    // itself) gets one for the rates it measured, whether or not this optimizer's rule fires.
    const moved = movedProblem(record.problem, event, rule) ?? (event.replanRequested ? movedProblem(record.problem, event, { ...rule, rateThreshold: 0, noiseSigmas: 0 }) : undefined);
    if (!moved) return undefined;
    const now = Date.now();
    if (now - (this.lastAutoReplan.get(board) ?? -Infinity) < rule.minIntervalS * 1000) return undefined;
    this.lastAutoReplan.set(board, now);
    this.logger.info({ board, planId, moves: moved.moves }, 'arrival rates moved; re-planning');
    const out = await this.replan({ problem: moved.problem, previousPlanId: planId, allowProfiling: rule.allowProfiling, strategy: record.strategy, board }, 'arrivals');
    return { ...out, moves: moved.moves };
  }

  /**
   * Watches the boards: `fulcrum.*.board.announce` on core NATS (the registry, `boards()`, and
   * where each board's events are), and each announced board's durable stream (`followBoard`,
   * mirrored from the board's JetStream domain when it is a leaf): its plans applied, arrival
   * rates and announcements in order, none lost while the link was down. What a board stored while
   * the link was down is read to the end before anything is acted on: one re-plan for the latest
   * rates, not one per event. A board whose stream cannot be followed (NATS without JetStream) is
   * watched on core NATS (`plan.applied`, and `arrivals.rate` once `watchArrivals` is called).
   */
  watchBoards(bus: EventBus): Subscription<unknown>[] {
    const announced = bus.subscribe(eventFilter('board.announce'), (m) => {
      this.boardAnnounced(m.subject.board, m.event);
      this.follow(bus, m.subject.board, m.event.jsDomain);
    });
    const applied = bus.subscribe(eventFilter('plan.applied'), (m) => {
      if (!this.followsBoard(m.subject.board)) this.planApplied(m.subject.board, m.event.planId, m.event);
    });
    this.subscriptions.push(applied, announced);
    return [applied, announced];
  }

  /**
   * Re-plans by `rule` when a board's arrival rates move (`onArrivalRates`), and re-plans once a
   * board that re-planned by itself while this optimizer was away (`reconcile`). The rates come
   * from the boards' streams (`watchBoards`); boards not followed there, on core NATS. Errors are
   * logged, never thrown.
   */
  watchArrivals(bus: EventBus, rule: ArrivalReplanRule): Subscription<unknown>[] {
    this.arrivalsRule = rule;
    const rates = bus.subscribe(eventFilter('arrivals.rate'), async (m) => {
      if (this.followsBoard(m.subject.board)) return;
      await this.onArrivalRatesLogged(m.subject.board, m.event, rule);
    });
    this.subscriptions.push(rates);
    return [rates];
  }

  /** Whether this optimizer reads the board's durable stream (else core NATS only). */
  followsBoard(board: string): boolean {
    return this.feeds.peek(board)?.live === true;
  }

  private follow(bus: EventBus, board: string, domain: string | undefined): void {
    const current = this.feeds.peek(board);
    if (current && current.domain === domain) return;
    const failedAt = this.feedFailedAt.get(board);
    if (!current && failedAt !== undefined && Date.now() - failedAt < FEED_RETRY_S * 1000) return;
    if (current) this.feeds.delete(board); // the board moved to another domain: follow it there
    const feed: BoardFeed = { domain, live: false, reconcile: false, latestRates: undefined, sub: undefined as never };
    feed.sub = bus.followBoard(board, (m) => this.onBoardEvent(board, feed, m), { domain });
    this.feeds.set(board, feed);
    feed.sub.ready.then(
      () => {
        feed.live = true;
        this.feedFailedAt.delete(board);
        this.logger.info({ board, domain: domain ?? null }, 'following the board\'s durable events');
      },
      (err: unknown) => {
        this.feedFailedAt.set(board, Date.now());
        if (this.feeds.peek(board) === feed) this.feeds.delete(board);
        this.logger.warn({ board, domain: domain ?? null, err: err instanceof Error ? err.message : String(err), retryAfterS: FEED_RETRY_S }, 'cannot follow the board\'s durable events; watching it on core NATS');
      },
    );
    void feed.sub.closed.then(() => {
      if (this.feeds.peek(board) === feed) this.feeds.delete(board);
    });
  }

  /** One event of a board's stream, in order; acts once it has read all that is stored (pending 0). */
  private async onBoardEvent(board: string, feed: BoardFeed, m: BoardEventMessage): Promise<void> {
    switch (m.kind) {
      case 'board.announce':
        this.boardAnnounced(board, m.event);
        break;
      case 'plan.applied':
        this.planApplied(board, m.event.planId, m.event);
        feed.reconcile = m.event.strategy === LOCAL_FRONT_STRATEGY;
        break;
      case 'arrivals.rate':
        // The newest rates; a board's request for a plan among the ones read over stays a request.
        feed.latestRates = m.event.replanRequested || !feed.latestRates?.replanRequested ? m.event : { ...m.event, replanRequested: true };
        break;
      case 'profile.completed':
        break;
    }
    if (m.pending > 0) return;
    const rates = feed.latestRates;
    feed.latestRates = undefined;
    const rule = this.arrivalsRule;
    if (!rule) return;
    if (feed.reconcile) {
      feed.reconcile = false;
      try {
        await this.reconcile(board, rates, rule);
      } catch (err) {
        this.logger.warn({ err: err instanceof Error ? err.message : String(err), board }, 're-planning a board that re-planned by itself failed');
      }
    } else if (rates) {
      await this.onArrivalRatesLogged(board, rates, rule);
    }
  }

  private async onArrivalRatesLogged(board: string, event: ArrivalRatesEvent, rule: ArrivalReplanRule): Promise<void> {
    try {
      await this.onArrivalRates(board, event, rule);
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), board }, 'automatic re-plan failed');
    }
  }

  /**
   * The board re-planned by itself from the front it was given (`local-front`) while this
   * optimizer could not reach it; now that its events are read again, re-plan it once — for the
   * latest rates it measured — and apply the answer, so the plan is this optimizer's again (the
   * single owner of re-planning). Undefined when the board's plans are not known here.
   */
  async reconcile(board: string, rates: ArrivalRatesEvent | undefined, rule: ArrivalReplanRule): Promise<ReplanOutcome | undefined> {
    const planId = this.running.get(board);
    const record = planId === undefined ? undefined : this.plans.get(planId);
    if (!planId || !record) return undefined;
    const moved = rates && (rates.planId === undefined || rates.planId === planId) ? movedProblem(record.problem, rates, rule) : undefined;
    this.lastAutoReplan.set(board, Date.now());
    this.logger.info({ board, planId, moves: moved?.moves ?? [] }, 'the board re-planned by itself while this optimizer was away; re-planning it');
    return this.replan({ problem: moved?.problem ?? record.problem, previousPlanId: planId, allowProfiling: rule.allowProfiling, strategy: record.strategy, board }, 'reconcile');
  }

  /** Stops watching arrival rates and waits for running calls on every key. */
  async close(): Promise<void> {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    this.feeds.clear();
    this.boardExecutors.clear();
    await Promise.all([...this.locks.values()].map((p) => p.catch(() => undefined)));
  }

  /** What the optimizer keeps in memory now, summed over device grids (each bounded by CACHE_LIMITS). */
  cacheStats(): { readonly spaces: number; readonly profileKeys: number; readonly preparedFronts: number; readonly answers: number; readonly recordedKeys: number; readonly plans: number } {
    let profileKeys = 0;
    let preparedFronts = 0;
    let answers = 0;
    let recordedKeys = 0;
    for (const ss of this.spaces.values()) {
      profileKeys += ss.store.size;
      preparedFronts += ss.prepared.size;
      answers += ss.answers.size;
      recordedKeys += ss.backend.recordedKeys;
    }
    return { spaces: this.spaces.size, profileKeys, preparedFronts, answers, recordedKeys, plans: this.plans.size };
  }

  private spaceFor(deviceId: string, gridName: string | undefined): SolverSpace {
    const device = this.catalog.device(deviceId, 'problem.device');
    const name = gridName || 'full';
    const id = `${device.id}|${name}`;
    let ss = this.spaces.get(id);
    if (!ss) {
      const grid = name === 'full' ? device.grid : device.subGrids[name];
      if (!grid) throw new ValidationError('grid', `unknown grid ${describeValue(name)} for ${device.id}; known: full, ${Object.keys(device.subGrids).join(', ')}`);
      const space = ModeSpace.fromGrid(grid);
      // The Profile answers of twice as many keys as the caches hold: a cached key always has its own.
      const backend = new RemoteProfileBackend(this.options.profiler, device, space, this.options.noiseFraction, this.options.profileProtocol, {
        maxKeys: 2 * CACHE_LIMITS.profileKeys,
        systematicFraction: this.systematicFraction,
      });
      ss = { id, device, space, backend, store: new BackendCaches(backend, { maxKeys: CACHE_LIMITS.profileKeys }), prepared: new LRUCache({ max: CACHE_LIMITS.preparedFronts }), answers: new LRUCache({ max: CACHE_LIMITS.answers }) };
      this.spaces.set(id, ss);
    }
    return ss;
  }

  private async acquire(id: string): Promise<() => void> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.locks.set(id, tail);
    await previous;
    return () => {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    };
  }

  /**
   * Runs a strategy generator: profiles what it asks for and yields one event per new mode of this
   * call, and one per re-measure (`Remeasure`: a fresh window of a profiled mode, through the
   * profiler's `remeasure`; the cache combines it and then holds what the profiler's store holds).
   */
  private async *drive<T>(
    gen: Profiling<T>,
    ss: SolverSpace,
    cache: ProfileCache,
    key: TableKey,
    session: Session,
    problem: Problem,
    objective: Objective,
  ): AsyncGenerator<ModeProfiledEvent, T, void> {
    for (;;) {
      const step = gen.next();
      if (step.done) return step.value;
      const again = step.value instanceof Remeasure;
      const modes = step.value instanceof Remeasure ? step.value.modes : step.value;
      for (const modeIndex of modes) {
        if (again && cache.has(modeIndex)) {
          const ev = await this.remeasure(modeIndex, ss, cache, key, session, problem, objective);
          if (ev) yield ev;
          continue;
        }
        if (session.seen.has(modeIndex)) continue;
        const wasCached = cache.has(modeIndex);
        // A cancelled Solve stops here: no more profiling for a client that went away.
        if (session.signal?.aborted) throw new GrpcStatusError(status.CANCELLED, 'the Solve was cancelled by its client (or its deadline passed); profiling stopped');
        if (!wasCached) await cache.ensure([modeIndex], { signal: session.signal });
        session.seen.add(modeIndex);
        session.order.push(modeIndex);
        const record = ss.backend.record(key, modeIndex);
        const reused = wasCached || !record?.measuredNow;
        if (reused) session.modesReused++;
        else {
          session.modesProfiled++;
          session.profilingSeconds += record?.profilingSeconds ?? 0;
        }
        if (!wasCached) session.waitedMs += record?.waitedMs ?? 0;
        const m = this.options.metrics;
        if (m) {
          if (reused) m.modesReused.inc();
          else {
            m.modesProfiled.inc();
            m.profilingSeconds.inc(record?.profilingSeconds ?? 0);
          }
        }
        const best = bestAmong(cache.table, session.order, objective, this.margins);
        yield {
          type: 'mode',
          modeIndex,
          mode: ss.space.mode(modeIndex),
          reused,
          remeasured: false,
          results: record?.results ?? [],
          cost: session.cost(),
          bestPlan: best?.measurable ? buildPlan(problem, cache.table, best, 'best-so-far', ss.space, '') : undefined,
        };
      }
    }
  }

  /**
   * One re-measure of a profiled mode: a fresh window through the profiler (`cache.remeasure`),
   * charged to the session (a re-measure, its seconds) and counted; afterwards the cache holds the
   * profiler's stored combination (so it agrees with the store even where another optimizer
   * re-measured too, or the profiler answered from its store: the key at its limit of windows).
   * An event when a window was measured; none when the profiler answered from its store.
   */
  private async remeasure(modeIndex: number, ss: SolverSpace, cache: ProfileCache, key: TableKey, session: Session, problem: Problem, objective: Objective): Promise<ModeProfiledEvent | undefined> {
    if (session.signal?.aborted) throw new GrpcStatusError(status.CANCELLED, 'the Solve was cancelled by its client (or its deadline passed); profiling stopped');
    const costS = cache.table.costS[modeIndex]!;
    try {
      await cache.remeasure([modeIndex], { signal: session.signal });
    } catch (err) {
      // A re-measure refines a plan that stands without it: one the board could not take (a
      // window past the executor's limit, a peer gone) leaves the plan on the windows it has.
      if (session.signal?.aborted || (err as { code?: unknown } | undefined)?.code === status.CANCELLED) throw err;
      this.logger.warn({ mode: ss.space.mode(modeIndex), err: err instanceof Error ? err.message : String(err) }, 're-measure failed; the plan keeps the windows it has');
      return undefined;
    }
    const record = ss.backend.record(key, modeIndex);
    if (!record) return undefined;
    // The store's combination of every window of the mode (with their Σwᵢ², SPEC §4), whoever took them.
    cache.table.set(modeIndex, { ...record.stored, costS });
    session.waitedMs += record.waitedMs;
    if (!session.seen.has(modeIndex)) {
      session.seen.add(modeIndex);
      session.order.push(modeIndex);
    }
    if (!record.remeasured) return undefined;
    session.remeasures++;
    session.profilingSeconds += record.profilingSeconds;
    const m = this.options.metrics;
    if (m) {
      m.remeasures.inc();
      m.profilingSeconds.inc(record.profilingSeconds);
    }
    this.logger.debug({ mode: ss.space.mode(modeIndex), windows: record.stored.windows ?? 1, profilingSeconds: record.profilingSeconds }, 're-measured a profiled mode');
    const best = bestAmong(cache.table, session.order, objective, this.margins);
    return {
      type: 'mode',
      modeIndex,
      mode: ss.space.mode(modeIndex),
      reused: false,
      remeasured: true,
      results: record.window,
      cost: session.cost(),
      bestPlan: best?.measurable ? buildPlan(problem, cache.table, best, 'best-so-far', ss.space, '') : undefined,
    };
  }

  /**
   * The stored profiles of a problem's key as a table over the device grid: training at bT and every
   * stream's candidate batch sizes, one software stack. `modes`: those with training and at least
   * one batch size of every stream.
   */
  private async storedTable(problem: Problem, ss: SolverSpace): Promise<{ table: MeasurementTable; modes: number[] }> {
    const key = tableKeyOf(problem);
    const table = MeasurementTable.forKey(ss.space.size, key);
    const workloads = [...new Set([problem.trainWorkload, ...problem.streams.map((s) => s.workload)])];
    const results: ProfileResult[] = [];
    for (const workload of workloads) results.push(...(await allProfiles(this.options.profiler, { device: problem.device, workload })));
    const newest = (rs: readonly ProfileResult[]): ProfileResult | undefined => rs.reduce<ProfileResult | undefined>((a, r) => (!a || r.measuredAt > a.measuredAt ? r : a), undefined);
    const train = results.filter((r) => r.kind === 'train' && r.workload === problem.trainWorkload && r.batchSize === problem.trainBatchSize);
    // One board stack only: the configured one, else the newest one seen for the training workload.
    // Within it, one stack per workload (a user's folder adds its content hash): the newest, so the
    // profiles of a changed model never mix with the old ones.
    const base = this.options.softwareStack !== undefined ? stackBase(this.options.softwareStack) : (() => { const n = newest(train); return n ? stackBase(n.softwareStack) : undefined; })();
    if (base === undefined) return { table, modes: [] };
    const stackOf = new Map<string, string>();
    for (const w of workloads) {
      const n = newest(results.filter((r) => r.workload === w && stackBase(r.softwareStack) === base));
      if (n) stackOf.set(w, n.softwareStack);
    }
    // Per mode, its results of the chosen stacks: one measurement each, with the standard errors,
    // samples and windows the store kept, so the margins are z·SE here too (SPEC §4).
    const perMode = new Map<number, ProfileResult[]>();
    for (const r of results) {
      if (r.softwareStack !== stackOf.get(r.workload)) continue;
      const m = ss.space.indexOf(r.mode);
      if (m === undefined) continue;
      let rs = perMode.get(m);
      if (!rs) perMode.set(m, (rs = []));
      rs.push(r);
    }
    for (const [m, rs] of perMode) table.set(m, measurementOf(key, rs, 0));
    const modes: number[] = [];
    for (const m of ss.space.indices) {
      if (!table.has(m)) continue;
      if (table.inferTimeS.every((perBatch) => perBatch.some((times) => !Number.isNaN(times[m]!)))) modes.push(m);
    }
    return { table, modes };
  }

  /** The executor of a board planned for by id (one connection per address, reused). */
  private executorOf(board: BoardRecord, throwRefusal = false): PlanExecutorPort | undefined {
    const make = this.options.executorAt;
    if (!make || !board.executorAddress) return undefined;
    let port = this.boardExecutors.get(board.executorAddress);
    if (!port) {
      try {
        port = make(board.executorAddress);
      } catch (err) {
        if (throwRefusal) throw err instanceof GrpcStatusError ? new GrpcStatusError(err.code, `board ${describeValue(board.board)}: ${err.message}`) : err;
        this.logger.error({ board: board.board, err: err instanceof Error ? err.message : String(err) }, 'not applying on the board\'s executor');
        return undefined;
      }
      this.boardExecutors.set(board.executorAddress, port);
    }
    return port;
  }

  private async maybeApply(problem: Problem, plan: OptimizerPlan, apply: boolean | undefined, board?: BoardRecord, front?: readonly FrontModeRecord[]): Promise<boolean> {
    // A board that announced a reachable executor gets the plan there; else the configured executor.
    // A board whose announced executor is refused gets nothing: never another board's executor.
    const executor = board?.executorAddress && this.options.executorAt ? this.executorOf(board) : this.options.executor;
    if (!(apply ?? this.options.apply) || !executor) return false;
    if (!plan.feasible) {
      this.logger.warn({ planId: plan.planId, verdict: plan.verdict }, 'not applying an infeasible plan');
      return false;
    }
    try {
      const { board } = await executor.applyPlan(problem, plan, front);
      this.running.set(board, plan.planId);
      this.options.metrics?.plansApplied.inc({ outcome: 'ok' });
      this.logger.info({ planId: plan.planId, mode: plan.mode, batchSizes: plan.batchSizes }, 'plan applied on the executor');
      return true;
    } catch (err) {
      this.options.metrics?.plansApplied.inc({ outcome: 'error' });
      this.logger.error({ err: err instanceof Error ? err.message : String(err), planId: plan.planId }, 'applying the plan on the executor failed');
      return false;
    }
  }
}

/**
 * The front a plan travels with (SPEC §6): the modes looked at that have every measurement, the
 * (tT, pT)-non-dominated first, then the fastest; at most MAX_FRONT_MODES.
 */
export function frontOf(problem: Problem, table: MeasurementTable, looked: readonly number[], space: ModeSpace): FrontModeRecord[] {
  const complete = [...new Set(looked)].filter(
    (m) => table.has(m) && table.inferTimeS.every((perBatch) => perBatch.every((times) => Number.isFinite(times[m]!))),
  );
  const t = (m: number) => table.trainTimeS[m]!;
  const p = (m: number) => table.trainPowerW[m]!;
  const dominated = (m: number) => complete.some((o) => o !== m && t(o) <= t(m) && p(o) <= p(m) && (t(o) < t(m) || p(o) < p(m)));
  const ordered = [...complete.filter((m) => !dominated(m)), ...complete.filter(dominated).sort((a, b) => t(a) - t(b))];
  return ordered.slice(0, MAX_FRONT_MODES).map((m) => ({
    mode: space.mode(m),
    training: { timeS: t(m), powerW: p(m) },
    inference: problem.streams.flatMap((s, i) =>
      s.candidateBatchSizes.map((b, j) => ({ stream: s.name, batchSize: b, timeS: table.inferTimeS[i]![j]![m]!, powerW: table.inferPowerW[i]![j]![m]! })),
    ),
  }));
}
