/**
 * `fulcrum boards --remote HOST:PORT`: the boards an optimizer has heard from (their executors'
 * `board.announce` events on NATS): id, device model, software stack, executor address, the plan
 * running, state and when it was last heard from. `fulcrum solve --remote … --board ID` plans for one.
 */
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { optimizer } from '@fulcrum/proto';
import type { CliIo } from '../io.js';
import { ago } from '../format.js';
import { UsageError } from '../usage.js';
import { optimizerConnection, remoteError } from './solve-remote.js';

interface BoardsOptions {
  remote: string;
  token?: string;
  tls?: boolean;
  tlsCa?: string;
  json?: boolean;
}

export function registerBoardsCommand(program: Command, io: CliIo): void {
  program
    .command('boards')
    .description('List the boards an optimizer service has heard from (their executors announce themselves on NATS).')
    .requiredOption('--remote <host:port>', 'the optimizer service')
    // From the environment without a default value: --help must not print the token.
    .addOption(new Option('--token <token>', 'the bearer token the optimizer requires').env('FULCRUM_TOKEN'))
    .option('--tls', 'connect with TLS (system roots)')
    .option('--tls-ca <file>', "TLS, the optimizer's certificate signed by this CA")
    .option('--json', 'print the boards as JSON')
    .addHelpText('after', '\nExamples:\n  fulcrum boards --remote 127.0.0.1:50054\n  fulcrum solve --remote 127.0.0.1:50054 --board jetson-02 --train resnet18 --infer mobilenet --rate 30 --latency 0.5 --power 25\n')
    .action(async (o: BoardsOptions) => {
      if (!/^[^\s:]+:\d{1,5}$/.test(o.remote) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(o.remote)) throw new UsageError(`--remote: expected HOST:PORT, got ${JSON.stringify(o.remote)}`);
      const conn = optimizerConnection({ address: o.remote, token: o.token, tls: o.tls, tlsCa: o.tlsCa });
      let res: optimizer.ListBoardsResponse;
      try {
        res = await conn.unary<optimizer.ListBoardsResponse>('ListBoards', (c, md, opts, cb) => c.listBoards({}, md, opts, cb));
      } catch (err) {
        throw remoteError(err, o.remote, 1);
      } finally {
        conn.close();
      }
      const boards = res.boards.map((b) => ({
        board: b.board,
        device: b.device,
        softwareStack: b.softwareStack,
        executorAddress: b.executorAddress || null,
        planId: b.planId || null,
        state: b.state,
        lastSeen: b.lastSeen?.toISOString() ?? null,
      }));
      if (o.json) {
        io.stdout(JSON.stringify({ boards }, null, 2) + '\n');
        return;
      }
      if (boards.length === 0) {
        io.stdout(`no boards have announced themselves to the optimizer at ${o.remote} (their executors announce on NATS every 10 s: same NATS server?)\n`);
        return;
      }
      const now = Date.now();
      const t = new Table({ head: ['board', 'device', 'software stack', 'executor', 'plan', 'state', 'last seen'], style: { head: [], border: [] } });
      for (const b of res.boards) t.push([b.board, b.device, b.softwareStack, b.executorAddress || '—', b.planId || '—', b.state || '—', ago(b.lastSeen, now)]);
      io.stdout(`${t.toString()}\n`);
    });
}
