/**
 * `fulcrum top` — a live terminal view of one board, like jtop for Fulcrum: the plan and power
 * mode, board power against the budget with a sparkline, each stream's rate, queue, p50/p99 against
 * its latency budget, late and failed requests, training throughput against the plan's prediction,
 * ρ, and the last events. Fed by the executor's Status (polled), the device-controller's telemetry
 * stream and, with `--nats`, the board's events. `--once` prints one frame as text, `--json` one
 * snapshot, for scripts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { optimizer } from '@fulcrum/proto';
import type { CliIo } from '../io.js';
import { CommandError, UsageError, positiveNumber } from '../usage.js';
import { formatFleetFrame, formatFrame } from '../top/frame.js';
import { TopFleetSource, TopSource } from '../top/source.js';
import type { ViewSource } from '../top/app.js';
import { optimizerConnection, remoteError } from './solve-remote.js';

interface TopOptions {
  executor?: string;
  controller?: string | false;
  optimizer?: string;
  board?: string;
  nats?: string;
  token?: string;
  tls?: boolean;
  tlsCa?: string;
  intervalS: number;
  once?: boolean;
  json?: boolean;
}

const ADDRESS = /^([^\s:]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/;

function checkAddress(flag: string, value: string | undefined): void {
  if (value !== undefined && !ADDRESS.test(value)) throw new UsageError(`${flag}: expected HOST:PORT, got ${JSON.stringify(value.slice(0, 64))}`);
}

/** The executor of `board` as the optimizer knows it. */
async function executorFromOptimizer(o: TopOptions): Promise<string> {
  const conn = optimizerConnection({ address: o.optimizer!, token: o.token, tls: o.tls, tlsCa: o.tlsCa });
  let res: optimizer.ListBoardsResponse;
  try {
    res = await conn.unary<optimizer.ListBoardsResponse>('ListBoards', (c, md, opts, cb) => c.listBoards({}, md, opts, cb));
  } catch (err) {
    throw remoteError(err, o.optimizer!, 1);
  } finally {
    conn.close();
  }
  const pick = res.boards.find((b) => b.board === o.board);
  if (!pick) throw new UsageError(`--board: the optimizer at ${o.optimizer} has not heard from ${JSON.stringify(o.board!.slice(0, 64))} (it knows ${res.boards.map((b) => b.board).join(', ') || 'no board'})`);
  if (!pick.executorAddress) throw new CommandError(`board ${pick.board}: its executor announced no gRPC address; give --executor HOST:PORT`);
  return pick.executorAddress;
}

/** `--once`/`--json`, or the live view, of a source. */
async function show<T>(source: ViewSource<T>, o: TopOptions, io: CliIo, target: string, settleMs: number): Promise<void> {
  if (o.once || o.json || !process.stdout.isTTY || !process.stdin.isTTY) {
    if (settleMs > 0) await sleep(settleMs);
    let snap: T;
    try {
      snap = await source.snapshot();
    } catch (err) {
      throw remoteError(err, target, 1);
    }
    io.stdout(o.json ? JSON.stringify(snap, null, 2) + '\n' : source.format(snap, { width: process.stdout.columns || Number(process.env['COLUMNS']) || 120 }).join('\n') + '\n');
    return;
  }
  // Both ends are a terminal, so the view is live even where CI or CONTINUOUS_INTEGRATION is
  // set (a CI runner, a shell that exports it): ink reads them once, at import, and in its CI
  // mode holds every frame back until exit.
  delete process.env['CI'];
  delete process.env['CONTINUOUS_INTEGRATION'];
  const { runTopApp } = await import('../top/app.js');
  await runTopApp(source, o.intervalS * 1000, target);
}

export function registerTopCommand(program: Command, io: CliIo): void {
  program
    .command('top')
    .description('A live view of one board: plan and power mode, power against the budget, every stream against its latency budget, training against the prediction, the last events.')
    .option('--executor <host:port>', 'the board\'s executor (default 127.0.0.1:50052, or the one --optimizer knows for --board)')
    .option('--controller <host:port>', 'the board\'s device-controller, for power telemetry (default 127.0.0.1:50051 when --executor is on this host)')
    .option('--no-controller', 'no power telemetry')
    .option('--optimizer <host:port>', 'every board the optimizer has heard from, one line each; with --board, that board\'s view')
    .option('--board <id>', 'with --optimizer: the board to show; with --nats: whose events to follow (default the one the executor reports)')
    .option('--nats <url>', 'follow the board\'s events on this NATS server (plans applied, arrival-rate moves, profiles)')
    // From the environment without a default value: --help must not print the token.
    .addOption(new Option('--token <token>', 'the bearer token the services require').env('FULCRUM_TOKEN'))
    .option('--tls', 'connect with TLS (system roots)')
    .option('--tls-ca <file>', 'TLS, the services\' certificates signed by this CA')
    .addOption(new Option('--interval-s <s>', 'refresh interval').argParser(positiveNumber).default(1))
    .option('--once', 'print one frame as text and exit')
    .option('--json', 'print one snapshot as JSON and exit')
    .addHelpText('after', '\nKeys: q quits. Over SSH on the board: fulcrum top (the services\' default ports on this host).\n\nExamples:\n  fulcrum top\n  fulcrum top --executor 10.0.0.5:50052 --controller 10.0.0.5:50051 --nats nats://10.0.0.5:4222\n  fulcrum top --optimizer 127.0.0.1:50054                  # every board it knows\n  fulcrum top --optimizer 127.0.0.1:50054 --board jetson-02\n  fulcrum top --once\n  fulcrum top --json | jq .streams\n')
    .action(async (o: TopOptions) => {
      checkAddress('--executor', o.executor);
      checkAddress('--optimizer', o.optimizer);
      if (typeof o.controller === 'string') checkAddress('--controller', o.controller);
      if (o.intervalS < 0.1 || o.intervalS > 3600) throw new UsageError(`--interval-s: between 0.1 and 3600, got ${o.intervalS}`);
      if (o.nats !== undefined && !/^(nats|tls|wss?):\/\/[^\s]+$|^[^\s:/]+:\d{1,5}$/.test(o.nats)) throw new UsageError(`--nats: expected nats://HOST:PORT, got ${JSON.stringify(o.nats.slice(0, 64))}`);
      if (o.optimizer !== undefined && o.board === undefined && o.executor === undefined) {
        // Every board the optimizer knows.
        const fleet = new TopFleetSource({ optimizer: o.optimizer, token: o.token, tls: o.tls, tlsCa: o.tlsCa });
        try {
          await show({ snapshot: () => fleet.snapshot(), format: formatFleetFrame }, o, io, `the optimizer at ${o.optimizer}`, 0);
        } finally {
          await fleet.close();
        }
        return;
      }
      if (o.optimizer === undefined && o.board !== undefined && o.nats === undefined) throw new UsageError('--board goes with --optimizer (to find its executor) or --nats (to follow its events)');
      const executor = o.executor ?? (o.optimizer !== undefined ? await executorFromOptimizer(o) : '127.0.0.1:50052');
      const host = executor.slice(0, executor.lastIndexOf(':'));
      const controller = o.controller === false ? undefined : typeof o.controller === 'string' ? o.controller : `${host}:50051`;
      const source = new TopSource({ executor, controller, nats: o.nats, board: o.board, token: o.token, tls: o.tls, tlsCa: o.tlsCa, telemetryIntervalMs: Math.min(1000, o.intervalS * 500) });
      try {
        try {
          await source.start();
        } catch (err) {
          throw new CommandError(`fulcrum top: ${(err as Error).message}`);
        }
        // --once: the first telemetry samples first, for a frame with power in it.
        await show({ snapshot: () => source.snapshot(), format: formatFrame }, o, io, `the executor at ${executor}`, controller ? Math.min(1500, o.intervalS * 1000 + 200) : 0);
      } finally {
        await source.close();
      }
    });
}
