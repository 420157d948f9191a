/**
 * Logging for Fulcrum services and the CLI (pino).
 *
 * Output is synchronous and in-process (no worker-thread transports): JSON lines by default,
 * pino-pretty formatting when the destination is a TTY (unless `pretty: false`).
 */
import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `'stdout'`, `'stderr'`, a file descriptor, or any stream with `write(string)`. */
export type LogDestination = 'stdout' | 'stderr' | number | DestinationStream;

export interface LoggerOptions {
  /** Logger name (`name` field of every line), e.g. `fulcrum` or `fulcrum-cli`. */
  readonly name: string;
  /** Level; else env `FULCRUM_LOG_LEVEL`, else env `LOG_LEVEL`, else `info`. */
  readonly level?: string | undefined;
  /** `true`: always pretty; `false`: always JSON; unset: pretty iff the destination is a TTY. */
  readonly pretty?: boolean | undefined;
  /** Where lines go; default `'stderr'` (keeps stdout free for command output). */
  readonly destination?: LogDestination | undefined;
  /** Environment for the level lookup and NO_COLOR; defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
}

function isLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * The level to use: `level`, else env `FULCRUM_LOG_LEVEL`, else env `LOG_LEVEL`, else `info`.
 * Case-insensitive; throws naming the origin when the value is not a pino level.
 */
export function resolveLogLevel(
  level?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): LogLevel {
  const candidates: Array<[string | undefined, string]> = [
    [level, 'option level'],
    [env['FULCRUM_LOG_LEVEL'], 'env FULCRUM_LOG_LEVEL'],
    [env['LOG_LEVEL'], 'env LOG_LEVEL'],
  ];
  for (const [value, origin] of candidates) {
    if (value === undefined || value.trim() === '') continue;
    const normalized = value.trim().toLowerCase();
    if (isLevel(normalized)) return normalized;
    throw new Error(`logging: invalid level ${JSON.stringify(value)} from ${origin} (expected one of ${LOG_LEVELS.join(', ')})`);
  }
  return 'info';
}

function resolveDestination(destination: LogDestination): { stream: DestinationStream; tty: boolean } {
  if (typeof destination === 'object') {
    const d = destination as DestinationStream & { isTTY?: unknown; fd?: unknown };
    const tty = d.isTTY === true || (typeof d.fd === 'number' && isatty(d.fd));
    return { stream: destination, tty };
  }
  const fd = destination === 'stdout' ? 1 : destination === 'stderr' ? 2 : destination;
  return { stream: pino.destination({ dest: fd, sync: true }), tty: isatty(fd) };
}

/** Creates a root logger. See {@link LoggerOptions}. */
export function createLogger(options: LoggerOptions): Logger {
  const env = options.env ?? process.env;
  const level = resolveLogLevel(options.level, env);
  const { stream, tty } = resolveDestination(options.destination ?? 'stderr');
  const pretty = options.pretty ?? tty;
  let out: DestinationStream = stream;
  if (pretty) {
    // pino-pretty's formatter applied synchronously in this thread: ordering is exactly the
    // order of the calls, and nothing is left buffered when the process exits.
    const prettify = prettyFactory({
      colorize: tty && env['NO_COLOR'] === undefined,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service',
      messageFormat: '{if service}[{service}] {end}{msg}',
    });
    out = { write: (line: string) => stream.write(prettify(line)) };
  }
  return pino({ name: options.name, level, timestamp: pino.stdTimeFunctions.isoTime }, out);
}

/** A service's logger: a child of `parent` whose lines carry `{ service }`. */
export function serviceLogger(parent: Logger, service: string): Logger {
  return parent.child({ service });
}
