// Paths checked before long work (bench, demo) and profile tables read through a flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputDir, checkOutputFile } from './output-path.js';
import { assertProfileFile } from './profile-file.js';
import { UsageError } from './usage.js';

describe('checkOutputFile / checkOutputDir', () => {
  it('leaves nothing behind for a new file, keeps an existing one, and leaves a symbolic link (even a dangling one) as it is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-out-'));
    try {
      checkOutputFile(join(dir, 'a', 'new.json'), '--json');
      assert.equal(existsSync(join(dir, 'a', 'new.json')), false, 'the probe file is removed');
      assert.ok(existsSync(join(dir, 'a')), 'the folder the write needs is made');
      writeFileSync(join(dir, 'old.json'), 'keep');
      checkOutputFile(join(dir, 'old.json'), '--json');
      assert.equal(readFileSync(join(dir, 'old.json'), 'utf8'), 'keep');
      symlinkSync(join(dir, 'target.json'), join(dir, 'link.json'));
      checkOutputFile(join(dir, 'link.json'), '--json');
      assert.ok(lstatSync(join(dir, 'link.json')).isSymbolicLink(), 'the link is still there');
      assert.equal(existsSync(join(dir, 'target.json')), false, 'nothing was created through it');
      assert.throws(() => checkOutputFile(dir, '--json'), (e: unknown) => e instanceof UsageError && /is a folder; give a file name/.test(e.message));
      checkOutputDir(join(dir, 'plots', 'x'), '--plots');
      assert.ok(existsSync(join(dir, 'plots', 'x')));
      assert.deepEqual(readFileSync(join(dir, 'old.json'), 'utf8'), 'keep');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('assertProfileFile', () => {
  it('takes a file or a pipe (<(…)), refuses a folder or a missing path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-pf-'));
    try {
      const fifo = join(dir, 'pipe.csv');
      execFileSync('mkfifo', [fifo]);
      assertProfileFile(fifo, '--profiles');
      writeFileSync(join(dir, 'T.csv'), 'x');
      assertProfileFile(join(dir, 'T.csv'), '--profiles');
      assert.throws(() => assertProfileFile(dir, '--profiles'), /--profiles: cannot read .*: a folder, not a CSV file/);
      assert.throws(() => assertProfileFile(join(dir, 'none.csv'), '--profiles'), /--profiles: cannot read .*none\.csv: no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
