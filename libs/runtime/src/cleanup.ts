import type { Logger } from 'pino';

/**
 * What a service opened, closed in reverse order on shutdown (or when start-up fails half way);
 * one failing close is logged and does not stop the others.
 */
export class CleanupStack {
  readonly #steps: (() => Promise<void> | void)[] = [];

  constructor(private readonly logger: Logger) {}

  defer(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }

  async closeAll(): Promise<void> {
    while (this.#steps.length) {
      const step = this.#steps.pop()!;
      try {
        await step();
      } catch (err) {
        this.logger.warn({ err }, 'error while closing');
      }
    }
  }
}

/**
 * How long stopping may take (SIGTERM/SIGINT): each service's close in `fulcrum serve all` (then the next
 * one closes regardless, the device-controller last so it always restores the mode), and the whole
 * process (then it exits 1 saying what still ran).
 */
export const SHUTDOWN_LIMITS = { perServiceS: 10, totalS: 30 } as const;

/** `close()`, or an error naming `what` once `limitS` has passed. */
export async function closeWithin(what: string, close: () => Promise<void>, limitS: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      close(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not stop within ${limitS} s`)), limitS * 1000);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
