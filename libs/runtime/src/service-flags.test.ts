import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, grpcConfigSchema, parseFlagArgs, parseServiceFlags, unknownFlags, loadConfig } from './internal.js';

const schema = z.object({
  grpc: grpcConfigSchema.prefault({}),
  hardCapW: z.number().min(0).default(0),
  nats: z.object({ url: z.string().optional() }).prefault({}),
  protocol: z.object({ settleS: z.number().min(0).default(10), measuredMinibatches: z.number().int().min(1).default(20) }).prefault({}),
  verbose: z.boolean().default(false),
});

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-flags-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('parseFlagArgs', () => {
  it('reads --key=value, --key value, bare --flag and --config FILE', () => {
    assert.deepEqual(parseFlagArgs(['--grpc.port=0', '--hard-cap-w', '40', '--verbose', '--config', 'x.yaml', '--nats.url=nats://a=b']), {
      flags: { 'grpc.port': '0', 'hard-cap-w': '40', verbose: 'true', 'nats.url': 'nats://a=b' },
      file: 'x.yaml',
    });
    assert.match(configError(() => parseFlagArgs(['profiler'])).message, /unexpected argument "profiler"/);
    assert.match(configError(() => parseFlagArgs(['--config'])).message, /--config needs a file/);
  });
});

describe('parseServiceFlags', () => {
  it('takes flags over env over file over defaults', () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ hardCapW: 10, grpc: { port: 7000, host: '127.0.0.2' }, protocol: { settleS: 3 } }));
    const { config, sources } = parseServiceFlags(schema, ['--config', file, '--grpc.port=7001', '--protocol.measured-minibatches', '4'], {
      env: { FULCRUM_GRPC__PORT: '7002', FULCRUM_HARD_CAP_W: '20' },
    });
    assert.equal(config.grpc.port, 7001);
    assert.equal(config.hardCapW, 20);
    assert.equal(config.grpc.host, '127.0.0.2');
    assert.equal(config.protocol.settleS, 3);
    assert.equal(config.protocol.measuredMinibatches, 4);
    assert.equal(config.verbose, false);
    assert.deepEqual(sources['grpc.port'], { layer: 'flag', flag: '--grpc.port' });
    assert.deepEqual(sources['hardCapW'], { layer: 'env', variable: 'FULCRUM_HARD_CAP_W' });
  });

  it('accepts camelCase and kebab-case segments and a bare boolean flag', () => {
    const { config } = parseServiceFlags(schema, ['--hardCapW=5', '--grpc.allow-plaintext-network', '--verbose'], { env: {} });
    assert.equal(config.hardCapW, 5);
    assert.equal(config.grpc.allowPlaintextNetwork, true);
    assert.equal(config.verbose, true);
  });

  it('rejects an unknown flag, naming it', () => {
    const err = configError(() => parseServiceFlags(schema, ['--grpc.port=0', '--hard-cap-watts=3', '--grpc.prot=1'], { env: {} }));
    assert.match(err.message, /unknown flags --hard-cap-watts, --grpc\.prot/);
    assert.doesNotMatch(err.message, /--grpc\.port/);
  });

  it('names the flag of a bad value, and the env var of a bad env value', () => {
    assert.match(configError(() => parseServiceFlags(schema, ['--grpc.port=abc'], { env: {} })).message, /grpc\.port from flag --grpc\.port: expected number, got "abc"/);
    assert.match(configError(() => parseServiceFlags(schema, [], { env: { FULCRUM_HARD_CAP_W: '-1' } })).message, /hardCapW from env FULCRUM_HARD_CAP_W/);
  });

  it('takes flags from the caller under argv, and replacement defaults under everything', () => {
    const { config, sources } = parseServiceFlags(schema, ['--protocol.settle-s=2'], {
      env: { FULCRUM_PROTOCOL__MEASURED_MINIBATCHES: '7' },
      flags: { 'nats.url': 'nats://127.0.0.1:4222', 'protocol.settleS': '9' },
      defaults: { 'protocol.settleS': 0.1, 'protocol.measuredMinibatches': 5, hardCapW: 30 },
    });
    assert.equal(config.nats.url, 'nats://127.0.0.1:4222');
    assert.equal(config.protocol.settleS, 2, 'argv over the caller’s flags and the replacement default');
    assert.equal(config.protocol.measuredMinibatches, 7, 'env over the replacement default');
    assert.equal(config.hardCapW, 30, 'the replacement default over the schema default');
    assert.deepEqual(sources['hardCapW'], { layer: 'default' });
  });

  it('unknownFlags compares any spelling of a key', () => {
    const flags = { 'hard-cap-w': '1', 'grpc.allowPlaintextNetwork': 'true', nope: '1' };
    assert.deepEqual(unknownFlags(flags, loadConfig(schema, { flags, env: {} }).sources), ['nope']);
  });
});
