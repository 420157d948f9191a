/**
 * @fulcrum/runtime/internal — the public face plus the kit the services are built from: the gRPC
 * server and its handlers, HTTP /metrics and /healthz, `startService`, the shared config schemas
 * (grpc, metrics, nats, peers, log level), service flags, and the retry and error helpers.
 */
export * from './index.js';
export { envVarName, flagName, formatSource } from './config.js';
export type { ConfigIssue, ConfigLayer, ConfigSource } from './config.js';
export { resolveLogLevel, serviceLogger } from './logging.js';
export type { LogDestination } from './logging.js';
export { toGrpcError } from './grpc-errors.js';
export type { GrpcErrorLike } from './grpc-errors.js';
export { DEFAULT_MAX_SERVER_STREAMS, GrpcBindError, startGrpcServer, unary, serverStream, callSignal, isLoopbackHost, hasBearerToken } from './grpc-server.js';
export type { GrpcServerOptions, GrpcServiceBinding, RunningGrpcServer, TlsFiles } from './grpc-server.js';
export { bearerTokenInterceptor, clientSecurity, unaryCall, withRetry, isUnavailable } from './grpc-client.js';
export type { GrpcClientSecurity, RetryOptions } from './grpc-client.js';
export { createMetricsRegistry, registerBusMetrics, startHttpEndpoints } from './http-endpoints.js';
export type { HttpEndpointsOptions, RunningHttpEndpoints } from './http-endpoints.js';
export {
  SERVICE_NAMES,
  DEFAULT_GRPC_PORTS,
  grpcConfigSchema,
  metricsConfigSchema,
  logLevelSchema,
  natsConfigSchema,
  boardSchema,
  defaultBoardId,
  natsBusOptions,
  natsHosts,
  grpcListenPort,
  startService,
  openService,
} from './service.js';
export type { ServiceName, GrpcConfig, MetricsConfig, NatsConfig, StartServiceOptions, ServiceOptions, ServiceScope } from './service.js';
export { SHUTDOWN_LIMITS, closeWithin } from './cleanup.js';
export { parseFlagArgs, parseServiceFlags, unknownFlags, unknownFlagsError } from './service-flags.js';
export type { FlagArgs, ServiceFlagsOptions } from './service-flags.js';
export { isPeerGone, peerConfigSchema, connectionOptions } from './connection.js';
export type { GrpcClientConstructor, UnaryInvoke, PeerConfig } from './connection.js';
