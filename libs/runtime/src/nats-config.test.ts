// The `nats` section (issue 14, 3): credentials, and no unauthenticated NATS beyond loopback
// unless the network is declared trusted. Nothing here connects anywhere.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isValidationError } from '@fulcrum/core';
import { natsBusOptions, natsConfigSchema, natsHosts } from './service.js';

const nats = (input: Record<string, unknown>) => natsConfigSchema.parse(input);
const refusedOn = (field: string, reason: RegExp) => (err: unknown) => isValidationError(err) && err.field === field && reason.test(err.message);

describe('nats config', () => {
  it('reads the hosts of every URL form', () => {
    assert.deepEqual(natsHosts('nats://127.0.0.1:4222, tls://hub.example:4443,10.0.0.5:4222,[::1]:4222'), ['127.0.0.1', 'hub.example', '10.0.0.5', '::1']);
  });

  it('refuses a URL of another scheme, or one that is not a URL, naming nats.url', () => {
    assert.throws(() => natsHosts('http://127.0.0.1:4222'), refusedOn('nats.url', /starts with nats:\/\/, tls:\/\/, ws:\/\/ or wss:\/\/, not http:\/\//));
    assert.throws(() => natsHosts('nats://127.0.0.1:4222,nats://[bad'), refusedOn('nats.url', /is not a NATS URL: "nats:\/\/\[bad"/));
  });

  it('loopback needs no credentials; no URL means the in-process bus', () => {
    assert.deepEqual(natsBusOptions(nats({ url: 'nats://127.0.0.1:4222' })), { natsUrl: ['nats://127.0.0.1:4222'] });
    assert.deepEqual(natsBusOptions(nats({ url: 'localhost:4222' })), { natsUrl: ['localhost:4222'] });
    assert.deepEqual(natsBusOptions(nats({})), {});
  });

  it('refuses a server beyond loopback without credentials, naming nats.url and the ways out', () => {
    assert.throws(() => natsBusOptions(nats({ url: 'nats://10.0.0.5:4222' })), refusedOn('nats.url', /"10\.0\.0\.5" is beyond loopback and no credentials are set: set nats\.token, nats\.user \+ nats\.pass or nats\.credsFile/));
    // One remote server in a list is enough to refuse.
    assert.throws(() => natsBusOptions(nats({ url: 'nats://127.0.0.1:4222,nats://hub:4222' })), refusedOn('nats.url', /"hub"/));
  });

  it('connects beyond loopback with credentials (warning when they would cross in the clear), or when told the network is trusted', () => {
    const warnings: string[] = [];
    const logger = { warn: (_: object, msg: string) => void warnings.push(msg) };
    assert.deepEqual(natsBusOptions(nats({ url: 'nats://hub:4222', user: 'executor', pass: 'pw' }), logger), { natsUrl: ['nats://hub:4222'], user: 'executor', pass: 'pw' });
    assert.match(warnings.pop()!, /in the clear/);
    assert.deepEqual(natsBusOptions(nats({ url: 'tls://hub:4443', token: 't0ken', tlsCa: '/etc/ca.pem' }), logger), { natsUrl: ['tls://hub:4443'], token: 't0ken', tls: { caFile: '/etc/ca.pem' } });
    assert.equal(warnings.length, 0);
    assert.deepEqual(natsBusOptions(nats({ url: 'nats://hub:4222', trusted: true }), logger), { natsUrl: ['nats://hub:4222'] });
    assert.match(warnings.pop()!, /without credentials \(nats\.trusted\)/);
  });

  it('refuses half a credential and two kinds at once', () => {
    assert.throws(() => nats({ url: 'nats://hub:4222', user: 'executor' }), /pass/);
    assert.throws(() => nats({ url: 'nats://hub:4222', tlsCert: '/c.pem' }), /tlsKey/);
    assert.throws(() => nats({ url: 'nats://hub:4222', token: 't', user: 'u', pass: 'p' }), /one of token, user \+ pass, credsFile/);
  });
});
