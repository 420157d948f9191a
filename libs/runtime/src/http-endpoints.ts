import { isLoopbackHost } from './grpc-server.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';

export interface HttpEndpointsOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** 0 picks a free port. */
  readonly port?: number | undefined;
  readonly registry: Registry;
  /** `/healthz` answers 200 while this returns true, 503 otherwise. */
  readonly healthy?: () => boolean;
  readonly logger?: Logger | undefined;
}

export interface RunningHttpEndpoints {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `fulcrum_bus_rejected_messages_total`: messages the service's bus dropped as malformed (events
 * that do not decode, inference requests that do not decode or have no reply subject), read from
 * the bus when scraped. Its log says at most 10 lines a minute of each kind; this counts them all.
 */
export function registerBusMetrics(registry: Registry, bus: { rejectedMessages(): number }): void {
  if (registry.getSingleMetric('fulcrum_bus_rejected_messages_total')) return; // services sharing a registry share their bus
  new Counter({
    name: 'fulcrum_bus_rejected_messages_total',
    help: 'Messages the bus dropped as malformed (bad events, bad inference requests, requests without a reply subject)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(bus.rejectedMessages());
    },
  });
}

/** A metrics registry with Node's default process metrics, labelled with the service. */
export function createMetricsRegistry(service: string, labels: Readonly<Record<string, string>> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, ...labels });
  collectDefaultMetrics({ register: registry, prefix: 'fulcrum_' });
  return registry;
}

/** Serves `GET /metrics` (Prometheus text format) and `GET /healthz`. */
export async function startHttpEndpoints(options: HttpEndpointsOptions): Promise<RunningHttpEndpoints> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: unknown) => {
          options.logger?.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
    } else if (path === '/healthz') {
      const ok = options.healthy?.() ?? true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'unhealthy\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.logger?.info({ host, port }, 'metrics and health endpoints listening');
  if (!isLoopbackHost(host)) {
    // /metrics has no authentication: say so when it is reachable from elsewhere.
    options.logger?.warn({ host, port }, `serving /metrics and /healthz on ${host} without authentication: anyone who reaches port ${port} reads them (bind metrics.host to loopback, or firewall it)`);
  }
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
