import { chmod, chown, lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ValidationError } from '@fulcrum/core';
import { makeFolders } from '@fulcrum/core/internal';
import type { Logger } from '@fulcrum/runtime';
import type { LocalKnobDriver } from '../driver.js';
import { KnobMismatchError, KnobWriteError } from '../knobs.js';
import { PowerCapError, checkPowerCap, type KnownPowerW } from '../power-cap.js';
import { HELPER_PROTOCOL_VERSION, MAX_REQUEST_BYTES, ProtocolError, parseRequest, type HelperErrorBody, type HelperRequest, type HelperResponse } from './protocol.js';

export interface JetsonHelperOptions {
  readonly socketPath: string;
  /** The knobs, in-process: the helper is the one process that runs as root. */
  readonly driver: LocalKnobDriver;
  readonly logger?: Logger;
  /** Socket file mode; default 0o660 (owner and group). */
  readonly socketMode?: number;
  /** Group id given the socket, so that the controller's user (in that group) may connect. */
  readonly socketGid?: number;
  /** Refuse modes whose known power is over this (watts); the controller checks too. */
  readonly powerCapW?: number;
  readonly knownPowerW?: KnownPowerW;
  /** Most connections at once; more are refused. Default 8. */
  readonly maxConnections?: number;
}

export interface JetsonHelper {
  readonly socketPath: string;
  /** Connections holding a session (restore when they close). */
  readonly holders: number;
  /** Stops accepting, restores if a holder is still connected, removes the socket. */
  close(): Promise<void>;
}

export function errorBody(err: unknown): HelperErrorBody {
  if (err instanceof ProtocolError) return { code: 'BAD_REQUEST', message: err.message };
  if (err instanceof ValidationError) return { code: 'INVALID_ARGUMENT', message: err.message, field: err.field, reason: err.reason };
  if (err instanceof PowerCapError) {
    return { code: 'FAILED_PRECONDITION', message: err.message, details: { mode: err.mode, knownPowerW: err.knownPowerW, hardCapW: err.hardCapW } };
  }
  if (err instanceof KnobWriteError) {
    return { code: err.sysfsError.isPermission ? 'PERMISSION_DENIED' : 'WRITE_REJECTED', message: err.message, details: { path: err.sysfsError.path, errno: err.sysfsError.code, rolledBack: err.rolledBack } };
  }
  if (err instanceof KnobMismatchError) return { code: 'MISMATCH', message: err.message, details: { mismatches: err.mismatches, readBack: err.readBack } };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Removes a socket file left by a helper that died; refuses if a helper still listens there. */
async function clearStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw err;
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another helper is already listening on ${path}`);
  await unlink(path);
}

/**
 * Starts the privileged helper on a Unix socket. Requests are served one at a time across all
 * connections (the driver serializes), so two clients can never interleave writes.
 */
export async function startJetsonHelper(options: JetsonHelperOptions): Promise<JetsonHelper> {
  const { socketPath, driver, logger } = options;
  const board = await driver.describe();
  const holders = new Set<Socket>();
  const sockets = new Set<Socket>();
  let closing = false;

  const restoreFor = async (why: string): Promise<void> => {
    try {
      const r = await driver.restore();
      logger?.info({ restored: r.restored, mode: r.mode, reason: r.reason }, `restore (${why})`);
    } catch (err) {
      logger?.error({ err }, `restore (${why}) failed`);
    }
  };

  const handle = async (socket: Socket, request: HelperRequest): Promise<unknown> => {
    switch (request.op) {
      case 'hello':
        return { protocol: HELPER_PROTOCOL_VERSION, board: board.identity.id, pid: process.pid };
      case 'describe':
        return board;
      case 'read':
        return driver.read();
      case 'saved':
        return driver.savedState();
      case 'hold':
        holders.add(socket);
        return { holding: true };
      case 'restore':
        return driver.restore();
      case 'set': {
        checkPowerCap(request.mode, options.powerCapW, options.knownPowerW);
        const result = await driver.apply(request.mode);
        logger?.info({ mode: result.mode, previousMode: result.previousMode, switchMs: result.switchMs, writes: result.writes.length }, 'mode set');
        return result;
      }
    }
  };

  const server: Server = createServer((socket) => {
    if (closing || sockets.size >= (options.maxConnections ?? 8)) {
      socket.end(JSON.stringify({ id: 0, ok: false, error: { code: 'INTERNAL', message: 'helper busy or closing' } }) + '\n');
      return;
    }
    sockets.add(socket);
    socket.setEncoding('utf8');
    let buffer = '';
    let queue: Promise<void> = Promise.resolve();
    const reply = (response: HelperResponse): void => {
      if (!socket.destroyed) socket.write(JSON.stringify(response) + '\n');
    };
    const tooLong = (): void => {
      reply({ id: 0, ok: false, error: { code: 'BAD_REQUEST', message: `request longer than ${MAX_REQUEST_BYTES} bytes` } });
      socket.end();
      buffer = '';
    };
    socket.on('data', (chunk: string) => {
      if (socket.writableEnded) return;
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        // Every line is held to the limit, complete or not: a long line that arrives with its
        // newline in the same chunk is refused like one still waiting for it.
        const raw = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (Buffer.byteLength(raw) > MAX_REQUEST_BYTES) return tooLong();
        const line = raw.trim();
        if (!line) continue;
        queue = queue.then(async () => {
          let request: HelperRequest;
          try {
            request = parseRequest(line);
          } catch (err) {
            reply({ id: err instanceof ProtocolError && err.id !== null ? err.id : 0, ok: false, error: errorBody(err) });
            return;
          }
          try {
            reply({ id: request.id, ok: true, result: await handle(socket, request) });
          } catch (err) {
            logger?.warn({ op: request.op, err: err instanceof Error ? err.message : String(err) }, 'request failed');
            reply({ id: request.id, ok: false, error: errorBody(err) });
          }
        });
      }
      if (Buffer.byteLength(buffer) > MAX_REQUEST_BYTES) tooLong();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (holders.delete(socket) && holders.size === 0 && !closing) {
        // The controller went away without releasing (crash, kill): put the board back.
        queue = queue.then(() => restoreFor('holder disconnected'));
      }
    });
  });

  makeFolders(dirname(socketPath), 0o750);
  await clearStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socketPath, options.socketMode ?? 0o660);
  if (options.socketGid !== undefined) await chown(socketPath, process.getuid?.() ?? 0, options.socketGid);
  logger?.info({ socketPath, board: board.identity.id, grid: board.grid }, 'jetson helper listening');

  return {
    socketPath,
    get holders() {
      return holders.size;
    },
    async close() {
      if (closing) return;
      closing = true;
      const held = holders.size > 0;
      holders.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      if (held) await restoreFor('helper stopping with a session held');
      await unlink(socketPath).catch(() => undefined);
    },
  };
}
