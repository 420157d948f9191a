/**
 * What the executor's GPU runs now, published for the device-controller: a virtual or table
 * board has no sensors, so its power readings follow this (SPEC §3 virtual devices; see
 * services/device-controller). Published on the bus on `fulcrum.<device>.activity`, stamped with
 * `measuredAt` when sent.
 *
 * Rate: a change is published at once unless the previous publish is less than `minIntervalMs`
 * old; then the latest state goes out when the interval ends (changes in between coalesce — at a
 * time scale of 100 minibatches change every few ms). The state is re-published every
 * `heartbeatMs` so a controller that started later, or missed a message, catches up; and the
 * controller treats an activity it has not heard of for a while as idle (the executor is gone).
 * `idleSoon` turns idle only if no minibatch starts within `idleGraceMs`: back-to-back minibatches
 * never flap through idle.
 */
import { ActivityState, type ExecutorActivity } from '@fulcrum/bus';

export const IDLE: ExecutorActivity = { state: ActivityState.IDLE };

export interface ActivityPublisherOptions {
  readonly publish: (activity: ExecutorActivity) => Promise<unknown> | void;
  /** Shortest gap between two publishes, ms. Default 50. */
  readonly minIntervalMs?: number;
  /** Re-publish the current state this often, ms; 0 = never. Default 1000. */
  readonly heartbeatMs?: number;
  /** Default 20. */
  readonly idleGraceMs?: number;
  readonly onError?: (err: unknown) => void;
}

function keyOf(a: ExecutorActivity): string {
  return `${a.state}|${a.workload ?? ''}|${a.batchSize ?? ''}|${a.stream ?? ''}|${a.measurement ? 1 : 0}`;
}

export class ActivityPublisher {
  private current: ExecutorActivity = IDLE;
  private lastKey: string | undefined;
  private lastAtMs = -Infinity;
  private trailing: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout | undefined;
  private readonly minIntervalMs: number;
  private readonly idleGraceMs: number;
  private closed = false;
  /** Publishes made and failed (for tests and metrics). */
  published = 0;
  failures = 0;

  constructor(private readonly options: ActivityPublisherOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 50;
    this.idleGraceMs = options.idleGraceMs ?? 20;
    const heartbeatMs = options.heartbeatMs ?? 1000;
    if (heartbeatMs > 0) {
      this.heartbeat = setInterval(() => void this.send(), heartbeatMs);
      this.heartbeat.unref();
    }
  }

  get activity(): ExecutorActivity {
    return this.current;
  }

  /** A new state; published now or at the end of the current interval. */
  set(activity: ExecutorActivity): void {
    if (this.closed) return;
    this.clearIdle();
    this.current = activity;
    if (keyOf(activity) === this.lastKey) return;
    const waitMs = this.lastAtMs + this.minIntervalMs - performance.now();
    if (waitMs <= 0) {
      void this.send();
    } else if (!this.trailing) {
      this.trailing = setTimeout(() => {
        this.trailing = undefined;
        if (keyOf(this.current) !== this.lastKey) void this.send();
      }, waitMs);
      this.trailing.unref();
    }
  }

  /** Idle, unless something starts within the grace period. */
  idleSoon(): void {
    if (this.closed) return;
    this.clearIdle();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.set(IDLE);
    }, this.idleGraceMs);
    this.idleTimer.unref();
  }

  /** Publishes `activity` immediately, bypassing the rate limit (a measurement starting or ending). */
  async now(activity: ExecutorActivity): Promise<void> {
    if (this.closed) return;
    this.clearIdle();
    if (this.trailing) clearTimeout(this.trailing);
    this.trailing = undefined;
    this.current = activity;
    await this.send();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private async send(): Promise<void> {
    if (this.closed) return;
    const a = this.current;
    this.lastKey = keyOf(a);
    this.lastAtMs = performance.now();
    try {
      await this.options.publish(a);
      this.published++;
    } catch (err) {
      this.failures++;
      this.options.onError?.(err);
    }
  }

  close(): void {
    this.closed = true;
    this.clearIdle();
    if (this.trailing) clearTimeout(this.trailing);
    if (this.heartbeat) clearInterval(this.heartbeat);
  }
}
