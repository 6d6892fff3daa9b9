import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Logger, stripControls } from '../../src/cli/logger.ts';

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

  it('prints a stack field under its line with --verbose only, and as a key in JSON', () => {
    const stack = 'Error: boom\n    at data (file:///m.ts:3:9)';
    const plain = streams(false);
    new Logger({ stdout: plain.stdout, stderr: plain.stderr, env: {} }).error('session-error', 'chat: failed', { stack });
    const verbose = streams(false);
    new Logger({ verbose: true, stdout: verbose.stdout, stderr: verbose.stderr, env: {} }).error('session-error', 'chat: failed', { stack });
    const json = streams(false);
    new Logger({ json: true, verbose: true, stdout: json.stdout, stderr: json.stderr, env: {} }).error('session-error', 'chat: failed', { stack });
    assert.deepEqual(plain.err, ['error: chat: failed\n']);
    assert.deepEqual(verbose.err, ['error: chat: failed\n    Error: boom\n        at data (file:///m.ts:3:9)\n']);
    assert.equal((JSON.parse(json.err[0]!) as { stack: string }).stack, stack);
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

describe('stripControls', () => {
  const cases: [string, string, string][] = [
    ['SGR colours', '\x1b[1;31mred\x1b[0m', 'red'],
    ['cursor moves and erase', '\x1b[2J\x1b[10;20Hhere\x1b[K', 'here'],
    ['a private-mode CSI', '\x1b[?1049hscreen', 'screen'],
    ['OSC window title ended by BEL', '\x1b]0;pwned\x07after', 'after'],
    ['OSC 8 hyperlink ended by ST', '\x1b]8;;http://example.com\x1b\\link\x1b]8;;\x1b\\', 'link'],
    ['DCS string', '\x1bP1$r0m\x1b\\ok', 'ok'],
    ['an unterminated OSC swallows the rest, as a terminal would', 'a\x1b]0;title', 'a'],
    ['two-byte escapes (RIS, keypad)', '\x1bcreset\x1b=x', 'resetx'],
    ['8-bit CSI and OSC', '\x9b2Jc1\x9d0;t\x9cz', 'c1z'],
    ['carriage returns and backspaces', 'progress\r100%\b\b!', 'progress100%!'],
    ['other C0 controls, DEL and lone C1', 'a\x00b\x07c\x7fd\x85e', 'abcde'],
    ['an incomplete CSI at the end', 'cut\x1b[3', 'cut'],
    ['a lone ESC', 'x\x1b', 'x'],
  ];
  for (const [what, input, expected] of cases) {
    it(`removes ${what}`, () => assert.equal(stripControls(input), expected));
  }

  it('keeps tabs and printable text, including non-ASCII', () => {
    assert.equal(stripControls('a\tb ünïcødé — [brackets] ~'), 'a\tb ünïcødé — [brackets] ~');
  });

  it('leaves no control character whatever the input', () => {
    for (let code = 0; code < 0xa0; code++) {
      const text = stripControls(`<${String.fromCharCode(code)}[0m${String.fromCharCode(code)}]x\x1b${String.fromCharCode(code)}>`);
      assert.doesNotMatch(text, /[\x00-\x08\x0a-\x1f\x7f-\x9f]/, `code ${code}: ${JSON.stringify(text)}`);
    }
  });
});
