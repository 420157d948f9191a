import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateProblem } from '@fulcrum/core';
import { movedProblem } from './replan-rule.js';
import { resolveStrategy } from './strategies.js';

const problem = validateProblem({
  trainWorkload: 'resnet18',
  powerBudgetW: 30,
  streams: [
    { name: 'a', workload: 'mobilenet', arrivalRatePerS: 10, latencyBudgetS: 0.5 },
    { name: 'b', workload: 'yolov8n', arrivalRatePerS: 4, latencyBudgetS: 1 },
  ],
});
const event = (streams: { stream: string; arrivalRatePerS: number }[], windowS = 100) => ({ measuredAt: new Date().toISOString(), windowS, streams });
const rule = { rateThreshold: 0.2, noiseSigmas: 4 };

describe('movedProblem (automatic re-plan rule)', () => {
  it('fires only when a rate moves beyond the threshold, relative to the rate the plan was made for', () => {
    assert.equal(movedProblem(problem, event([{ stream: 'a', arrivalRatePerS: 11.9 }]), rule), undefined);
    assert.equal(movedProblem(problem, event([{ stream: 'a', arrivalRatePerS: 8.1 }, { stream: 'zz', arrivalRatePerS: 99 }]), rule), undefined);
    const moved = movedProblem(problem, event([{ stream: 'a', arrivalRatePerS: 10.5 }, { stream: 'b', arrivalRatePerS: 6 }]), rule)!;
    assert.deepEqual(moved.moves, [{ stream: 'b', plannedRatePerS: 4, measuredRatePerS: 6 }]);
    assert.deepEqual(moved.problem.streams.map((s) => s.arrivalRatePerS), [10.5, 6], 'every measured rate is taken over');
    assert.equal(moved.problem.powerBudgetW, 30);
  });

  it('ignores moves within Poisson noise of a short window, and streams with no traffic', () => {
    // 4 → 6 req/s over 2 s: σ = √(6/2) ≈ 1.7, 4σ ≈ 6.9 > 2.
    assert.equal(movedProblem(problem, event([{ stream: 'b', arrivalRatePerS: 6 }], 2), rule), undefined);
    assert.ok(movedProblem(problem, event([{ stream: 'b', arrivalRatePerS: 6 }], 2), { ...rule, noiseSigmas: 0 }));
    assert.equal(movedProblem(problem, event([{ stream: 'a', arrivalRatePerS: 0 }]), rule), undefined);
  });
});

describe('resolveStrategy', () => {
  it('knows registry names, aliases and budgets the registry does not list', () => {
    assert.equal(resolveStrategy('gmd').name, 'gmd');
    assert.equal(resolveStrategy('als').name, 'als-100');
    assert.equal(resolveStrategy('als-37').name, 'als-37');
    assert.equal(resolveStrategy('gmd-20').name, 'gmd-20');
    assert.equal(resolveStrategy('bo-9').name, 'bo-9');
    assert.throws(() => resolveStrategy('annealing'), /strategy: unknown strategy/);
    assert.throws(() => resolveStrategy('als-0'), /modeBudget/);
  });
});
