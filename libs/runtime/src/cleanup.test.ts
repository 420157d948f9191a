import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { CleanupStack } from './cleanup.js';

describe('CleanupStack', () => {
  it('closes in reverse order, goes on past a failing step, and runs each step once', async () => {
    const order: string[] = [];
    const stack = new CleanupStack(pino({ level: 'silent' }));
    stack.defer(() => void order.push('first'));
    stack.defer(() => {
      throw new Error('boom');
    });
    stack.defer(async () => void order.push('third'));
    await stack.closeAll();
    await stack.closeAll();
    assert.deepEqual(order, ['third', 'first']);
  });

});
