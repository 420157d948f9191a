/**
 * What `fulcrum top` shows, and where it comes from: the executor's Status (polled), the
 * device-controller's telemetry stream (board power and the mode the knobs are in), and, with a
 * NATS URL, the board's events on the bus (plans applied, arrival-rate moves, profiles). Without
 * NATS the event log is what Status shows changing (a plan applied, a local re-plan, a worker
 * restarted).
 */
import { status as grpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { arrivalsRateSubject, connectNatsBus, planAppliedSubject, profileCompletedSubject, type EventBus, type Subscription } from '@fulcrum/bus';
import { device, executor as pb, optimizer as optimizerPb } from '@fulcrum/proto';
import { GrpcConnection } from '@fulcrum/runtime';
import { LOCAL_FRONT_STRATEGY } from '@fulcrum/core';

export interface TopMode {
  readonly cores: number;
  readonly cpuMhz: number;
  readonly gpuMhz: number;
  readonly emcMhz: number;
}

export interface TopStream {
  readonly stream: string;
  readonly batchSize: number;
  readonly arrivalRatePerS: number;
  readonly plannedRatePerS: number;
  readonly queueDepth: number;
  readonly latencyP50S: number;
  readonly latencyP99S: number;
  readonly latencyMaxS: number;
  readonly latencyBudgetS: number;
  readonly completed: number;
  readonly failed: number;
  readonly late: number;
}

export interface TopEvent {
  readonly atIso: string;
  readonly text: string;
}

/** One frame's worth of numbers (`--json` prints exactly this). */
export interface TopSnapshot {
  readonly atIso: string;
  readonly executor: string;
  readonly board: string;
  readonly device: string;
  readonly state: string;
  readonly replanOwner: string;
  readonly localReplans: number;
  readonly workerCrashes: number;
  readonly plan?: {
    readonly planId: string;
    readonly strategy: string;
    readonly mode?: { readonly cores: number; readonly cpuMhz: number; readonly gpuMhz: number; readonly emcMhz: number };
    readonly appliedAtIso?: string;
    readonly predictedTrainThroughputSamplesPerS: number;
    readonly predictedPowerW: number;
    readonly powerBudgetW: number;
    readonly powerSemantics: string;
    readonly feasible: boolean;
  };
  /** From the device-controller's telemetry (absent without a controller address or before a sample). */
  readonly power?: {
    readonly controller: string;
    readonly nowW: number;
    /** Mean over the samples kept (`history`). */
    readonly meanW: number;
    /** The last samples, oldest first (at most 120). */
    readonly history: readonly number[];
    readonly mode?: { readonly cores: number; readonly cpuMhz: number; readonly gpuMhz: number; readonly emcMhz: number };
    /** Why there is no fresh telemetry, when the stream failed. */
    readonly error?: string;
  };
  readonly training: {
    readonly throughputSamplesPerS: number;
    readonly minibatches: number;
    readonly trainTimeS: number;
    readonly utilization: number;
    readonly loss?: number;
    readonly step?: number;
  };
  readonly streams: readonly TopStream[];
  readonly verdict: { readonly feasible: boolean; readonly violations: readonly string[] };
  /** The last events, newest last (at most 50 kept). */
  readonly events: readonly TopEvent[];
}

export interface TopSourceOptions {
  readonly executor: string;
  readonly controller?: string | undefined;
  readonly nats?: string | undefined;
  readonly board?: string | undefined;
  readonly token?: string | undefined;
  readonly tls?: boolean | undefined;
  readonly tlsCa?: string | undefined;
  /** Telemetry sampling interval asked of the controller, ms. */
  readonly telemetryIntervalMs?: number;
  readonly timeoutMs?: number;
}

const HISTORY = 120;
const EVENTS = 50;

const modeOf = (m: TopMode | undefined): TopMode | undefined => (m ? { cores: m.cores, cpuMhz: m.cpuMhz, gpuMhz: m.gpuMhz, emcMhz: m.emcMhz } : undefined);
const STATE_NAMES: Record<number, string> = { [pb.State.STATE_IDLE]: 'idle', [pb.State.STATE_RUNNING]: 'running', [pb.State.STATE_MEASURING]: 'measuring', [pb.State.STATE_DRAINING]: 'draining' };

/** An event-log line for a plan that took effect (from the bus or from Status). */
function planAppliedText(planId: string, strategy: string | undefined, mode: TopMode | undefined, streams: readonly { readonly stream: string; readonly batchSize: number }[]): string {
  const local = strategy === LOCAL_FRONT_STRATEGY;
  return `${local ? 're-planned locally from the front' : 'plan applied'}: ${planId}${strategy && !local ? ` (${strategy})` : ''}${mode ? `, ${mode.cores} cores, GPU ${mode.gpuMhz} MHz` : ''}, batch ${streams.map((x) => `${x.stream}=${x.batchSize}`).join(' ')}`;
}

/** Polls and listens; `snapshot()` answers the numbers as of now. */
export class TopSource {
  private readonly exec: GrpcConnection<pb.ExecutorClient>;
  private readonly ctl: GrpcConnection<device.DeviceControllerClient> | undefined;
  private telemetry: ClientReadableStream<device.StreamTelemetryResponse> | undefined;
  private readonly power: number[] = [];
  private powerMode: TopMode | undefined;
  private powerError: string | undefined;
  private readonly events: TopEvent[] = [];
  private last: pb.StatusResponse | undefined;
  private bus: EventBus | undefined;
  private readonly subs: Subscription<unknown>[] = [];
  private closed = false;

  constructor(private readonly options: TopSourceOptions) {
    const common = { token: options.token, tls: options.tls, tlsCa: options.tlsCa, timeoutMs: options.timeoutMs ?? 5000 };
    this.exec = new GrpcConnection(pb.ExecutorClient, { peer: 'executor', address: options.executor, ...common });
    this.ctl = options.controller ? new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: options.controller, ...common }) : undefined;
  }

  /** Starts the telemetry stream and, with a NATS URL, the event subscriptions (for the board Status names). */
  async start(): Promise<void> {
    this.startTelemetry();
    if (this.options.nats) {
      const board = this.options.board ?? (await this.status()).board;
      this.bus = await connectNatsBus({ url: this.options.nats, name: 'fulcrum-top' });
      this.subs.push(
        this.bus.subscribe(planAppliedSubject(board), (m) => {
          const e = m.event;
          this.note(planAppliedText(e.planId, e.strategy, e.mode, e.streams.map((s) => ({ stream: s.stream, batchSize: s.batchSize }))), e.appliedAt);
        }),
        this.bus.subscribe(arrivalsRateSubject(board), (m) => {
          const e = m.event;
          const moved = e.streams.map((s) => `${s.stream} ${s.arrivalRatePerS.toFixed(1)}/s${s.plannedRatePerS !== undefined ? ` (planned ${s.plannedRatePerS.toFixed(1)})` : ''}`).join(', ');
          this.note(`arrival rate moved: ${moved}${e.replanRequested ? '; re-plan requested' : ''}`, e.measuredAt);
        }),
        this.bus.subscribe(profileCompletedSubject(board), (m) => {
          const e = m.event;
          this.note(`profiled ${e.workload} ${e.kind} batch ${e.batchSize} at ${e.mode ? `${e.mode.cores} cores, GPU ${e.mode.gpuMhz} MHz` : '?'}: ${e.timeMs.toFixed(1)} ms, ${e.powerW.toFixed(1)} W`, e.measuredAt);
        }),
      );
      await Promise.all(this.subs.map((s) => s.ready));
    }
  }

  private startTelemetry(): void {
    if (!this.ctl || this.closed) return;
    const call = this.ctl.client.streamTelemetry(device.StreamTelemetryRequest.fromPartial({ intervalMs: this.options.telemetryIntervalMs ?? 500, maxSamples: 0 }), this.ctl.metadata());
    this.telemetry = call;
    call.on('data', (s: device.StreamTelemetryResponse) => {
      this.powerError = undefined;
      this.power.push(s.powerW);
      if (this.power.length > HISTORY) this.power.shift();
      this.powerMode = modeOf(s.mode);
    });
    call.on('error', (err: ServiceError) => {
      if (err.code === grpcStatus.CANCELLED || this.closed) return;
      this.powerError = `device-controller at ${this.options.controller}: ${err.details || err.message}`;
      // Reconnect after a pause: a restarted controller comes back into view.
      setTimeout(() => this.startTelemetry(), 2000).unref();
    });
    call.on('end', () => {
      if (!this.closed) setTimeout(() => this.startTelemetry(), 2000).unref();
    });
  }

  private note(text: string, at: Date | string | undefined = undefined): void {
    this.events.push({ atIso: at === undefined ? new Date().toISOString() : typeof at === 'string' ? at : at.toISOString(), text });
    if (this.events.length > EVENTS) this.events.shift();
  }

  private async status(): Promise<pb.StatusResponse> {
    return this.exec.unary<pb.StatusResponse>('Status', (c, md, o, cb) => c.status(pb.StatusRequest.fromPartial({}), md, o, cb));
  }

  /** Polls the executor's Status and answers the frame's numbers. */
  async snapshot(): Promise<TopSnapshot> {
    const s = await this.status();
    this.diff(this.last, s);
    this.last = s;
    const plan = s.plan;
    const power = this.power;
    return {
      atIso: new Date().toISOString(),
      executor: this.options.executor,
      board: s.board,
      device: s.device,
      state: STATE_NAMES[s.state] ?? 'unknown',
      replanOwner: s.replanOwner,
      localReplans: s.localReplans,
      workerCrashes: s.workerCrashes,
      ...(plan
        ? {
            plan: {
              planId: plan.planId,
              strategy: plan.strategy,
              ...(plan.mode ? { mode: modeOf(plan.mode)! } : {}),
              ...(s.planAppliedAt ? { appliedAtIso: s.planAppliedAt.toISOString() } : {}),
              predictedTrainThroughputSamplesPerS: plan.predictedTrainThroughputSamplesPerS,
              predictedPowerW: plan.predictedPowerW,
              powerBudgetW: s.powerBudgetW,
              powerSemantics: s.powerSemantics,
              feasible: plan.feasible,
            },
          }
        : {}),
      ...(this.ctl && (power.length > 0 || this.powerError)
        ? {
            power: {
              controller: this.options.controller!,
              nowW: power[power.length - 1] ?? Number.NaN,
              meanW: power.length ? power.reduce((a, b) => a + b, 0) / power.length : Number.NaN,
              history: [...power],
              ...(this.powerMode ? { mode: this.powerMode } : {}),
              ...(this.powerError ? { error: this.powerError } : {}),
            },
          }
        : {}),
      training: {
        throughputSamplesPerS: s.trainThroughputSamplesPerS,
        minibatches: Number(s.trainMinibatches),
        trainTimeS: s.trainTimeS,
        utilization: s.utilization,
        ...(s.trainLoss !== undefined ? { loss: s.trainLoss } : {}),
        ...(s.trainStep !== undefined ? { step: Number(s.trainStep) } : {}),
      },
      streams: s.streams.map((x) => ({
        stream: x.stream,
        batchSize: x.batchSize,
        arrivalRatePerS: x.arrivalRatePerS,
        plannedRatePerS: x.plannedRatePerS,
        queueDepth: x.queueDepth,
        latencyP50S: x.latencyP50S,
        latencyP99S: x.latencyP99S,
        latencyMaxS: x.latencyMaxS,
        latencyBudgetS: x.latencyBudgetS,
        completed: Number(x.completed),
        failed: Number(x.failed),
        late: Number(x.late),
      })),
      verdict: {
        feasible: s.verdict?.feasible ?? true,
        violations: (s.verdict?.violations ?? []).map((v) => `${v.stream ? `${v.stream}: ` : ''}${v.value.toFixed(3)} > ${v.limit.toFixed(3)}`),
      },
      events: [...this.events],
    };
  }

  /** Events Status shows (when the bus is not followed, or before its first event). */
  private diff(before: pb.StatusResponse | undefined, now: pb.StatusResponse): void {
    const id = now.plan?.planId;
    // With the bus, plans come as its events; the one running when top started is noted here.
    if (id && id !== before?.plan?.planId && (!this.bus || before === undefined)) {
      this.note(planAppliedText(id, now.plan!.strategy, now.plan!.mode, now.streams), now.planAppliedAt);
    }
    if (this.bus) return;
    if (before && now.workerCrashes > before.workerCrashes) this.note(`worker restarted (${now.workerCrashes} crash${now.workerCrashes === 1 ? '' : 'es'} so far)`);
    if (before && before.replanOwner !== now.replanOwner && now.replanOwner) this.note(`re-plan owner: ${now.replanOwner}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.telemetry?.cancel();
    for (const s of this.subs) s.unsubscribe();
    await this.bus?.close().catch(() => undefined);
    this.exec.close();
    this.ctl?.close();
  }
}

/** One board of the fleet view: what the optimizer knows of it, and its executor's Status when reachable. */
export interface TopBoard {
  readonly board: string;
  readonly device: string;
  readonly executor: string;
  readonly lastSeenIso?: string;
  /** The executor's state, or `unreachable`. */
  readonly state: string;
  readonly planId?: string;
  readonly strategy?: string;
  readonly powerBudgetW?: number;
  readonly trainThroughputSamplesPerS?: number;
  readonly predictedTrainThroughputSamplesPerS?: number;
  /** The stream with the largest p99 / budget, and that ratio. */
  readonly worstStream?: string;
  readonly worstP99OverBudget?: number;
  readonly completed?: number;
  readonly late?: number;
  readonly failed?: number;
  readonly feasible?: boolean;
  readonly error?: string;
}

export interface TopFleetSnapshot {
  readonly atIso: string;
  readonly optimizer: string;
  readonly boards: readonly TopBoard[];
}

/** Every board an optimizer knows (ListBoards), each with its executor's Status. */
export class TopFleetSource {
  private readonly opt: GrpcConnection<optimizerPb.OptimizerClient>;
  private readonly executors = new Map<string, GrpcConnection<pb.ExecutorClient>>();

  constructor(private readonly options: { readonly optimizer: string; readonly token?: string | undefined; readonly tls?: boolean | undefined; readonly tlsCa?: string | undefined }) {
    this.opt = new GrpcConnection(optimizerPb.OptimizerClient, { peer: 'optimizer', address: options.optimizer, token: options.token, tls: options.tls, tlsCa: options.tlsCa, timeoutMs: 5000 });
  }

  private executor(address: string): GrpcConnection<pb.ExecutorClient> {
    let c = this.executors.get(address);
    if (!c) {
      // One attempt: an unreachable board is shown as such, it does not hold the frame.
      c = new GrpcConnection(pb.ExecutorClient, { peer: 'executor', address, token: this.options.token, tls: this.options.tls, tlsCa: this.options.tlsCa, timeoutMs: 2000, attempts: 1 });
      this.executors.set(address, c);
    }
    return c;
  }

  async snapshot(): Promise<TopFleetSnapshot> {
    const res = await this.opt.unary<optimizerPb.ListBoardsResponse>('ListBoards', (c, md, o, cb) => c.listBoards({}, md, o, cb));
    const boards = await Promise.all(
      res.boards.map(async (b): Promise<TopBoard> => {
        const base = { board: b.board, device: b.device, executor: b.executorAddress, ...(b.lastSeen ? { lastSeenIso: b.lastSeen.toISOString() } : {}) };
        if (!b.executorAddress) return { ...base, state: 'no address' };
        try {
          const s = await this.executor(b.executorAddress).unary<pb.StatusResponse>('Status', (c, md, o, cb) => c.status(pb.StatusRequest.fromPartial({}), md, o, cb));
          let worst: { stream: string; ratio: number } | undefined;
          for (const x of s.streams) {
            if (!(x.latencyBudgetS > 0) || Number(x.completed) === 0) continue;
            const ratio = x.latencyP99S / x.latencyBudgetS;
            if (!worst || ratio > worst.ratio) worst = { stream: x.stream, ratio };
          }
          return {
            ...base,
            state: STATE_NAMES[s.state] ?? 'unknown',
            ...(s.plan ? { planId: s.plan.planId, strategy: s.plan.strategy, predictedTrainThroughputSamplesPerS: s.plan.predictedTrainThroughputSamplesPerS, feasible: s.verdict?.feasible ?? true } : {}),
            ...(s.powerBudgetW > 0 ? { powerBudgetW: s.powerBudgetW } : {}),
            trainThroughputSamplesPerS: s.trainThroughputSamplesPerS,
            ...(worst ? { worstStream: worst.stream, worstP99OverBudget: worst.ratio } : {}),
            completed: s.streams.reduce((n, x) => n + Number(x.completed), 0),
            late: s.streams.reduce((n, x) => n + Number(x.late), 0),
            failed: s.streams.reduce((n, x) => n + Number(x.failed), 0),
          };
        } catch (err) {
          return { ...base, state: 'unreachable', error: (err as Error).message.slice(0, 200) };
        }
      }),
    );
    return { atIso: new Date().toISOString(), optimizer: this.options.optimizer, boards };
  }

  async close(): Promise<void> {
    this.opt.close();
    for (const c of this.executors.values()) c.close();
  }
}
