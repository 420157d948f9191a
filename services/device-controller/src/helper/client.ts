import { createConnection, type Socket } from 'node:net';
import { ValidationError, type PowerMode } from '@fulcrum/core';
import type { JetsonBoard } from '../discover.js';
import type { JetsonKnobDriver, RestoreResult, SavedStateSummary } from '../driver.js';
import { KnobMismatchError, type KnobMismatch, type KnobReadout, type ModeSwitchResult } from '../knobs.js';
import { PowerCapError } from '../power-cap.js';
import { HELPER_PROTOCOL_VERSION, type HelperErrorBody, type HelperErrorCode, type HelperOp, type HelperResponse } from './protocol.js';

/** An error the helper answered with (or the helper being unreachable: code UNAVAILABLE). */
export class HelperError extends Error {
  override readonly name = 'HelperError';
  constructor(
    readonly code: HelperErrorCode | 'UNAVAILABLE',
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  get isPermission(): boolean {
    return this.code === 'PERMISSION_DENIED';
  }
}

/** Turns an error body back into the error the local driver would have thrown. */
function toError(body: HelperErrorBody): Error {
  switch (body.code) {
    case 'INVALID_ARGUMENT':
      return body.field ? new ValidationError(body.field, body.reason ?? body.message) : new HelperError(body.code, body.message);
    case 'FAILED_PRECONDITION': {
      const d = body.details as { mode?: PowerMode; knownPowerW?: number; hardCapW?: number } | undefined;
      return d?.mode && d.knownPowerW !== undefined && d.hardCapW !== undefined ? new PowerCapError(d.mode, d.knownPowerW, d.hardCapW) : new HelperError(body.code, body.message, body.details);
    }
    case 'MISMATCH': {
      const d = body.details as { mismatches?: KnobMismatch[]; readBack?: KnobReadout } | undefined;
      if (d?.mismatches && d.readBack) {
        const err = new KnobMismatchError('switch (through the helper)', d.mismatches, d.readBack);
        err.message = body.message;
        return err;
      }
      return new HelperError(body.code, body.message, body.details);
    }
    default:
      return new HelperError(body.code, `jetson helper: ${body.message}`, body.details);
  }
}

export interface HelperClientOptions {
  /** Ask the helper to restore the board when this connection closes (a controller's session). */
  readonly hold?: boolean;
  /** Per-request timeout, ms; default 30 s (a switch takes milliseconds, a restore on a loaded board a little more). */
  readonly timeoutMs?: number;
}

/** The unprivileged side: a JetsonKnobDriver that asks the helper over its Unix socket. */
export class HelperClient implements JetsonKnobDriver {
  readonly location = 'helper' as const;
  private nextId = 1;
  private buffer = '';
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private board: JetsonBoard | undefined;
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.failAll(new HelperError('UNAVAILABLE', `jetson helper at ${socketPath} closed the connection`)));
    socket.on('error', (err) => this.failAll(new HelperError('UNAVAILABLE', `jetson helper at ${socketPath}: ${err.message}`)));
  }

  static async connect(socketPath: string, options: HelperClientOptions = {}): Promise<HelperClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) => {
        const hint =
          err.code === 'EACCES'
            ? 'permission denied: the controller user must be in the socket\'s group (see deploy/systemd)'
            : 'is fulcrum-jetson-helper.service running?';
        reject(new HelperError('UNAVAILABLE', `cannot reach the jetson helper at ${socketPath} (${err.code ?? err.message}): ${hint}`));
      });
    });
    const client = new HelperClient(socket, socketPath, options.timeoutMs ?? 30_000);
    const hello = (await client.request('hello')) as { protocol: number };
    if (hello.protocol !== HELPER_PROTOCOL_VERSION) {
      await client.close();
      throw new HelperError('UNAVAILABLE', `jetson helper speaks protocol ${hello.protocol}, this client ${HELPER_PROTOCOL_VERSION}`);
    }
    if (options.hold) await client.request('hold');
    return client;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      let response: HelperResponse;
      try {
        response = JSON.parse(line) as HelperResponse;
      } catch {
        continue;
      }
      const waiter = this.pending.get(response.id);
      if (!waiter) continue;
      this.pending.delete(response.id);
      clearTimeout(waiter.timer);
      if (response.ok) waiter.resolve(response.result);
      else waiter.reject(toError(response.error));
    }
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    for (const [id, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
      this.pending.delete(id);
    }
  }

  request(op: HelperOp, params: Record<string, unknown> = {}): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HelperError('UNAVAILABLE', `jetson helper did not answer ${op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(JSON.stringify({ id, op, ...params }) + '\n');
    });
  }

  async describe(): Promise<JetsonBoard> {
    this.board ??= (await this.request('describe')) as JetsonBoard;
    return this.board;
  }

  async read(): Promise<KnobReadout> {
    return (await this.request('read')) as KnobReadout;
  }

  async apply(mode: PowerMode): Promise<ModeSwitchResult> {
    return (await this.request('set', { mode: { cores: mode.cores, cpuMhz: mode.cpuMhz, gpuMhz: mode.gpuMhz, emcMhz: mode.emcMhz } })) as ModeSwitchResult;
  }

  async restore(): Promise<RestoreResult> {
    return (await this.request('restore')) as RestoreResult;
  }

  async savedState(): Promise<SavedStateSummary> {
    return (await this.request('saved')) as SavedStateSummary;
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}
