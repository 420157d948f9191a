import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ValidationError, validateProblem } from '@fulcrum/core';
import {
  arrivalsRateSubject,
  eventFilter,
  inferFilter,
  inferSubject,
  parseSubject,
  planAppliedSubject,
  profileCompletedSubject,
  powerSubject,
  activitySubject,
  executorStatusSubject,
  subjectMatches,
  validateToken,
} from './subjects.js';
import { decodeKeyToken, encodeKeyToken, validateKey, validateKeyFilter } from './keys.js';

test('builders produce the SPEC §1 subjects', () => {
  assert.deepEqual(inferSubject('orin-1', 'cam'), { kind: 'infer', board: 'orin-1', stream: 'cam', subject: 'fulcrum.orin-1.infer.cam' });
  assert.equal(arrivalsRateSubject('orin-1').subject, 'fulcrum.orin-1.arrivals.rate');
  assert.equal(profileCompletedSubject('orin-1').subject, 'fulcrum.orin-1.profile.completed');
  assert.equal(planAppliedSubject('orin-1').subject, 'fulcrum.orin-1.plan.applied');
  assert.deepEqual(powerSubject('orin_2'), { kind: 'power', board: 'orin_2', subject: 'fulcrum.orin_2.power' });
  assert.equal(activitySubject('orin-1').subject, 'fulcrum.orin-1.activity');
  assert.equal(executorStatusSubject('orin-1').subject, 'fulcrum.orin-1.executor.status');
  assert.deepEqual(eventFilter('power'), { kind: 'power', board: undefined, subject: 'fulcrum.*.power' });
  assert.equal(eventFilter('activity', 'a').subject, 'fulcrum.a.activity');
  assert.equal(eventFilter('executor.status').subject, 'fulcrum.*.executor.status');
  assert.equal(inferFilter().subject, 'fulcrum.*.infer.*');
  assert.equal(inferFilter('a').subject, 'fulcrum.a.infer.*');
  assert.equal(inferFilter('a', 'cam').subject, 'fulcrum.a.infer.cam');
});

test('tokens with dots, spaces, wildcards or nothing are rejected naming the field', () => {
  for (const bad of ['', 'a.b', 'a b', '*', '>', 'a*', '-lead', 'x'.repeat(65), 'é']) {
    assert.throws(() => powerSubject(bad), (err: unknown) => err instanceof ValidationError && err.field === 'board', bad);
    assert.throws(() => inferSubject('ok', bad), (err: unknown) => err instanceof ValidationError && err.field === 'stream', bad);
  }
  assert.throws(() => validateToken('device', 42), /device: a subject token must be 1–64 letters, digits, '-' or '_', starting with a letter or digit .* got 42/);
  assert.throws(() => eventFilter('bogus' as 'power'), /kind: must be one of arrivals.rate, profile.completed, plan.applied, power, activity, executor.status/);
});

test('parseSubject reads back every subject and rejects anything else', () => {
  for (const s of [inferSubject('d', 's'), arrivalsRateSubject('d'), profileCompletedSubject('d'), planAppliedSubject('d'), powerSubject('d'), activitySubject('d'), executorStatusSubject('d')]) {
    assert.deepEqual(parseSubject(s.subject), s);
  }
  for (const bad of ['fulcrum', 'fulcrum.d', 'other.d.power', 'fulcrum.d.power.extra', 'fulcrum.d.telemetry', 'fulcrum.d.executor', 'fulcrum.d.infer', 'fulcrum.d.infer.a.b', 'fulcrum.d.arrivals', 'fulcrum.*.power', 'fulcrum.d.infer.*']) {
    assert.throws(() => parseSubject(bad), (err: unknown) => err instanceof ValidationError && err.field === 'subject', bad);
  }
});

test('NATS wildcard matching', () => {
  assert.ok(subjectMatches('fulcrum.*.power', 'fulcrum.a.power'));
  assert.ok(!subjectMatches('fulcrum.*.power', 'fulcrum.a.b.power'));
  assert.ok(subjectMatches('fulcrum.*.executor.status', 'fulcrum.a.executor.status'));
  assert.ok(subjectMatches('fulcrum.>', 'fulcrum.a.infer.cam'));
  assert.ok(!subjectMatches('fulcrum.>', 'fulcrum'));
  assert.ok(subjectMatches('fulcrum.a.infer.*', 'fulcrum.a.infer.cam'));
  assert.ok(!subjectMatches('fulcrum.a.infer.*', 'fulcrum.a.infer'));
  assert.ok(subjectMatches('a.b', 'a.b'));
  assert.ok(!subjectMatches('a.b', 'a.b.c'));
});

test('KV keys: validation and a reversible token encoding', () => {
  assert.equal(validateKey('orin.resnet18/v1.b=4_x-y'), 'orin.resnet18/v1.b=4_x-y');
  for (const bad of ['', '.a', 'a.', 'a..b', 'a b', 'a*', 'a,b']) assert.throws(() => validateKey(bad), ValidationError, bad);
  assert.equal(validateKeyFilter('a.*.>'), 'a.*.>');
  assert.throws(() => validateKeyFilter('a.>.b'), ValidationError);
  const text = '12,2201.6,1300.5,3199 jp6=µ';
  const token = encodeKeyToken(text);
  assert.match(token, /^[-_A-Za-z0-9=]+$/);
  assert.equal(decodeKeyToken(token), text);
  assert.equal(encodeKeyToken('12,2201.6'), '12=2C2201=2E6');
  validateKey(`orin.${token}`);
});

test('one name rule: a stream name the problem validator accepts is exactly one the bus can carry as a subject token (issue 14, 4)', () => {
  const base = { device: 'orin-agx', trainWorkload: 'resnet18', powerBudgetW: 30 };
  const problemAccepts = (name: string): boolean => {
    try {
      validateProblem({ ...base, streams: [{ name, workload: 'mobilenet', arrivalRatePerS: 10, latencyBudgetS: 0.5 }] });
      return true;
    } catch (err) {
      if (!(err instanceof ValidationError) || err.field !== 'streams[0].name') throw err;
      return false;
    }
  };
  const busAccepts = (name: string): boolean => {
    try {
      inferSubject('orin-agx', name);
      return true;
    } catch {
      return false;
    }
  };
  const chars = fc.constantFrom(...'aZ09_-.* >é\t'.split(''));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: chars, maxLength: 70 }), fc.string({ maxLength: 70 }), fc.constantFrom('', '_cam', '-cam', 'x'.repeat(64), 'x'.repeat(65), 'cam')), (name) => {
      assert.equal(problemAccepts(name), busAccepts(name), JSON.stringify(name));
    }),
    { numRuns: 2000 },
  );
});
