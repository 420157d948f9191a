export { freeLoopbackPort, startNatsServer, natsServerBinary } from './nats-server.js';
export type { NatsServer, NatsServerOptions } from './nats-server.js';
export { natsFixture } from './fixture.js';
export type { NatsFixture } from './fixture.js';
