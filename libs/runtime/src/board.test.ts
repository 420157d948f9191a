// Board ids (issue 15, 1): the default is the host name made a subject token; a given one must be a token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { boardIdFrom, TOKEN_RULE } from '@fulcrum/core';
import { boardSchema, defaultBoardId } from './service.js';

describe('board id', () => {
  it('is the host name made a subject token', () => {
    assert.equal(boardIdFrom('jetson-01.lab.local'), 'jetson-01-lab-local');
    assert.equal(boardIdFrom('Orin AGX #2'), 'orin-agx-2');
    assert.equal(boardIdFrom('--x--'), 'x');
    assert.equal(boardIdFrom('...'), 'board');
    assert.equal(boardIdFrom('a'.repeat(100)).length, 64);
    assert.ok(TOKEN_RULE.test(defaultBoardId()));
    assert.equal(defaultBoardId(), boardIdFrom(hostname()));
  });

  it('defaults in config to this host; a given one must be a token', () => {
    assert.equal(boardSchema.parse(undefined), defaultBoardId());
    assert.equal(boardSchema.parse('jetson-02'), 'jetson-02');
    assert.throws(() => boardSchema.parse('lab.jetson'), /letters, digits/);
    assert.throws(() => boardSchema.parse(''), /letters, digits/);
  });
});
