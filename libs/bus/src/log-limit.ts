/**
 * The bus's warnings, bounded: anyone who may publish on a subject can send malformed messages as
 * fast as the network allows, and one warn line each would flood the service's log. Each kind of
 * warning (its message text) is logged at most `perWindow` times per window; what was left out is
 * said in one line when the window ends. Rejected messages are also counted
 * (`EventBus.rejectedMessages()`, a service's `fulcrum_bus_rejected_messages_total`).
 */
import type { BusLogger } from './types.js';

/** Lines of one kind of bus warning per window, and the window. */
export const BUS_WARN_LIMIT = { perWindow: 10, windowMs: 60_000 } as const;

interface Window {
  /** When the window opened (performance.now()). */
  readonly openedMs: number;
  logged: number;
  suppressed: number;
  timer: NodeJS.Timeout | undefined;
  last: object;
}

export class LimitedBusLog implements BusLogger {
  /** Messages rejected as malformed (or without a reply subject) since the bus opened. */
  rejected = 0;
  readonly #logger: BusLogger;
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, Window>();

  constructor(logger: BusLogger, limit: { readonly perWindow: number; readonly windowMs: number } = BUS_WARN_LIMIT) {
    this.#logger = logger;
    this.#perWindow = limit.perWindow;
    this.#windowMs = limit.windowMs;
  }

  info(obj: object, msg: string): void {
    this.#logger.info(obj, msg);
  }

  /** A warning, within the limit of its kind. */
  warn(obj: object, msg: string): void {
    let w = this.#windows.get(msg);
    if (!w) {
      // At most a handful of kinds exist (the bus's own texts), so the map stays small.
      w = { openedMs: performance.now(), logged: 0, suppressed: 0, timer: undefined, last: obj };
      this.#windows.set(msg, w);
      const window = w;
      w.timer = setTimeout(() => this.#close(msg, window), this.#windowMs);
      w.timer.unref();
    }
    if (w.logged < this.#perWindow) {
      w.logged++;
      this.#logger.warn(obj, msg);
    } else {
      w.suppressed++;
      w.last = obj;
    }
  }

  /** A malformed message dropped: counted, and warned within the limit. */
  reject(obj: object, msg: string): void {
    this.rejected++;
    this.warn(obj, msg);
  }

  #close(msg: string, w: Window): void {
    this.#windows.delete(msg);
    if (w.suppressed > 0) {
      // The window's length: a full one, or less when the bus closed early.
      const windowS = Math.max(1, Math.round(Math.min(this.#windowMs, performance.now() - w.openedMs) / 1000));
      this.#logger.warn({ ...w.last, suppressed: w.suppressed, windowS }, `${msg} (${w.suppressed} more like this in the last ${windowS} s were not logged)`);
    }
  }

  /** Says what was left out now (the bus is closing) and stops the timers. */
  flush(): void {
    for (const [msg, w] of [...this.#windows]) {
      clearTimeout(w.timer);
      this.#close(msg, w);
    }
  }
}
