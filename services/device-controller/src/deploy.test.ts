// The systemd units in deploy/systemd must match this package: their Environment= lines are
// settings the config schema accepts, and ExecStart runs entry points that exist with flags they take.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseServiceFlags } from '@fulcrum/runtime/internal';
import { deviceControllerServiceConfigSchema, loadDeviceControllerConfig, loadDeviceControllerServiceConfig } from './config.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const unit = (name: string): string => readFileSync(join(repoRoot, 'deploy/systemd', name), 'utf8');

function environment(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^Environment=([A-Z0-9_]+)=(.*)$/gmu)) env[m[1]!] = m[2]!;
  return env;
}

describe('deploy/systemd', () => {
  it('the helper unit runs helper-main as root and configures its socket and state file', () => {
    const text = unit('fulcrum-jetson-helper.service');
    assert.match(text, /^User=root$/m);
    const exec = /^ExecStart=\/usr\/bin\/node \/opt\/fulcrum\/services\/device-controller\/(dist\/[\w-]+)\.js$/mu.exec(text);
    assert.ok(exec, 'ExecStart runs a dist entry point');
    assert.ok(existsSync(join(repoRoot, 'services/device-controller', exec[1]!.replace('dist/', 'src/') + '.ts')));
    const { config } = loadDeviceControllerConfig({ env: environment(text) });
    assert.equal(config.helper.socketPath, '/run/fulcrum/jetson-helper.sock');
    assert.equal(config.helper.stateFile, '/run/fulcrum/jetson-state.json');
    assert.match(text, /^RuntimeDirectory=fulcrum$/m);
    assert.match(text, /^RuntimeDirectoryPreserve=yes$/m);
  });

  it('the controller unit runs the gRPC service unprivileged on jetson, through the helper socket the helper listens on', () => {
    const text = unit('fulcrum-device-controller.service');
    assert.match(text, /^User=fulcrum$/m);
    assert.match(text, /^CapabilityBoundingSet=$/m);
    assert.match(text, /^Requires=fulcrum-jetson-helper\.service$/m);
    const exec = /^ExecStart=\/usr\/bin\/node \/opt\/fulcrum\/services\/device-controller\/(dist\/[\w-]+)\.js((?: --\S+)*)$/mu.exec(text);
    assert.ok(exec, 'ExecStart runs a dist entry point with flags');
    assert.equal(exec[1], 'dist/service-main');
    assert.ok(existsSync(join(repoRoot, 'services/device-controller/src/service-main.ts')));
    const { config } = parseServiceFlags(deviceControllerServiceConfigSchema, exec[2]!.trim().split(' '), { env: environment(text) });
    assert.equal(config.backend, 'jetson');
    assert.equal(config.grpc.host, '127.0.0.1', 'gRPC stays on loopback unless the defaults file adds TLS and a token');
    const helper = loadDeviceControllerConfig({ env: environment(unit('fulcrum-jetson-helper.service')) }).config;
    assert.equal(config.jetson.helperSocket, helper.helper.socketPath);
    assert.equal(config.jetson.telemetryIntervalMs, 1000);
    // The bin runs the same entry point.
    assert.match(readFileSync(join(repoRoot, 'services/device-controller/bin/fulcrum-device-controller.js'), 'utf8'), /^import '\.\.\/dist\/service-main\.js';$/m);
  });

  it('the commented defaults files name real settings', () => {
    const loaders = {
      'fulcrum-device-controller.defaults': (env: Record<string, string>) => loadDeviceControllerServiceConfig({ env }),
      'fulcrum-jetson-helper.defaults': (env: Record<string, string>) => loadDeviceControllerConfig({ env }),
    };
    for (const [name, load] of Object.entries(loaders)) {
      const env: Record<string, string> = {};
      for (const m of unit(name).matchAll(/^#(FULCRUM_[A-Z0-9_]+)=(.*)$/gmu)) env[m[1]!] = m[2]!;
      assert.ok(Object.keys(env).length > 0);
      // Unknown keys would be silently ignored by env lookup, so check each maps to a schema key.
      const { sources } = load(env);
      const fromEnv = Object.values(sources).filter((s) => s.layer === 'env').map((s) => (s as { variable: string }).variable);
      assert.deepEqual(fromEnv.sort(), Object.keys(env).sort(), name);
    }
  });
});
