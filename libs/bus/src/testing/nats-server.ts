/**
 * A real `nats-server` for tests: one per test file, on a random loopback port, JetStream on,
 * its store in a temp dir. Stop it in `after()`; restart it (same port, same store) to test
 * reconnects and durability.
 *
 *   const nats = await startNatsServer();
 *   after(() => nats.stop());
 *   const bus = await connectNatsBus({ url: nats.url });
 *
 * A config file that fixes its own host and ports (deploy/nats/hub.conf), run inside a network
 * namespace through a command prefix:
 *
 *   const hub = await startNatsServer({ configFile: 'deploy/nats/hub.conf', wrap: ['ip', 'netns', 'exec', ns], args: ['-m', '8222'], env });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface NatsServerOptions {
  /** JetStream store dir; default a fresh temp dir, removed by `stop()`. Give one to keep it. */
  readonly storeDir?: string | undefined;
  /** Enable JetStream (`-js`); default true. */
  readonly jetStream?: boolean | undefined;
  /** Fixed port; default a random free one (`-p -1`), or with `configFile` the file's own port. */
  readonly port?: number | undefined;
  /** Client listen address (`-a`) and the host of `url`; default 127.0.0.1 (with `configFile`: the file's, not passed). */
  readonly host?: string | undefined;
  /**
   * A config file (`-c`). With it `-a` and `-p` are passed only when `host` / `port` are given, so
   * the file's own `host` and `port` hold (the port is read back from the ports file as always).
   */
  readonly configFile?: string | undefined;
  /**
   * A command prefix the server runs under, e.g. `['ip', 'netns', 'exec', ns]` to run it in a
   * network namespace. The prefix must exec the server (not fork it): `pid` and `stop()` act on the
   * prefix's process, and the ports file is found by that PID.
   */
  readonly wrap?: readonly string[] | undefined;
  /** Extra command-line arguments (e.g. `['--auth', 'secret']`). */
  readonly args?: readonly string[] | undefined;
  /** How long to wait for the server to listen; default 10000 ms. */
  readonly startTimeoutMs?: number | undefined;
  /** Extra environment for the server (e.g. the passwords a config file reads as `$NAME`). */
  readonly env?: Readonly<Record<string, string>> | undefined;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` (the `host` option's address instead of 127.0.0.1 when given). */
  readonly url: string;
  readonly port: number;
  /** `http://…:<port>` of the monitoring endpoint when one is enabled (`-m`, `http_port`), else undefined. */
  readonly monitorUrl: string | undefined;
  readonly storeDir: string;
  /** PID of the running server process (changes on restart). */
  readonly pid: number;
  /** What the server printed (last 64 KiB), for failure messages. */
  log(): string;
  /** SIGTERM by PID, wait for exit (SIGKILL after 5 s); removes the temp store dir it made. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL by PID: a crash. The store dir stays. */
  kill(): Promise<void>;
  /** Stops (unless already stopped) and starts again on the same port with the same store dir. */
  restart(): Promise<void>;
}

/**
 * A TCP port free on loopback now (the OS's pick), for a config file that must name its ports (a
 * leafnode listener, a hub's client port). Another process may take it before it is used; tests
 * that start servers one after another on it are fine.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** `NATS_SERVER` env, else `/usr/sbin/nats-server` (Debian's package), else `nats-server` on PATH. */
export function natsServerBinary(): string {
  const fromEnv = process.env['NATS_SERVER'];
  if (fromEnv) return fromEnv;
  if (existsSync('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  throw new Error('nats-server not found: install it (Debian: apt-get install nats-server) or set NATS_SERVER');
}

const LOG_LIMIT = 64 * 1024;

class RunningNatsServer implements NatsServer {
  readonly storeDir: string;
  readonly #options: NatsServerOptions;
  readonly #ownsStoreDir: boolean;
  readonly #portsDir: string;
  #port = 0;
  #monitorUrl: string | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';
  #stopped = false;

  constructor(options: NatsServerOptions, storeDir: string, ownsStoreDir: boolean, portsDir: string) {
    this.#options = options;
    this.storeDir = storeDir;
    this.#ownsStoreDir = ownsStoreDir;
    this.#portsDir = portsDir;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    const host = this.#options.host ?? '127.0.0.1';
    return `nats://${host.includes(':') ? `[${host}]` : host}:${this.#port}`;
  }

  get monitorUrl(): string | undefined {
    return this.#monitorUrl;
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  log(): string {
    return this.#log;
  }

  async start(port: number | undefined): Promise<void> {
    const { configFile, host, wrap } = this.#options;
    const args: string[] = [];
    if (configFile !== undefined) args.push('-c', configFile);
    if (configFile === undefined || host !== undefined) args.push('-a', host ?? '127.0.0.1');
    if (configFile === undefined || port !== undefined) args.push('-p', String(port ?? -1));
    args.push('--ports_file_dir', this.#portsDir);
    if (this.#options.jetStream ?? true) args.push('-js', '-sd', this.storeDir);
    args.push(...(this.#options.args ?? []));
    const [command, ...prefix] = wrap && wrap.length > 0 ? [...wrap, natsServerBinary()] : [natsServerBinary()];
    const child = spawn(command!, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(this.#options.env ? { env: { ...process.env, ...this.#options.env } } : {}) });
    this.#child = child;
    const append = (chunk: Buffer): void => {
      this.#log = (this.#log + chunk.toString()).slice(-LOG_LIMIT);
    };
    // Always read its output: a full pipe would block the server.
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    let exitedEarly: string | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exitedEarly = `exited (code ${code}, signal ${signal})`;
        resolve();
      });
      child.once('error', (err) => {
        exitedEarly = `failed to start: ${err.message}`;
        resolve();
      });
    });
    const portsFile = join(this.#portsDir, `nats-server_${child.pid}.ports`);
    const deadline = Date.now() + (this.#options.startTimeoutMs ?? 10_000);
    for (;;) {
      if (exitedEarly) throw new Error(`nats-server ${exitedEarly}:\n${this.#log}`);
      try {
        const ports = JSON.parse(await readFile(portsFile, 'utf8')) as { nats?: string[]; monitoring?: string[] };
        const url = ports.nats?.[0];
        if (url) {
          this.#port = Number(new URL(url).port);
          this.#monitorUrl = ports.monitoring?.[0];
          return;
        }
      } catch {
        // not written yet
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`nats-server did not start listening within ${this.#options.startTimeoutMs ?? 10_000} ms:\n${this.#log}`);
      }
      await sleep(20);
    }
  }

  async #signal(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(child.pid!, signal);
    } catch {
      return;
    }
    const exited = await Promise.race([this.#exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!exited) {
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await this.#exited;
    }
  }

  async kill(): Promise<void> {
    await this.#signal('SIGKILL', 5000);
  }

  async restart(): Promise<void> {
    await this.#signal('SIGTERM', 5000);
    // The port was just released; retry briefly in case the kernel has not let go of it yet.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.start(this.#port);
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(100);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#signal('SIGTERM', 5000);
    live.delete(this);
    await rm(this.#portsDir, { recursive: true, force: true });
    if (this.#ownsStoreDir) await rm(this.storeDir, { recursive: true, force: true });
  }

  /** Last resort when a test process exits without stopping it. */
  killSync(): void {
    const pid = this.#child?.pid;
    if (pid && this.#child!.exitCode === null && this.#child!.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

const live = new Set<RunningNatsServer>();
let exitHookInstalled = false;

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const ownsStoreDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'fulcrum-nats-store-')));
  const portsDir = await mkdtemp(join(tmpdir(), 'fulcrum-nats-ports-'));
  const server = new RunningNatsServer(options, storeDir, ownsStoreDir, portsDir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const s of live) s.killSync();
    });
  }
  live.add(server);
  try {
    await server.start(options.port);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
