import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busBehaviourSuite, silentLogger, executorStatus, waitFor } from './bus.suite.js';
import { createEventBus } from './config.js';
import { InProcessHub, createInProcessBus } from './in-process.js';
import { executorStatusSubject } from './subjects.js';

const hub = new InProcessHub();
busBehaviourSuite('in-process', async (options) => hub.connect(options));

test('in-process: buses on different hubs do not see each other; createEventBus without a URL is in-process', async () => {
  const a = createInProcessBus({ logger: silentLogger });
  const b = createInProcessBus({ logger: silentLogger });
  const c = await createEventBus({ natsUrl: '', logger: silentLogger });
  assert.equal(c.backend, 'in-process');
  let seen = 0;
  const s = b.subscribe(executorStatusSubject('x'), () => void seen++);
  await s.ready;
  await a.publish(executorStatusSubject('x'), executorStatus(1));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen, 0);
  const shared = new InProcessHub();
  const d = await createEventBus({ hub: shared, logger: silentLogger });
  const e = shared.connect({ logger: silentLogger });
  const s2 = e.subscribe(executorStatusSubject('x'), () => void seen++);
  await d.publish(executorStatusSubject('x'), executorStatus(1));
  await waitFor('delivery on the shared hub', () => seen === 1);
  s2.unsubscribe();
  await Promise.all([a, b, c, d, e].map((bus) => bus.close()));
});
