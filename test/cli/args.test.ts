import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVER_OPTIONS, formatDuration, parseCommandLine, parseCount, parseDuration } from '../../src/cli/args.ts';
import { UsageError } from '../../src/cli/exit-code.ts';
import { splitAtProgram } from '../../src/cli/commands/exec.ts';

describe('parseCommandLine', () => {
  it('names an unknown flag', () => {
    assert.throws(() => parseCommandLine('serve', ['--bogus'], SERVER_OPTIONS, true), (error: Error) => error instanceof UsageError && error.message === 'unknown flag --bogus' && error.command === 'serve');
  });

  it('names a flag missing its value, by its long name', () => {
    assert.throws(() => parseCommandLine('serve', ['-l'], SERVER_OPTIONS, true), /^UsageError: flag --listen needs a value$/);
  });

  it('names a boolean flag given a value', () => {
    assert.throws(() => parseCommandLine('serve', ['--json=yes'], SERVER_OPTIONS, true), /flag --json takes no value/);
  });

  it('hands a negative number to the flag before it, so its check names the constraint', () => {
    assert.deepEqual({ ...parseCommandLine('serve', ['--max-clients', '-1', '-l', '-2'], SERVER_OPTIONS, true).values }, { 'max-clients': '-1', listen: ['-2'] });
    assert.throws(() => parseCommandLine('serve', ['--max-clients', '-q'], SERVER_OPTIONS, true), /^UsageError: flag --max-clients needs a value$/);
    assert.deepEqual(parseCommandLine('serve', ['--', '--max-clients', '-1'], SERVER_OPTIONS, true).positionals, ['--max-clients', '-1']);
  });

  it('refuses positionals where there are none', () => {
    assert.throws(() => parseCommandLine('exec', ['stray'], SERVER_OPTIONS, false), /unexpected argument stray/);
  });
});

describe('parseDuration', () => {
  it('reads seconds by default, and ms, s, m, h', () => {
    assert.equal(parseDuration('10', '--x', 1), 10_000);
    assert.equal(parseDuration('1.5s', '--x', 1), 1500);
    assert.equal(parseDuration('250ms', '--x', 1), 250);
    assert.equal(parseDuration('2m', '--x', 1), 120_000);
    assert.equal(parseDuration('1h', '--x', 1), 3_600_000);
    assert.equal(parseDuration('0', '--x', 1), 0);
    assert.equal(parseDuration(undefined, '--x', 42), 42);
  });

  it('refuses anything else, naming the flag', () => {
    for (const text of ['soon', '-1', '10 minutes', '1d', '']) {
      assert.throws(() => parseDuration(text, '--drain-timeout', 1), new RegExp(`^UsageError: --drain-timeout ${JSON.stringify(JSON.stringify(text)).slice(1, -1)}: expected a duration`));
    }
    assert.throws(() => parseDuration('999h', '--idle-timeout', 1), /--idle-timeout "999h": at most 24 days/);
  });

  it('formats durations back', () => {
    assert.deepEqual([10_000, 500, 120_000, 0, 1500].map(formatDuration), ['10s', '500ms', '2m', '0', '1500ms']);
  });
});

describe('parseCount', () => {
  it('reads whole numbers and refuses the rest, naming the flag', () => {
    assert.equal(parseCount('40', '--max-clients', 1), 40);
    assert.equal(parseCount(undefined, '--max-clients', 7), 7);
    assert.throws(() => parseCount('-1', '--max-clients', 1), /^UsageError: --max-clients "-1": must be a non-negative integer \(0 for no limit\)$/);
    assert.throws(() => parseCount('2.5', '--max-per-ip', 1), /--max-per-ip "2.5"/);
  });
});

describe('splitAtProgram', () => {
  it('splits at --, leaving the program its own flags', () => {
    assert.deepEqual(splitAtProgram(['--listen', ':7', '--', 'cat', '-n']), [['--listen', ':7'], ['cat', '-n']]);
  });

  it('splits at the first argument that is neither a flag nor a flag value', () => {
    assert.deepEqual(splitAtProgram(['-l', ':7', '--json', 'cat', '-n', '--', 'x']), [['-l', ':7', '--json'], ['cat', '-n', '--', 'x']]);
    assert.deepEqual(splitAtProgram(['--listen=:7', 'cat']), [['--listen=:7'], ['cat']]);
  });
});
