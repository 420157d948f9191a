// arrivals.rate publishes (issue 15): each one is a durable event in the board's stream, so a
// steady Poisson stream must not publish on every wobble of its windowed estimate, and a real
// move must still be published within a window.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROBLEM_LIMITS, seededRandom } from '@fulcrum/core';
import { RateWatcher } from './replan.js';

function poisson(w: RateWatcher, rand: () => number, ratePerS: number, fromS: number, toS: number, onTick: (t: number) => void): void {
  let t = fromS;
  let nextTick = Math.ceil(fromS * 10) / 10;
  for (;;) {
    t += -Math.log(1 - rand()) / ratePerS;
    while (nextTick <= Math.min(t, toS)) {
      onTick(nextTick);
      nextTick = Math.round((nextTick + 0.1) * 10) / 10;
    }
    if (t > toS) return;
    w.arrival('cam', t);
  }
}

describe('RateWatcher publishes', () => {
  it('a steady stream publishes a few times, not on every check; a ×3 step is published, and re-planned for, at the rate it reached', () => {
    const w = new RateWatcher({ windowS: 10 }, 0);
    const rand = seededRandom(7);
    const published: number[] = [];
    // Checked every 0.1 s, as the executor's periodic tick does: 1,000 checks in 100 s at 6/s.
    poisson(w, rand, 6, 0, 100, (t) => {
      if (w.check(t, { cam: 6 }, 0).publish) published.push(t);
    });
    assert.ok(published.length >= 1, 'the first full window is published');
    assert.ok(published.length <= 12, `${published.length} publishes of a steady 6/s stream in 100 s`);
    const before = published.length;
    const publishedRates: number[] = [];
    const replans: { t: number; rate: number }[] = [];
    poisson(w, rand, 18, 100, 130, (t) => {
      const c = w.check(t, { cam: 6 }, 0);
      if (c.publish) {
        published.push(t);
        publishedRates.push(c.publish['cam']!);
      }
      if (c.replan) replans.push({ t, rate: c.replan['cam']! });
    });
    const step = published.slice(before);
    assert.ok(step.length >= 1 && step[0]! <= 100 + 2 * 10, `the step at 100 s published at ${step[0]}`);
    // Once the change has held for a whole window: the rate reached, not a point of the ramp.
    assert.ok(publishedRates[0]! > 15, `published ${publishedRates[0]!.toFixed(1)}/s for a step to 18/s`);
    assert.ok(replans.length >= 1 && replans[0]!.rate > 15, `re-plan asked for ${replans[0]?.rate.toFixed(1)}/s`);
    for (let i = 1; i < published.length; i++) assert.ok(published[i]! - published[i - 1]! >= 5 - 1e-9, 'at most once per half window');
  });
});

describe('RateWatcher limits', () => {
  it('publishes and re-plans for a rate past PROBLEM_LIMITS.maxArrivalRatePerS as the limit (the bus and the services refuse more)', () => {
    const w = new RateWatcher({ windowS: 0.01 }, 0);
    const seen: number[] = [];
    let replanned: number | undefined;
    // 3,000,000 requests/s for 30 ms, checked every ms.
    for (let i = 0, tick = 0.001; i < 90_000; i++) {
      const t = i / 3e6;
      if (t >= tick) {
        const c = w.check(tick, { cam: 20 }, 0);
        if (c.publish) seen.push(c.publish['cam']!);
        if (c.replan) replanned ??= c.replan['cam'];
        tick += 0.001;
      }
      w.arrival('cam', t);
    }
    assert.ok(seen.length >= 1, 'published');
    assert.deepEqual([...new Set(seen)], [PROBLEM_LIMITS.maxArrivalRatePerS]);
    assert.equal(replanned, PROBLEM_LIMITS.maxArrivalRatePerS);
  });
});
