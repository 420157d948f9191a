/**
 * The executor's notion of time, in seconds. The real clock is the host's monotonic clock; a
 * scaled clock runs `scale` times faster than the host (a simulated runner's 200 ms minibatch
 * sleeps 2 ms at scale 100), so time-scaled end-to-end scenarios run in seconds while every
 * latency and rate is still reported in device seconds.
 */
export interface Clock {
  /** Seconds since the clock was made. */
  nowS(): number;
  /** Resolves after `seconds` on this clock; `signal` cancels the wait early (resolves, no throw). */
  sleep(seconds: number, signal?: AbortSignal): Promise<void>;
  /** Device seconds per host second (1 for the real clock). */
  readonly scale: number;
}

export class ScaledClock implements Clock {
  private readonly originMs = performance.now();
  readonly scale: number;

  constructor(scale = 1) {
    if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`clock scale must be a positive number, got ${scale}`);
    this.scale = scale;
  }

  nowS(): number {
    return ((performance.now() - this.originMs) / 1000) * this.scale;
  }

  sleep(seconds: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, (seconds / this.scale) * 1000));
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/** The host's monotonic clock. */
export class RealClock extends ScaledClock {
  constructor() {
    super(1);
  }
}
