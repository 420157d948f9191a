import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeFolders } from './folders.js';

describe('makeFolders', () => {
  it('makes the missing levels, leaves existing ones, refuses a file in the way', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-folders-'));
    try {
      makeFolders(join(dir, 'a', 'b', 'c'));
      assert.ok(statSync(join(dir, 'a', 'b', 'c')).isDirectory());
      makeFolders(join(dir, 'a', 'b')); // already there: nothing to do
      writeFileSync(join(dir, 'f'), 'x');
      assert.throws(() => makeFolders(join(dir, 'f', 'g')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
      assert.equal(existsSync(join(dir, 'f', 'g')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Node's recursive mkdir loops forever there (every level answers ENOENT); this must throw.
  it('throws where nothing can be created (under /proc), instead of spinning', { skip: existsSync('/proc/self') ? false : 'no /proc on this system' }, () => {
    assert.throws(() => makeFolders('/proc/fulcrum-no-such/x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  });
});
