/**
 * `fulcrum.<board>.board.announce` (SPEC §1): the executor saying who its board is — device model,
 * software stack, where its gRPC answers, the plan running — at start and every interval, so an
 * optimizer anywhere on the bus keeps a registry of the boards it can plan for (`ListBoards`).
 * Announcements are durable (the board's stream) and name the JetStream domain the board
 * publishes in, so an optimizer on a hub knows where to mirror the board's stream from.
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

export class BoardAnnouncer {
  readonly #options: BoardAnnouncerOptions;
  #timer: NodeJS.Timeout | undefined;
  readonly #early: NodeJS.Timeout[] = [];
  #closed = false;

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
  async announce(): Promise<void> {
    if (this.#closed) return;
    const o = this.#options;
    try {
      const s = o.state();
      const domain = (await o.bus.jetStream())?.domain;
      await o.bus.publish(boardAnnounceSubject(o.board), {
        measuredAt: new Date().toISOString(),
        device: o.device,
        softwareStack: await o.softwareStack(),
        executorAddress: o.executorAddress,
        state: s.state,
        ...(s.planId ? { planId: s.planId } : {}),
        ...(domain ? { jsDomain: domain } : {}),
      });
    } catch (err) {
      o.logger?.debug({ err: err instanceof Error ? err.message : String(err) }, 'board announcement not sent');
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const t of this.#early) clearTimeout(t);
  }
}

