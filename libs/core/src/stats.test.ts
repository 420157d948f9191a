import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meanAndStandardError } from './stats.js';
import { seededRandom } from './random.js';

test('meanAndStandardError: the textbook values, undefined below two samples, and √n shrinkage on random draws', () => {
  const { mean, se } = meanAndStandardError([2, 4, 4, 4, 5, 5, 7, 9]);
  assert.equal(mean, 5);
  assert.ok(Math.abs(se! - Math.sqrt(32 / 7 / 8)) < 1e-12);
  assert.deepEqual(meanAndStandardError([3]), { mean: 3, se: undefined });
  assert.equal(meanAndStandardError([]).se, undefined);
  assert.equal(meanAndStandardError([1, 1, 1]).se, 0);
  const rand = seededRandom(3);
  const draw = (n: number) => Array.from({ length: n }, () => 10 + (rand() - 0.5));
  const small = meanAndStandardError(draw(25)).se!;
  const large = meanAndStandardError(draw(2500)).se!;
  // Uniform(−0.5, 0.5): σ = 1/√12 ≈ 0.289; SE ≈ σ/√n.
  assert.ok(Math.abs(small - 0.289 / 5) < 0.02, `n=25: ${small}`);
  assert.ok(Math.abs(large - 0.289 / 50) < 0.001, `n=2500: ${large}`);
});
