/**
 * The scheduling policy of SPEC §2 as a synchronous state machine, shared by the real-time
 * `Executor` and the discrete-event `simulate`: the same code decides in both, so what the
 * simulator checks against the formulas is what runs on the board.
 *
 * At every minibatch boundary:
 *  1. a stream with ≥ b queued requests runs one inference minibatch of b (earliest deadline first
 *     among such streams);
 *  2. else, deadline rule: if starting a training minibatch now would make the oldest queued
 *     request of some stream miss its budget (now + tT + Σj tI,j > its deadline; for one stream this
 *     is SPEC §2's age + tT + tI > L), that stream runs a partial batch of what it has queued;
 *  3. else a training minibatch runs (work-conserving).
 * With no training job, rule 3 is "wait": the GPU idles until a batch fills or until waiting
 * longer would make the oldest request miss its budget (deadline − Σj tI,j).
 */

export interface QueuedRequest {
  readonly arrivalS: number;
  /** arrivalS + L. */
  readonly deadlineS: number;
}

/** A FIFO with O(1) push and shift (array with a moving head, compacted now and then). */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    this.compact();
    return item;
  }

  take(count: number): T[] {
    const n = Math.min(count, this.length);
    const out = this.items.slice(this.head, this.head + n);
    this.items.fill(undefined as T, this.head, this.head + n);
    this.head += n;
    this.compact();
    return out;
  }

  drain(): T[] {
    return this.take(this.length);
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** Minibatch times the deadline rule plans with: measured where known, else the plan's prediction. */
export interface TimeEstimates {
  trainTimeS(): number;
  /** tI of stream `streamIndex` at batch size `batchSize`. */
  inferTimeS(streamIndex: number, batchSize: number): number;
}

export type DecisionReason = 'full' | 'deadline' | 'no-training' | 'drain';

export type Decision =
  | { readonly kind: 'infer'; readonly stream: number; readonly count: number; readonly reason: DecisionReason }
  | { readonly kind: 'train' }
  /** Nothing to run: wait for an arrival, or until `wakeAtS` at the latest (Infinity: no timer). */
  | { readonly kind: 'idle'; readonly wakeAtS: number };

export interface SchedulerStream<R extends QueuedRequest> {
  readonly name: string;
  latencyBudgetS: number;
  batchSize: number;
  readonly queue: Fifo<R>;
}

export class InterleavingScheduler<R extends QueuedRequest> {
  readonly streams: SchedulerStream<R>[] = [];
  private readonly byName = new Map<string, number>();

  /** `deadlineRule: false` turns rule 2 off (only for comparisons: SPEC §2 requires it). */
  readonly deadlineRule: boolean;

  constructor(streams: ReadonlyArray<{ name: string; latencyBudgetS: number; batchSize: number }>, options: { deadlineRule?: boolean } = {}) {
    this.deadlineRule = options.deadlineRule ?? true;
    this.configure(streams);
  }

  /**
   * New batch sizes and budgets (a plan switch, applied at a minibatch boundary). Queues of streams
   * that stay are kept; streams that are gone are removed and their queued requests returned, so
   * the caller can answer them.
   */
  configure(streams: ReadonlyArray<{ name: string; latencyBudgetS: number; batchSize: number }>): R[] {
    const old = new Map(this.streams.map((s) => [s.name, s]));
    const orphans: R[] = [];
    const next: SchedulerStream<R>[] = streams.map((s) => {
      const kept = old.get(s.name);
      old.delete(s.name);
      const queue = kept?.queue ?? new Fifo<R>();
      return { name: s.name, latencyBudgetS: s.latencyBudgetS, batchSize: Math.max(1, Math.floor(s.batchSize)), queue };
    });
    for (const gone of old.values()) orphans.push(...gone.queue.drain());
    this.streams.length = 0;
    this.streams.push(...next);
    this.byName.clear();
    next.forEach((s, i) => this.byName.set(s.name, i));
    return orphans;
  }

  indexOf(stream: string): number | undefined {
    return this.byName.get(stream);
  }

  enqueue(streamIndex: number, request: R): void {
    this.streams[streamIndex]!.queue.push(request);
  }

  queued(): number {
    let n = 0;
    for (const s of this.streams) n += s.queue.length;
    return n;
  }

  take(streamIndex: number, count: number): R[] {
    return this.streams[streamIndex]!.queue.take(count);
  }

  /** Removes and returns every queued request whose deadline is already past (for `expiredRequests: 'reject'`). */
  takeExpired(nowS: number): R[] {
    const out: R[] = [];
    for (const s of this.streams) {
      while (s.queue.length > 0 && s.queue.peek()!.deadlineS < nowS) out.push(s.queue.shift()!);
    }
    return out;
  }

  /**
   * The policy decision at a minibatch boundary. `training`: whether a training minibatch may run;
   * `draining`: serve whatever is queued, partial batches included, and never train.
   */
  decide(nowS: number, training: boolean, estimates: TimeEstimates, draining = false): Decision {
    const streams = this.streams;
    let full = -1;
    let fullDeadline = Infinity;
    let any = false;
    for (let k = 0; k < streams.length; k++) {
      const s = streams[k]!;
      const n = s.queue.length;
      if (n === 0) continue;
      any = true;
      const deadline = s.queue.peek()!.deadlineS;
      if (n >= s.batchSize && deadline < fullDeadline) {
        full = k;
        fullDeadline = deadline;
      }
    }
    if (full >= 0) return { kind: 'infer', stream: full, count: streams[full]!.batchSize, reason: 'full' };
    if (draining) {
      if (!any) return { kind: 'idle', wakeAtS: Infinity };
      const k = this.earliestDeadline(-Infinity);
      return { kind: 'infer', stream: k, count: streams[k]!.queue.length, reason: 'drain' };
    }
    if (any) {
      let inferenceS = 0;
      for (let j = 0; j < streams.length; j++) inferenceS += estimates.inferTimeS(j, streams[j]!.batchSize);
      if (training) {
        if (!this.deadlineRule) return { kind: 'train' };
        // Deadline rule: the oldest request of stream k misses if we train now.
        const horizonS = nowS + estimates.trainTimeS() + inferenceS;
        const k = this.earliestDeadline(horizonS);
        if (k >= 0) return { kind: 'infer', stream: k, count: streams[k]!.queue.length, reason: 'deadline' };
      } else {
        // Serve once waiting any longer would miss (≤: at the wake time itself, serve).
        const k = this.earliestDeadline(nowS + inferenceS + 1e-12);
        if (k >= 0) return { kind: 'infer', stream: k, count: streams[k]!.queue.length, reason: 'no-training' };
        let wakeAtS = Infinity;
        for (const s of streams) if (s.queue.length > 0) wakeAtS = Math.min(wakeAtS, s.queue.peek()!.deadlineS - inferenceS);
        return { kind: 'idle', wakeAtS };
      }
    }
    return training ? { kind: 'train' } : { kind: 'idle', wakeAtS: Infinity };
  }

  /** The non-empty stream whose oldest request has the earliest deadline, among those with deadline < limit; −1 if none. */
  private earliestDeadline(limitS: number): number {
    let best = -1;
    let bestDeadline = Infinity;
    for (let k = 0; k < this.streams.length; k++) {
      const head = this.streams[k]!.queue.peek();
      if (!head) continue;
      if ((limitS === -Infinity || head.deadlineS < limitS) && head.deadlineS < bestDeadline) {
        best = k;
        bestDeadline = head.deadlineS;
      }
    }
    return best;
  }
}
