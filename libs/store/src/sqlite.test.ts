import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ValidationError } from '@fulcrum/core';
import { openProfileStore } from './config.js';
import { openSqliteProfileStore } from './sqlite.js';
import { freshDevice, profileStoreSuite, result } from './store.suite.js';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'nested', 'profiles.db');

profileStoreSuite('sqlite', async () => openSqliteProfileStore({ path }));

test('sqlite: results survive closing and reopening the file', async () => {
  const device = freshDevice();
  const first = await openProfileStore({ backend: 'sqlite', path });
  assert.equal(first.backend, 'sqlite');
  await first.put(result(device));
  await first.close();
  await assert.rejects(first.get(result(device)), /closed/);
  const second = await openProfileStore({ backend: 'sqlite', path });
  assert.deepEqual(await second.get(result(device)), result(device));
  await second.close();
});

test('sqlite: two stores on one file see each other (WAL)', async () => {
  const device = freshDevice();
  const a = openSqliteProfileStore({ path });
  const b = openSqliteProfileStore({ path });
  await a.put(result(device, { batchSize: 16 }));
  assert.equal((await b.get(result(device, { batchSize: 16 })))?.batchSize, 16);
  assert.equal(await b.putIfAbsent(result(device, { batchSize: 16 })), false);
  await Promise.all([a.close(), b.close()]);
});

test('sqlite: in memory, and config errors', async () => {
  const mem = openSqliteProfileStore({ path: ':memory:' });
  await mem.put(result('m'));
  assert.equal((await mem.query()).length, 1);
  await mem.close();
  assert.throws(() => openSqliteProfileStore({ path: '' }), ValidationError);
  await assert.rejects(openProfileStore({ backend: 'redis' } as never), /backend: must be "sqlite" or "kv", got "redis"/);
});
