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
import { formatFrame } from '../top/frame.js';
import { TopSource } from '../top/source.js';
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

/** The executor of `board` (or the only board) an optimizer knows. */
async function executorFromOptimizer(o: TopOptions): Promise<{ executor: string; board: string }> {
  const conn = optimizerConnection({ address: o.optimizer!, token: o.token, tls: o.tls, tlsCa: o.tlsCa });
  let res: optimizer.ListBoardsResponse;
  try {
    res = await conn.unary<optimizer.ListBoardsResponse>('ListBoards', (c, md, opts, cb) => c.listBoards({}, md, opts, cb));
  } catch (err) {
    throw remoteError(err, o.optimizer!, 1);
  } finally {
    conn.close();
  }
  const known = res.boards.map((b) => b.board);
  const pick = o.board !== undefined ? res.boards.find((b) => b.board === o.board) : res.boards.length === 1 ? res.boards[0] : undefined;
  if (!pick) {
    throw new UsageError(
      o.board !== undefined
        ? `--board: the optimizer at ${o.optimizer} has not heard from ${JSON.stringify(o.board.slice(0, 64))} (it knows ${known.join(', ') || 'no board'})`
        : `--board: the optimizer at ${o.optimizer} knows ${known.length} boards (${known.join(', ') || 'none'}); name one`,
    );
  }
  if (!pick.executorAddress) throw new CommandError(`board ${pick.board}: its executor announced no gRPC address; give --executor HOST:PORT`);
  return { executor: pick.executorAddress, board: pick.board };
}

export function registerTopCommand(program: Command, io: CliIo): void {
  program
    .command('top')
    .description('A live view of one board: plan and power mode, power against the budget, every stream against its latency budget, training against the prediction, the last events.')
    .option('--executor <host:port>', 'the board\'s executor (default 127.0.0.1:50052, or the one --optimizer knows for --board)')
    .option('--controller <host:port>', 'the board\'s device-controller, for power telemetry (default 127.0.0.1:50051 when --executor is on this host)')
    .option('--no-controller', 'no power telemetry')
    .option('--optimizer <host:port>', 'find the board\'s executor through the optimizer that heard from it (with --board when it knows several)')
    .option('--board <id>', 'the board (with --optimizer; with --nats, whose events to follow — default the one the executor reports)')
    .option('--nats <url>', 'follow the board\'s events on this NATS server (plans applied, arrival-rate moves, profiles)')
    .option('--token <token>', 'the bearer token the services require (default FULCRUM_TOKEN)', process.env['FULCRUM_TOKEN'])
    .option('--tls', 'connect with TLS (system roots)')
    .option('--tls-ca <file>', 'TLS, the services\' certificates signed by this CA')
    .addOption(new Option('--interval-s <s>', 'refresh interval').argParser(positiveNumber).default(1))
    .option('--once', 'print one frame as text and exit')
    .option('--json', 'print one snapshot as JSON and exit')
    .addHelpText('after', '\nKeys: q quits. Over SSH on the board: fulcrum top (the services\' default ports on this host).\n\nExamples:\n  fulcrum top\n  fulcrum top --executor 10.0.0.5:50052 --controller 10.0.0.5:50051 --nats nats://10.0.0.5:4222\n  fulcrum top --optimizer 127.0.0.1:50054 --board jetson-02\n  fulcrum top --once\n  fulcrum top --json | jq .streams\n')
    .action(async (o: TopOptions) => {
      checkAddress('--executor', o.executor);
      checkAddress('--optimizer', o.optimizer);
      if (typeof o.controller === 'string') checkAddress('--controller', o.controller);
      if (o.intervalS < 0.1 || o.intervalS > 3600) throw new UsageError(`--interval-s: between 0.1 and 3600, got ${o.intervalS}`);
      if (o.nats !== undefined && !/^(nats|tls|wss?):\/\/[^\s]+$|^[^\s:/]+:\d{1,5}$/.test(o.nats)) throw new UsageError(`--nats: expected nats://HOST:PORT, got ${JSON.stringify(o.nats.slice(0, 64))}`);
      let executor = o.executor;
      let board = o.board;
      if (executor === undefined && o.optimizer !== undefined) ({ executor, board } = await executorFromOptimizer(o));
      else if (o.optimizer === undefined && o.board !== undefined && o.nats === undefined) throw new UsageError('--board goes with --optimizer (to find its executor) or --nats (to follow its events)');
      executor ??= '127.0.0.1:50052';
      const host = executor.slice(0, executor.lastIndexOf(':'));
      const controller = o.controller === false ? undefined : typeof o.controller === 'string' ? o.controller : `${host}:50051`;
      const source = new TopSource({ executor, controller, nats: o.nats, board, token: o.token, tls: o.tls, tlsCa: o.tlsCa, telemetryIntervalMs: Math.min(1000, o.intervalS * 500) });
      try {
        try {
          await source.start();
        } catch (err) {
          throw new CommandError(`fulcrum top: ${(err as Error).message}`);
        }
        if (o.once || o.json || !process.stdout.isTTY || !process.stdin.isTTY) {
          // The first telemetry samples, for a frame with power in it.
          if (controller) await sleep(Math.min(1500, o.intervalS * 1000 + 200));
          let snap;
          try {
            snap = await source.snapshot();
          } catch (err) {
            throw remoteError(err, executor, 1);
          }
          io.stdout(o.json ? JSON.stringify(snap, null, 2) + '\n' : formatFrame(snap, { width: process.stdout.columns || Number(process.env['COLUMNS']) || 120 }).join('\n') + '\n');
          return;
        }
        const { runTopApp } = await import('../top/app.js');
        await runTopApp(source, o.intervalS * 1000, `the executor at ${executor}`);
      } finally {
        await source.close();
      }
    });
}
