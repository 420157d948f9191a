/**
 * Several "hosts" on this one machine, for tests of what crosses a network: a workstation network
 * namespace and N board namespaces, each board joined to the workstation by its own point-to-point
 * link, with a delay, jitter and loss per link (on both ends, like `tc netem` on both ends of a
 * veth pair) and a partition that drops every packet silently in both directions while the link
 * stays up (TCP sees a blackhole and times out; nothing answers ENETUNREACH or a reset).
 *
 *   const reason = netnsUnavailable();
 *   describe('fleet', { skip: reason }, () => {
 *     let net: FleetNetwork;
 *     before(async () => (net = await createFleetNetwork({ boards: 2 })));
 *     after(() => net.close());
 *     it('…', async () => {
 *       const hub = await startNatsServer({ wrap: net.wrap(net.workstation.ns), … });
 *       await net.netem(0, { delayMs: 40, jitterMs: 10 });
 *       await net.partition(1); … await net.heal(1);
 *     });
 *   });
 *
 * Addresses: the workstation answers on `workstation.ip` (10.231.0.1, on its loopback, routed from
 * every board) and on each link's `workstationIp` (10.231.<i+1>.1); board i is 10.231.<i+1>.2.
 * These addresses exist only inside the namespaces made here; the root namespace gets none.
 *
 * How the links are made: this kernel has no `sch_netem` (CONFIG_NET_SCH_NETEM is not set) and no
 * iptables/nft, so `tc netem` on a veth pair cannot work here. Each link is instead a pair of TUN
 * devices (`to-b<i>` in the workstation namespace, `to-ws` in board i's), and one small python3
 * process (the link emulator, started here, living in the root namespace and holding every TUN)
 * copies each packet from one end to the other after the link's delay ± a uniform jitter, dropping
 * a packet with the loss probability, or every packet while partitioned. Packets keep their order
 * on each direction (a jittered packet never overtakes an earlier one, so TCP sees no reordering).
 * The TUN devices vanish with that process, which exits when this process dies (stdin EOF and
 * PR_SET_PDEATHSIG).
 *
 * Cleanup: `close()` stops every process started through `spawnIn`/`exec` and every other process
 * still inside one of the network's namespaces (a nats-server or `fulcrum serve` started with
 * `wrap`), SIGTERM then SIGKILL after a grace, stops the link emulator and deletes the namespaces.
 * An `exit`/SIGINT/SIGTERM handler does the same synchronously when the test process is ended
 * without `close()`; namespaces left by a run that was SIGKILLed (named `<prefix>-<pid>-…` with a
 * PID no longer alive) are removed, with the processes in them, when the next network is created.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** Delay, jitter and loss of one link, applied to each direction (both ends). */
export interface NetemSpec {
  /** One-way delay added on each end, ms; the round trip gets twice this. Default 0. */
  readonly delayMs?: number;
  /** Uniform jitter ± this many ms around `delayMs` (never below 0). Default 0. */
  readonly jitterMs?: number;
  /** Probability in percent that a packet is dropped, on each end. Default 0. */
  readonly lossPct?: number;
}

export interface FleetNetworkOptions {
  /** Number of board namespaces, 1..32. */
  readonly boards: number;
  /** Namespace name prefix, `[a-z][a-z0-9]{0,7}`; default `fnet`. Names are `<prefix>-<pid>-<n>-ws`, `…-b<i>`. */
  readonly prefix?: string;
  /** SIGTERM's grace before SIGKILL in `close()`; default 3000 ms. */
  readonly stopGraceMs?: number;
  /** Seed of the loss and jitter draws (the link emulator's PRNG); default random. */
  readonly seed?: number;
}

export interface FleetHost {
  /** Network namespace name (`ip netns`). */
  readonly ns: string;
  readonly ip: string;
}

export interface FleetBoard extends FleetHost {
  /** `board-<i+1>` (board-1, board-2, …): a valid board id (FULCRUM_BOARD, --board). */
  readonly name: string;
  readonly index: number;
  /** The workstation's address on this board's link (the link's other end). */
  readonly workstationIp: string;
  /** The link's interface inside the board namespace (`to-ws`). */
  readonly iface: string;
}

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface FleetNetwork {
  /** `<prefix>-<pid>-<n>`: every namespace of this network starts with it. */
  readonly id: string;
  readonly workstation: FleetHost;
  readonly boards: readonly FleetBoard[];
  /** `['ip', 'netns', 'exec', ns]`: the command prefix for serveProcess's and startNatsServer's `wrap`. */
  wrap(ns: string): readonly string[];
  /** Sets board i's link (both directions) to this delay/jitter/loss; while partitioned it is kept for `heal`. */
  netem(boardIndex: number, spec: NetemSpec): Promise<void>;
  /** Drops every packet on board i's link, both directions, silently; the link stays up. */
  partition(boardIndex: number): Promise<void>;
  /** Ends a partition: back to the last `netem` spec (none: no delay, no loss). */
  heal(boardIndex: number): Promise<void>;
  /** A tracked child process started with `ip netns exec <ns> command …args` (its PID is the command's own). */
  spawnIn(ns: string, command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Runs a short command in a namespace and collects its output; SIGKILL after `timeoutMs` (default 10 s). */
  exec(ns: string, command: string, args?: readonly string[], options?: { readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv; readonly cwd?: string }): Promise<ExecResult>;
  /** PIDs of every process this network has started or found in its namespaces (for checks after `close()`). */
  pids(): readonly number[];
  /** What the link emulator printed on stderr (last 16 KiB). */
  linkLog(): string;
  /** Stops every process, the link emulator and deletes the namespaces. Idempotent. */
  close(): Promise<void>;
}

const NET_BASE = '10.231';
const WORKSTATION_IP = `${NET_BASE}.0.1`;
const DEFAULT_PREFIX = 'fnet';
const IP_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// The link emulator (python3: Node cannot open a TUN device, that needs ioctl(TUNSETIFF)).
// argv[1]: {"links": [[wsNs, wsIf, boardNs, boardIf], …], "seed": n|null}. It creates each TUN
// inside its namespace (setns), prints "ready", then reads one JSON command per stdin line,
// {"id", "link", "delayMs", "jitterMs", "lossPct", "down"}, and answers {"id"} once applied.
// stdin EOF (the harness died) or the parent's death ends it; the TUN devices go with it.
const LINK_EMULATOR = String.raw`
import os, sys, fcntl, struct, ctypes, selectors, heapq, random, time, json, signal
signal.signal(signal.SIGINT, signal.SIG_DFL)
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() == 1:
    sys.exit(0)
TUNSETIFF, IFF_TUN, IFF_NO_PI, CLONE_NEWNET = 0x400454ca, 0x0001, 0x1000, 0x40000000
QUEUE_LIMIT = 10000
def setns(fd, what):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, 'setns %s: %s' % (what, os.strerror(e)))
def open_tun(ns, name):
    nsfd = os.open('/run/netns/' + ns, os.O_RDONLY)
    try:
        setns(nsfd, ns)
    finally:
        os.close(nsfd)
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd
cfg = json.loads(sys.argv[1])
rng = random.Random(cfg.get('seed'))
home = os.open('/proc/self/ns/net', os.O_RDONLY)
peer = {}
for i, (wns, wif, bns, bif) in enumerate(cfg['links']):
    a = open_tun(wns, wif)
    b = open_tun(bns, bif)
    peer[a] = (b, i)
    peer[b] = (a, i)
setns(home, 'home')
os.close(home)
links = [{'delay': 0.0, 'jitter': 0.0, 'loss': 0.0, 'down': False} for _ in cfg['links']]
queued = {fd: 0 for fd in peer}
last_due = {fd: 0.0 for fd in peer}
heap = []
seq = 0
sel = selectors.DefaultSelector()
sel.register(0, selectors.EVENT_READ, None)
for fd in peer:
    sel.register(fd, selectors.EVENT_READ, fd)
sys.stdout.write('ready\n')
sys.stdout.flush()
pending = b''
while True:
    now = time.monotonic()
    while heap and heap[0][0] <= now:
        _, _, out, i, pkt = heapq.heappop(heap)
        queued[out] -= 1
        if links[i]['down']:
            continue
        try:
            os.write(out, pkt)
        except OSError:
            pass
    timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else None
    for key, _ in sel.select(timeout):
        if key.data is None:
            chunk = os.read(0, 65536)
            if not chunk:
                sys.exit(0)
            pending += chunk
            while b'\n' in pending:
                line, pending = pending.split(b'\n', 1)
                cmd = json.loads(line)
                links[cmd['link']] = {'delay': cmd['delayMs'] / 1000.0, 'jitter': cmd['jitterMs'] / 1000.0, 'loss': cmd['lossPct'] / 100.0, 'down': bool(cmd['down'])}
                sys.stdout.write(json.dumps({'id': cmd['id']}) + '\n')
                sys.stdout.flush()
            continue
        src = key.data
        out, i = peer[src]
        link = links[i]
        now = time.monotonic()
        for _ in range(512):
            try:
                pkt = os.read(src, 65536)
            except OSError:  # EAGAIN: drained (or the device is going away)
                break
            if link['down'] or (link['loss'] > 0 and rng.random() < link['loss']):
                continue
            if queued[out] >= QUEUE_LIMIT:
                continue
            due = now + max(0.0, link['delay'] + (rng.uniform(-link['jitter'], link['jitter']) if link['jitter'] > 0 else 0.0))
            due = max(due, last_due[out])
            last_due[out] = due
            seq += 1
            queued[out] += 1
            heapq.heappush(heap, (due, seq, out, i, pkt))
`;

// ---------------------------------------------------------------------------------------------
// Availability

let unavailable: { reason: string | undefined } | undefined;
let python = 'python3';

/** Undefined when this machine can run a FleetNetwork; else why not, in one line (for `skip`). */
export function netnsUnavailable(): string | undefined {
  unavailable ??= { reason: probe() };
  return unavailable.reason;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add); this test runs as uid ' + String(process.getuid?.());
  const ipVersion = spawnSync('ip', ['-V'], { encoding: 'utf8', timeout: 5000 });
  if (ipVersion.error || ipVersion.status !== 0) return `ip (iproute2) is missing or broken: ${ipVersion.error?.message ?? ipVersion.stderr.trim()}`;
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (the links are TUN devices)';
  // The interpreter itself, not a shim (pyenv's costs half a second a start).
  const py = spawnSync('python3', ['-c', 'import fcntl, ctypes, selectors, heapq, sys; print(sys.executable)'], { encoding: 'utf8', timeout: 10_000 });
  if (py.error || py.status !== 0) return `python3 is missing or broken (it runs the link emulator): ${py.error?.message ?? py.stderr.trim().split('\n').pop()}`;
  python = py.stdout.trim() || 'python3';
  // The whole thing once: a namespace, a TUN link inside it through the emulator.
  const ns = `${DEFAULT_PREFIX}-${process.pid}-probe`;
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (add.error || add.status !== 0) return `ip netns add fails: ${add.error?.message ?? add.stderr.trim()}`;
  try {
    const tun = spawnSync(python, ['-c', LINK_EMULATOR, JSON.stringify({ links: [[ns, 'probe-a', ns, 'probe-b']], seed: 1 })], {
      encoding: 'utf8',
      input: '',
      timeout: 10_000,
    });
    if (tun.error || tun.status !== 0 || !tun.stdout.startsWith('ready')) {
      return `a TUN link inside a network namespace fails: ${tun.error?.message ?? tun.stderr.trim().split('\n').pop()}`;
    }
    return undefined;
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { timeout: IP_TIMEOUT_MS });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function ipRun(args: readonly string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', args, { timeout: IP_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, _stdout, stderr) =>
      err ? reject(new Error(`ip ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`)) : resolve(),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Alive: the PID exists and is not a zombie (a zombie nobody reaps must not count). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** Names of every network namespace (`ip netns list`). */
export function listNamespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (out.status !== 0) return [];
  return out.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

function pidsInNamespace(ns: string): number[] {
  const out = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (out.status !== 0) return [];
  return out.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

/** Removes namespaces `<prefix>-<pid>-…` whose PID is dead (a crashed earlier run), and the processes still in them. */
function removeStale(prefix: string): void {
  const pattern = new RegExp(`^${prefix}-(\\d+)-(?:\\d+-(?:ws|b\\d+)|probe)$`);
  for (const ns of listNamespaces()) {
    const owner = pattern.exec(ns)?.[1];
    if (owner === undefined || Number(owner) === process.pid || isAlive(Number(owner))) continue;
    for (const pid of pidsInNamespace(ns)) killQuietly(pid, 'SIGKILL');
    spawnSync('ip', ['netns', 'del', ns], { timeout: IP_TIMEOUT_MS });
  }
}

// ---------------------------------------------------------------------------------------------
// Exit handlers: one set for every open network of this process.

const open = new Set<Network>();
let handlersInstalled = false;

function onExit(): void {
  for (const net of open) net.closeSync();
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  uninstallHandlers();
  // Nobody else handles it: end as the signal would have without our handler.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

const sigint = (): void => onSignal('SIGINT');
const sigterm = (): void => onSignal('SIGTERM');

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onExit);
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', sigint);
  process.removeListener('SIGTERM', sigterm);
}

// ---------------------------------------------------------------------------------------------

let sequence = 0;

interface LinkState {
  spec: Required<NetemSpec>;
  down: boolean;
}

class Network implements FleetNetwork {
  readonly id: string;
  readonly workstation: FleetHost;
  readonly boards: readonly FleetBoard[];
  readonly #namespaces: string[];
  readonly #created = new Set<string>();
  readonly #children = new Set<ChildProcess>();
  readonly #seen = new Set<number>();
  readonly #links: LinkState[];
  readonly #graceMs: number;
  readonly #seed: number | null;
  #emulator: ChildProcess | undefined;
  #emulatorExited: Promise<void> = Promise.resolve();
  #emulatorLog = '';
  #acks = new Map<number, () => void>();
  #nextCommand = 1;
  #closing: Promise<void> | undefined;
  /** Why the link emulator is gone, once it is. */
  #emulatorError: () => string | undefined = () => undefined;

  constructor(prefix: string, boards: number, graceMs: number, seed: number | null) {
    this.id = `${prefix}-${process.pid}-${sequence++}`;
    this.workstation = { ns: `${this.id}-ws`, ip: WORKSTATION_IP };
    this.boards = Array.from({ length: boards }, (_, i) => ({
      name: `board-${i + 1}`,
      index: i,
      ns: `${this.id}-b${i}`,
      ip: `${NET_BASE}.${i + 1}.2`,
      workstationIp: `${NET_BASE}.${i + 1}.1`,
      iface: 'to-ws',
    }));
    this.#namespaces = [this.workstation.ns, ...this.boards.map((b) => b.ns)];
    this.#links = this.boards.map(() => ({ spec: { delayMs: 0, jitterMs: 0, lossPct: 0 }, down: false }));
    this.#graceMs = graceMs;
    this.#seed = seed;
  }

  async setUp(): Promise<void> {
    for (const ns of this.#namespaces) {
      await ipRun(['netns', 'add', ns]);
      this.#created.add(ns);
    }
    await this.#startEmulator();
    const ws = [`link set lo up`, `address add ${WORKSTATION_IP}/32 dev lo`];
    // addrgenmode none: no IPv6 link-local address, so no router solicitations or DAD on the links.
    for (const b of this.boards) ws.push(`link set to-b${b.index} addrgenmode none`, `address add ${b.workstationIp}/24 dev to-b${b.index}`, `link set to-b${b.index} up`);
    await ipRun(['-n', this.workstation.ns, '-batch', '-'], ws.join('\n') + '\n');
    for (const b of this.boards) {
      const cmds = [`link set lo up`, `link set ${b.iface} addrgenmode none`, `address add ${b.ip}/24 dev ${b.iface}`, `link set ${b.iface} up`, `route add ${WORKSTATION_IP}/32 dev ${b.iface}`];
      await ipRun(['-n', b.ns, '-batch', '-'], cmds.join('\n') + '\n');
    }
  }

  async #startEmulator(): Promise<void> {
    const config = { links: this.boards.map((b) => [this.workstation.ns, `to-b${b.index}`, b.ns, b.iface]), seed: this.#seed };
    const child = spawn(python, ['-c', LINK_EMULATOR, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#emulator = child;
    if (child.pid) this.#seen.add(child.pid);
    child.stderr!.on('data', (chunk: Buffer) => {
      this.#emulatorLog = (this.#emulatorLog + chunk.toString()).slice(-16_384);
    });
    child.stdin!.on('error', () => {
      // it died; the exit handler reports it
    });
    let exited: string | undefined;
    this.#emulatorExited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exited = `link emulator exited (code ${code}, signal ${signal}): ${this.#emulatorLog.trim().split('\n').slice(-3).join(' | ')}`;
        for (const ack of this.#acks.values()) ack();
        resolve();
      });
      child.once('error', (err) => {
        exited = `link emulator failed to start: ${err.message}`;
        resolve();
      });
    });
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`link emulator not ready in 10 s: ${this.#emulatorLog}`)), 10_000);
      lines.once('line', (line) => {
        clearTimeout(timer);
        if (line === 'ready') resolve();
        else reject(new Error(`link emulator: unexpected ${line}`));
      });
      void this.#emulatorExited.then(() => {
        clearTimeout(timer);
        reject(new Error(exited));
      });
    });
    lines.on('line', (line) => {
      try {
        const { id } = JSON.parse(line) as { id: number };
        this.#acks.get(id)?.();
      } catch {
        // not an ack
      }
    });
    this.#emulatorError = () => exited;
  }

  #board(index: number): LinkState {
    const link = this.#links[index];
    if (!Number.isInteger(index) || link === undefined) throw new RangeError(`no board ${index} (this network has ${this.boards.length})`);
    return link;
  }

  async #apply(index: number): Promise<void> {
    const link = this.#board(index);
    const child = this.#emulator;
    if (this.#closing || !child) throw new Error(`network ${this.id} is closed`);
    const failed = this.#emulatorError();
    if (failed) throw new Error(failed);
    const id = this.#nextCommand++;
    const acked = new Promise<void>((resolve) => this.#acks.set(id, resolve));
    child.stdin!.write(JSON.stringify({ id, link: index, ...link.spec, down: link.down }) + '\n');
    const timer = sleep(5000, undefined, { ref: false }).then(() => 'late' as const);
    const outcome = await Promise.race([acked, timer]);
    this.#acks.delete(id);
    const error = this.#emulatorError();
    if (error) throw new Error(error);
    if (outcome === 'late') throw new Error(`link emulator did not apply a change in 5 s: ${this.#emulatorLog}`);
  }

  wrap(ns: string): readonly string[] {
    this.#checkNs(ns);
    return ['ip', 'netns', 'exec', ns];
  }

  async netem(boardIndex: number, spec: NetemSpec): Promise<void> {
    const link = this.#board(boardIndex);
    const value = (name: keyof NetemSpec, max: number): number => {
      const v = spec[name] ?? 0;
      if (!Number.isFinite(v) || v < 0 || v > max) throw new RangeError(`netem ${name} must be 0..${max}, got ${v}`);
      return v;
    };
    link.spec = { delayMs: value('delayMs', 60_000), jitterMs: value('jitterMs', 60_000), lossPct: value('lossPct', 100) };
    await this.#apply(boardIndex);
  }

  async partition(boardIndex: number): Promise<void> {
    this.#board(boardIndex).down = true;
    await this.#apply(boardIndex);
  }

  async heal(boardIndex: number): Promise<void> {
    this.#board(boardIndex).down = false;
    await this.#apply(boardIndex);
  }

  #checkNs(ns: string): void {
    if (!this.#namespaces.includes(ns)) throw new Error(`${ns} is not a namespace of network ${this.id} (${this.#namespaces.join(', ')})`);
  }

  #track(child: ChildProcess): ChildProcess {
    if (child.pid) this.#seen.add(child.pid);
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', () => this.#children.delete(child));
    return child;
  }

  spawnIn(ns: string, command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    this.#checkNs(ns);
    if (this.#closing) throw new Error(`network ${this.id} is closed`);
    return this.#track(spawn('ip', ['netns', 'exec', ns, command, ...args], options));
  }

  exec(ns: string, command: string, args: readonly string[] = [], options: { readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv; readonly cwd?: string } = {}): Promise<ExecResult> {
    this.#checkNs(ns);
    if (this.#closing) return Promise.reject(new Error(`network ${this.id} is closed`));
    return new Promise((resolve) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', ns, command, ...args],
        { timeout: options.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) },
        (err, stdout, stderr) => {
          const failure = err as (Error & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
          resolve({
            code: failure ? (typeof failure.code === 'number' ? failure.code : null) : 0,
            signal: failure?.signal ?? null,
            stdout: String(stdout),
            stderr: String(stderr) || (failure && typeof failure.code === 'string' ? failure.message : ''),
          });
        },
      );
      child.stdin?.end();
      this.#track(child);
    });
  }

  pids(): readonly number[] {
    return [...this.#seen];
  }

  linkLog(): string {
    return this.#emulatorLog;
  }

  /** Every live process of this network: its children and whatever runs in its namespaces. */
  #livePids(): number[] {
    const pids = new Set<number>();
    for (const child of this.#children) if (child.pid && isAlive(child.pid)) pids.add(child.pid);
    for (const ns of this.#created) for (const pid of pidsInNamespace(ns)) pids.add(pid);
    for (const pid of pids) this.#seen.add(pid);
    return [...pids];
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // 1. Processes: SIGTERM, SIGKILL after the grace, bounded waits.
    const first = this.#livePids();
    for (const pid of first) killQuietly(pid, 'SIGTERM');
    const deadline = Date.now() + this.#graceMs;
    while (Date.now() < deadline && first.some(isAlive)) await sleep(50);
    for (let round = 0; round < 5; round++) {
      const left = this.#livePids();
      if (left.length === 0) break;
      for (const pid of left) killQuietly(pid, 'SIGKILL');
      const killDeadline = Date.now() + 2000;
      while (Date.now() < killDeadline && left.some(isAlive)) await sleep(20);
    }
    // 2. The link emulator (its TUN devices go with it).
    const emulator = this.#emulator;
    if (emulator && emulator.exitCode === null && emulator.signalCode === null) {
      emulator.stdin!.end();
      const gone = await Promise.race([this.#emulatorExited.then(() => true), sleep(2000, undefined, { ref: false }).then(() => false)]);
      if (!gone) {
        emulator.kill('SIGKILL');
        await Promise.race([this.#emulatorExited, sleep(2000, undefined, { ref: false })]);
      }
    }
    // 3. The namespaces.
    const errors: string[] = [];
    for (const ns of this.#created) {
      try {
        await ipRun(['netns', 'del', ns]);
        this.#created.delete(ns);
      } catch (err) {
        if (!listNamespaces().includes(ns)) this.#created.delete(ns);
        else errors.push((err as Error).message);
      }
    }
    open.delete(this);
    if (open.size === 0) uninstallHandlers();
    const alive = [...this.#seen].filter(isAlive);
    if (alive.length > 0) errors.push(`processes still alive after close: ${alive.join(', ')}`);
    if (errors.length > 0) throw new Error(`network ${this.id} close: ${errors.join('; ')}`);
  }

  /** The exit handler's last resort: SIGKILL everything, delete the namespaces, synchronously. */
  closeSync(): void {
    for (const pid of this.#livePids()) killQuietly(pid, 'SIGKILL');
    if (this.#emulator?.pid) killQuietly(this.#emulator.pid, 'SIGKILL');
    for (const ns of this.#created) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: IP_TIMEOUT_MS });
      } catch {
        // reported by nobody: the process is ending
      }
    }
    this.#created.clear();
    open.delete(this);
  }
}

/**
 * A workstation namespace and `boards` board namespaces, each board linked to the workstation
 * (no delay, no loss until `netem`). Throws (after cleaning up what it made) when the machine
 * cannot; check `netnsUnavailable()` first to skip instead.
 */
export async function createFleetNetwork(options: FleetNetworkOptions): Promise<FleetNetwork> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new RangeError(`prefix must be [a-z][a-z0-9]{0,7}, got ${JSON.stringify(prefix)}`);
  if (!Number.isInteger(options.boards) || options.boards < 1 || options.boards > 32) throw new RangeError(`boards must be 1..32, got ${options.boards}`);
  const reason = netnsUnavailable();
  if (reason) throw new Error(`no fleet network on this machine: ${reason}`);
  removeStale(prefix);
  const net = new Network(prefix, options.boards, options.stopGraceMs ?? 3000, options.seed ?? null);
  open.add(net);
  installHandlers();
  try {
    await net.setUp();
  } catch (err) {
    await net.close().catch(() => undefined);
    throw err;
  }
  return net;
}
