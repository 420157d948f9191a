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
