export { ConfigError, envVarName, flagName, formatSource, loadConfig } from './config.js';
export { createLogger, LOG_LEVELS, resolveLogLevel, serviceLogger } from './logging.js';

export type { ConfigIssue, ConfigLayer, ConfigSource, LoadConfigOptions, LoadedConfig } from './config.js';
export type { LogDestination, Logger, LoggerOptions, LogLevel } from './logging.js';
export { GrpcStatusError, toGrpcError, isServiceError, errorField } from './grpc-errors.js';
export { startGrpcServer, unary, serverStream, isLoopbackHost, hasBearerToken } from './grpc-server.js';
export { bearerTokenInterceptor, clientSecurity, unaryCall, withRetry, isUnavailable } from './grpc-client.js';
export { createMetricsRegistry, startHttpEndpoints } from './http-endpoints.js';

export type { GrpcErrorLike } from './grpc-errors.js';
export type { GrpcServerOptions, GrpcServiceBinding, RunningGrpcServer, TlsFiles } from './grpc-server.js';
export type { GrpcClientSecurity, RetryOptions } from './grpc-client.js';
export type { HttpEndpointsOptions, RunningHttpEndpoints } from './http-endpoints.js';
export { SERVICE_NAMES, DEFAULT_GRPC_PORTS, grpcConfigSchema, metricsConfigSchema, logLevelSchema, natsConfigSchema, grpcListenPort, startService, closeOnSignals } from './service.js';
export type { ServiceName, GrpcConfig, MetricsConfig, NatsConfig, StartServiceOptions, RunningService } from './service.js';
export { parseFlagArgs, parseServiceFlags, unknownFlags, unknownFlagsError } from './service-flags.js';
export type { FlagArgs, ServiceFlagsOptions } from './service-flags.js';
export { CleanupStack } from './cleanup.js';
export { GrpcConnection, isPeerGone, peerConfigSchema, connectionOptions } from './connection.js';
export type { ConnectionOptions, GrpcClientConstructor, UnaryInvoke, PeerConfig } from './connection.js';
