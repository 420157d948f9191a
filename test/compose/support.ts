// What the compose tests (test/compose/*.e2e.ts, `npm run test:compose`) share: the Docker engine
// check, a free host port to publish the optimizer on, and the fulcrum CLI run in this process.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { runCli } from '@fulcrum/cli';
import { freeLoopbackPort as freePort } from '@fulcrum/bus/testing';

/** The repository root (the compose files' paths are relative to it). */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Throws at once, saying why, where no Docker engine with the compose v2 plugin is reachable
 * (scripts/test-compose.mjs checks the same before it starts a file; this covers a file run alone).
 */
export function requireDockerCompose(): void {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
  if (info.error) throw new Error(`the compose tests need Docker with the compose v2 plugin; the docker client is not installed (${info.error.message})`);
  if (info.status !== 0) throw new Error(`the compose tests need a Docker engine; none is reachable (docker info: ${(info.stderr || info.stdout).trim().split('\n').pop()})`);
  const compose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  if (compose.status !== 0) throw new Error('the compose tests need the docker compose v2 plugin (docker compose version failed)');
}

/** A free loopback port (@fulcrum/bus/testing's). */
export { freePort };

/** `fulcrum <argv>` in this process: its exit code and what it printed. */
export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/**
 * Builds and starts a compose file (relative to the repository root) under its own project name,
 * with the optimizer published on a free host port, and waits until every listed service is
 * healthy. Returns the environment (`down` it in `after`) and the optimizer's address.
 */
export async function upCompose(file: string, project: string, environment: Record<string, string>, services: readonly string[]): Promise<{ env: StartedDockerComposeEnvironment; optimizer: string }> {
  const port = await freePort();
  let compose = new DockerComposeEnvironment(root, file)
    .withBuild()
    .withProjectName(`${project}-${process.pid}`)
    .withEnvironment({ ...environment, FULCRUM_OPTIMIZER_PORT: String(port) })
    .withStartupTimeout(15 * 60_000);
  for (const s of services) compose = compose.withWaitStrategy(`${s}-1`, Wait.forHealthCheck());
  return { env: await compose.up(), optimizer: `127.0.0.1:${port}` };
}
