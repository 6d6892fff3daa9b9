import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Logger } from '../../src/cli/logger.ts';

function streams(isTTY: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { isTTY, write: (text: string) => out.push(text) },
    stderr: { isTTY, write: (text: string) => err.push(text) },
  };
}

describe('Logger', () => {
  it('prints info on stdout as is, warnings and errors on stderr with a prefix', () => {
    const s = streams(false);
    const log = new Logger({ stdout: s.stdout, stderr: s.stderr, env: {} });
    log.info('listening', 'listening tcp 127.0.0.1:7 echo');
    log.warn('refused', 'refused 1.2.3.4:5');
    log.error('start-failed', 'listen tcp 127.0.0.1:7: address already in use (EADDRINUSE)');
    assert.deepEqual(s.out, ['listening tcp 127.0.0.1:7 echo\n']);
    assert.deepEqual(s.err, ['warning: refused 1.2.3.4:5\n', 'error: listen tcp 127.0.0.1:7: address already in use (EADDRINUSE)\n']);
  });

  it('prints one JSON object per line with --json', () => {
    const s = streams(true);
    const log = new Logger({ json: true, stdout: s.stdout, stderr: s.stderr, env: {} });
    log.info('listening', 'listening tcp [::1]:7 echo', { transport: 'tcp', address: '::1', port: 7, service: 'echo', unset: undefined });
    const [line] = s.out;
    assert.ok(line?.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual({ ...record, time: undefined }, { time: undefined, level: 'info', event: 'listening', msg: 'listening tcp [::1]:7 echo', transport: 'tcp', address: '::1', port: 7, service: 'echo' });
    assert.ok(!Number.isNaN(Date.parse(record.time as string)));
    assert.ok(!line.includes('\x1b'), 'never coloured');
  });

  it('prints errors only with --quiet', () => {
    const s = streams(false);
    const log = new Logger({ quiet: true, stdout: s.stdout, stderr: s.stderr, env: {} });
    log.info('listening', 'listening');
    log.warn('refused', 'refused');
    log.error('start-failed', 'failed');
    assert.deepEqual([s.out, s.err], [[], ['error: failed\n']]);
  });

  it('colours only a TTY, and never with NO_COLOR set', () => {
    const tty = streams(true);
    new Logger({ stdout: tty.stdout, stderr: tty.stderr, env: {} }).info('listening', 'listening tcp 127.0.0.1:7 echo');
    new Logger({ stdout: tty.stdout, stderr: tty.stderr, env: {} }).error('x', 'boom');
    assert.deepEqual(tty.out, ['\x1b[32mlistening\x1b[0m tcp 127.0.0.1:7 echo\n']);
    assert.deepEqual(tty.err, ['\x1b[31merror:\x1b[0m boom\n']);

    const noColor = streams(true);
    new Logger({ stdout: noColor.stdout, stderr: noColor.stderr, env: { NO_COLOR: '1' } }).error('x', 'boom');
    assert.deepEqual(noColor.err, ['error: boom\n']);

    const emptyNoColor = streams(true);
    new Logger({ stdout: emptyNoColor.stdout, stderr: emptyNoColor.stderr, env: { NO_COLOR: '' } }).error('x', 'boom');
    assert.match(emptyNoColor.err[0] ?? '', /\x1b\[31m/, 'an empty NO_COLOR does not count (no-color.org)');

    const pipe = streams(false);
    new Logger({ stdout: pipe.stdout, stderr: pipe.stderr, env: {} }).error('x', 'boom');
    assert.deepEqual(pipe.err, ['error: boom\n']);
  });
});
