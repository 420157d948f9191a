/**
 * A NATS server for one `describe` block of node:test: started before its tests, stopped after
 * them, with what the tests opened closed first (last first).
 *
 *   describe('… over NATS', () => {
 *     const nats = natsFixture();
 *     it('…', async () => {
 *       const svc = await startSomething({ nats: { url: nats.url } });
 *       nats.defer(() => svc.close());
 *     });
 *   });
 */
import { after, before } from 'node:test';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.js';

export interface NatsFixture {
  /** The running server (after `before`). */
  readonly server: NatsServer;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Close this when the block ends, before the server stops. */
  defer(close: () => Promise<void> | void): void;
}

export function natsFixture(options: NatsServerOptions = {}): NatsFixture {
  let server: NatsServer | undefined;
  const closes: Array<() => Promise<void> | void> = [];
  before(async () => {
    server = await startNatsServer(options);
  });
  after(async () => {
    for (const close of closes.reverse()) await close();
    await server?.stop();
  });
  const running = (): NatsServer => {
    if (!server) throw new Error('natsFixture: the server starts in before(); use it inside a test');
    return server;
  };
  return {
    get server() {
      return running();
    },
    get url() {
      return running().url;
    },
    defer(close) {
      closes.push(close);
    },
  };
}
