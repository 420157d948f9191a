#!/usr/bin/env node
// Container health check: GET /healthz of the service in this container. Port: FULCRUM_HEALTH_PORT,
// else FULCRUM_METRICS__PORT, else FULCRUM_GRPC__PORT + 1000 (the services' rule), else 51054.
const env = process.env;
const port = Number(env.FULCRUM_HEALTH_PORT || env.FULCRUM_METRICS__PORT || (env.FULCRUM_GRPC__PORT ? Number(env.FULCRUM_GRPC__PORT) + 1000 : 51054));
const host = env.FULCRUM_METRICS__HOST && env.FULCRUM_METRICS__HOST !== '0.0.0.0' ? env.FULCRUM_METRICS__HOST : '127.0.0.1';
try {
  const res = await fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
