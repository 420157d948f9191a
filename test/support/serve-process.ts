/**
 * `fulcrum serve <name> --json` as a child process, for the tests and benches that run the services
 * as processes (e2e, fuzz, soak): it waits for the service's ready line, keeps the last 20 KB of its
 * stderr, and stops it with SIGTERM (SIGKILL after a grace). Every process started here is tracked,
 * so `killAllServices()` in `after` leaves nothing running even when a test failed half way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The line `fulcrum serve --json` prints once it listens. */
export interface Ready {
  readonly service: string;
  readonly address: string;
  readonly metricsUrl: string | null;
  readonly pid: number;
}

export interface ServeProcessOptions {
  /** Node options before the CLI (default: workspace sources through tsx). */
  readonly nodeArgs?: readonly string[];
  /** Added to the environment (FULCRUM_LOG_LEVEL=warn and FULCRUM_CONFIG='' are set). */
  readonly env?: Readonly<Record<string, string>>;
  /** Each stderr line as it comes. */
  readonly onStderrLine?: (line: string) => void;
  readonly readyTimeoutMs?: number;
  /** SIGTERM's grace before SIGKILL in `stop()`; default 5000 ms. */
  readonly stopGraceMs?: number;
  /**
   * A command prefix the service runs under, e.g. `['ip', 'netns', 'exec', ns]` (FleetNetwork's
   * `wrap(ns)`) to run it in a network namespace. It must exec the command (not fork it), so that
   * the child's PID and signals are the service's own.
   */
  readonly wrap?: readonly string[];
}

export interface ServiceProcess {
  readonly name: string;
  readonly ready: Ready;
  readonly child: ChildProcess;
  /** Resolves with the exit code, or the signal's name when a signal ended it. */
  readonly exited: Promise<number | string | null>;
  log(): string;
  /** SIGTERM (SIGKILL after the grace); resolves with the exit code. */
  stop(): Promise<number | string | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();

export const SOURCE_NODE_ARGS: readonly string[] = ['--conditions=@fulcrum/source', '--import', 'tsx'];

export async function serveProcess(name: string, args: readonly string[], options: ServeProcessOptions = {}): Promise<ServiceProcess> {
  const command = [process.execPath, ...(options.nodeArgs ?? SOURCE_NODE_ARGS), join(REPO_ROOT, 'libs/cli/src/bin.ts'), 'serve', name, '--json', ...args];
  const [file, ...argv] = options.wrap && options.wrap.length > 0 ? [...options.wrap, ...command] : command;
  const child = spawn(file!, argv, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn', FULCRUM_CONFIG: '', ...options.env },
  });
  running.add(child);
  let log = '';
  createInterface({ input: child.stderr! }).on('line', (line) => {
    log = (log + line + '\n').slice(-20_000);
    options.onStderrLine?.(line);
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal);
    }),
  );
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fulcrum serve ${name} not ready in ${timeoutMs / 1000} s:\n${log}`)), timeoutMs);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Ready);
      } catch {
        reject(new Error(`fulcrum serve ${name}: not a ready line: ${line}`));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`fulcrum serve ${name} exited (${code}) before ready:\n${log}`));
    });
  });
  // Keep reading stdout so a full pipe never blocks the service.
  child.stdout!.resume();
  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<number | string | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
    child.kill(sig);
    const code = await Promise.race([exited, sleep(graceMs).then(() => 'late' as const)]);
    if (code !== 'late') return code;
    child.kill('SIGKILL');
    return exited;
  };
  const grace = options.stopGraceMs ?? 5000;
  return { name, ready, child, exited, log: () => log, stop: () => signal('SIGTERM', grace), kill: async () => void (await signal('SIGKILL', grace)) };
}

/** SIGKILL every service process still running (an `after` hook's last resort). */
export function killAllServices(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** The four services of `fulcrum serve all`. */
export const ALL_SERVICES = ['device-controller', 'executor', 'profiler', 'optimizer'] as const;
export type ServiceName = (typeof ALL_SERVICES)[number];

export interface ServeAll {
  readonly child: ChildProcess;
  readonly ready: Readonly<Record<ServiceName, { address: string; metricsUrl: string }>>;
  log(): string;
}

/** `fulcrum serve all --json ARGS` as a process: waits for its four ready lines. */
export async function serveAllProcess(args: readonly string[]): Promise<ServeAll> {
  const child = spawn(process.execPath, [...SOURCE_NODE_ARGS, join(REPO_ROOT, 'libs/cli/src/bin.ts'), 'serve', 'all', '--json', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn', FULCRUM_CONFIG: '' },
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let log = '';
  createInterface({ input: child.stderr! }).on('line', (line) => void (log = (log + line + '\n').slice(-20_000)));
  const ready: Record<string, { address: string; metricsUrl: string }> = {};
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve all not ready in 60 s:\n${log}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as { service: string; address: string; metricsUrl: string };
      ready[r.service] = r;
      if (ALL_SERVICES.every((s) => ready[s])) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve all exited (${code}) before ready:\n${log}`));
    });
  });
  return { child, ready: ready as ServeAll['ready'], log: () => log };
}
