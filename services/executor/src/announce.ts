/**
 * `fulcrum.<board>.board.announce` (SPEC §1): the executor saying who its board is — device model,
 * software stack, where its gRPC answers, the plan running — at start and every interval, so an
 * optimizer anywhere on the bus keeps a registry of the boards it can plan for (`ListBoards`).
 * Announcements are durable (the board's stream) and name the JetStream domain the board
 * publishes in, so an optimizer on a hub knows where to mirror the board's stream from. A graceful
 * stop sends one last announcement, state `stopped` (`stop()`), so the registry does not keep
 * listing a board that stopped as running.
 */
import { hostname } from 'node:os';
import { boardAnnounceSubject, type EventBus } from '@fulcrum/bus';
import type { Logger } from '@fulcrum/runtime';

export interface BoardAnnouncerOptions {
  readonly bus: EventBus;
  readonly board: string;
  readonly device: string;
  /** host:port others reach the executor's gRPC at ('' when it is not reachable). */
  readonly executorAddress: string;
  /** Seconds between announcements; 0: only at start. */
  readonly intervalS: number;
  readonly softwareStack: () => Promise<string>;
  readonly state: () => { readonly state: string; readonly planId?: string | undefined };
  readonly logger?: Logger | undefined;
}

/**
 * The address to announce for a gRPC server listening on `host:port`: `advertise` when given; the
 * host name when it listens on every interface; the listening host otherwise (loopback included:
 * reachable from this host only, which is what a one-host setup needs).
 */
export function advertisedAddress(listening: { readonly host: string; readonly port: number }, advertise?: string): string {
  if (advertise) return advertise;
  const host = listening.host === '0.0.0.0' || listening.host === '::' ? hostname() : listening.host;
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${listening.port}`;
}

/** How long the last announcement (`stopped`) may hold up a shutdown, ms (NATS away: it is given up, logged). */
export const STOPPED_ANNOUNCEMENT_LIMIT_MS = 1000;

export class BoardAnnouncer {
  readonly #options: BoardAnnouncerOptions;
  #timer: NodeJS.Timeout | undefined;
  readonly #early: NodeJS.Timeout[] = [];
  #closed = false;
  #stopping: Promise<void> | undefined;
  /** The last announcement failed (its failure was logged at warn; repeats are debug). */
  #failing = false;
  /** Publishes under way (the `stopped` announcement goes after them, so none overtakes it). */
  readonly #publishing = new Set<Promise<unknown>>();
  /** The software stack as last asked of the engine (the `stopped` announcement does not ask a stopped engine again). */
  #stack: Promise<string> | undefined;

  constructor(options: BoardAnnouncerOptions) {
    this.#options = options;
  }

  /**
   * Announces now, again after 1 s and 3 s (an optimizer that subscribed a moment later still hears
   * of the board at once), then every interval.
   */
  start(): void {
    void this.announce();
    for (const s of [1, 3]) this.#early.push(setTimeout(() => void this.announce(), s * 1000).unref());
    if (this.#options.intervalS > 0) {
      this.#timer = setInterval(() => void this.announce(), this.#options.intervalS * 1000);
      this.#timer.unref();
    }
  }

  /** One announcement; a bus that is away is logged, never thrown. */
  announce(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#send(() => this.#options.state());
  }

  async #send(state: () => { readonly state: string; readonly planId?: string | undefined }, last = false): Promise<void> {
    const o = this.#options;
    try {
      const s = state();
      const domain = (await o.bus.jetStream())?.domain;
      const softwareStack = await (last && this.#stack ? this.#stack : (this.#stack = o.softwareStack()));
      // A periodic announcement that was still asking for the stack when the board stopped is dropped.
      if (this.#closed && !last) return;
      const published = o.bus.publish(boardAnnounceSubject(o.board), {
        measuredAt: new Date().toISOString(),
        device: o.device,
        softwareStack,
        executorAddress: o.executorAddress,
        state: s.state,
        ...(s.planId ? { planId: s.planId } : {}),
        ...(domain ? { jsDomain: domain } : {}),
      });
      this.#publishing.add(published);
      try {
        await published;
      } finally {
        this.#publishing.delete(published);
      }
      if (this.#failing) o.logger?.info({ board: o.board }, 'board announcements go out again');
      this.#failing = false;
    } catch (err) {
      // The first failure is a warning (optimizers cannot plan for a board they do not hear of:
      // no JetStream storage left, no permission, NATS away); the repeats until one succeeds are debug.
      const message = err instanceof Error ? err.message : String(err);
      if (this.#failing) o.logger?.debug({ err: message }, 'board announcement not sent');
      else o.logger?.warn({ board: o.board, err: message }, 'board announcement not sent; optimizers will not hear of this board until one goes out');
      this.#failing = true;
    }
  }

  /**
   * A graceful stop: no more periodic announcements, and one last one with state `stopped` (no
   * plan runs), after those still under way. Bounded: past `limitMs` (NATS away, an
   * unacknowledged publish) it is given up and logged, never thrown. Idempotent.
   */
  stop(limitMs: number = STOPPED_ANNOUNCEMENT_LIMIT_MS): Promise<void> {
    this.close();
    this.#stopping ??= (async () => {
      const last = (async () => {
        await Promise.allSettled([...this.#publishing]);
        await this.#send(() => ({ state: 'stopped' }), true);
      })();
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([last.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)))]);
      clearTimeout(timer);
      if (!done) this.#options.logger?.warn({ limitMs }, `the board's stopped announcement was not confirmed within ${limitMs} ms; stopping without it`);
    })();
    return this.#stopping;
  }

  /** Stops the periodic announcements (nothing more is sent; `stop()` sends the last one). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const t of this.#early) clearTimeout(t);
  }
}

