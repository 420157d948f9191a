import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createLogger, resolveLogLevel, serviceLogger } from './internal.js';

/** A destination that records every write synchronously. */
function capture(extra: { isTTY?: boolean } = {}): { lines: string[]; write(line: string): void; isTTY?: boolean } {
  const lines: string[] = [];
  return { ...extra, lines, write: (line: string) => void lines.push(line) };
}

function records(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('createLogger', () => {
  it('writes JSON lines with level, name and message, synchronously', () => {
    const dest = capture();
    const log = createLogger({ name: 'fulcrum-test', destination: dest, env: {} });
    log.info({ modes: 12 }, 'profiled');
    assert.equal(dest.lines.length, 1); // written before info() returned
    assert.ok(dest.lines[0]!.endsWith('\n'));
    const [rec] = records(dest.lines);
    assert.equal(rec!['level'], 30);
    assert.equal(rec!['name'], 'fulcrum-test');
    assert.equal(rec!['msg'], 'profiled');
    assert.equal(rec!['modes'], 12);
    assert.match(String(rec!['time']), /^\d{4}-\d\d-\d\dT/);
  });

  it('defaults to info: debug is dropped, warn is kept', () => {
    const dest = capture();
    const log = createLogger({ name: 't', destination: dest, env: {} });
    log.debug('hidden');
    log.warn('shown');
    assert.deepEqual(
      records(dest.lines).map((r) => [r['level'], r['msg']]),
      [[40, 'shown']],
    );
    assert.equal(log.level, 'info');
  });

  it('service loggers are children carrying { service }', () => {
    const dest = capture();
    const root = createLogger({ name: 'fulcrum', destination: dest, env: {} });
    const svc = serviceLogger(root, 'profiler');
    svc.info('up');
    svc.child({ mode: 'maxn' }).error('boom');
    root.info('root');
    const [a, b, c] = records(dest.lines);
    assert.equal(a!['service'], 'profiler');
    assert.equal(a!['name'], 'fulcrum');
    assert.equal(b!['service'], 'profiler');
    assert.equal(b!['mode'], 'maxn');
    assert.equal(b!['level'], 50);
    assert.equal('service' in c!, false);
  });

  it('takes the level from FULCRUM_LOG_LEVEL, then LOG_LEVEL; the option wins', () => {
    const dest = capture();
    createLogger({ name: 't', destination: dest, env: { FULCRUM_LOG_LEVEL: 'debug', LOG_LEVEL: 'error' } }).debug('d1');
    createLogger({ name: 't', destination: dest, env: { LOG_LEVEL: 'error' } }).warn('w-dropped');
    createLogger({ name: 't', destination: dest, env: { LOG_LEVEL: 'TRACE' } }).trace('t1');
    createLogger({ name: 't', level: 'warn', destination: dest, env: { FULCRUM_LOG_LEVEL: 'debug' } }).info('i-dropped');
    assert.deepEqual(
      records(dest.lines).map((r) => r['msg']),
      ['d1', 't1'],
    );
  });

  describe('with process.env', () => {
    const saved = process.env['FULCRUM_LOG_LEVEL'];
    afterEach(() => {
      if (saved === undefined) delete process.env['FULCRUM_LOG_LEVEL'];
      else process.env['FULCRUM_LOG_LEVEL'] = saved;
    });
    it('reads the level from process.env by default', () => {
      process.env['FULCRUM_LOG_LEVEL'] = 'error';
      const log = createLogger({ name: 't', destination: capture() });
      assert.equal(log.level, 'error');
    });
  });

  it('rejects an unknown level, naming where it came from', () => {
    assert.throws(
      () => createLogger({ name: 't', destination: capture(), env: { FULCRUM_LOG_LEVEL: 'verbose' } }),
      /invalid level "verbose" from env FULCRUM_LOG_LEVEL/,
    );
    assert.throws(() => resolveLogLevel('loud', {}), /from option level/);
  });

  it('pretty-prints to a TTY unless pretty is false', () => {
    const tty = capture({ isTTY: true });
    serviceLogger(createLogger({ name: 'fulcrum', destination: tty, env: { NO_COLOR: '1' } }), 'optimizer').info('planned');
    assert.equal(tty.lines.length, 1);
    assert.throws(() => JSON.parse(tty.lines[0]!));
    assert.match(tty.lines[0]!, /INFO \(fulcrum\): \[optimizer\] planned/);

    const forcedJson = capture({ isTTY: true });
    createLogger({ name: 'fulcrum', destination: forcedJson, pretty: false, env: {} }).info('planned');
    assert.equal(records(forcedJson.lines)[0]!['msg'], 'planned');
  });

  it('pretty: true forces pretty output on a non-TTY, without colour', () => {
    const dest = capture();
    createLogger({ name: 'fulcrum', destination: dest, pretty: true, env: {} }).warn('hot');
    assert.match(dest.lines[0]!, /WARN \(fulcrum\): hot/);
    assert.doesNotMatch(dest.lines[0]!, /\u001b\[/);
  });
});

describe('resolveLogLevel', () => {
  it('falls back to info', () => {
    assert.equal(resolveLogLevel(undefined, {}), 'info');
    assert.equal(resolveLogLevel(undefined, { LOG_LEVEL: ' ' }), 'info');
    assert.equal(resolveLogLevel('Silent', {}), 'silent');
  });
});
