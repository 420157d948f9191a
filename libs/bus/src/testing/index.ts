export { startNatsServer, natsServerBinary } from './nats-server.js';
export type { NatsServer, NatsServerOptions } from './nats-server.js';
