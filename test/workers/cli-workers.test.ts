import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startCli } from '../cli/cli-process.ts';
import { until } from '../helpers/net.ts';
import { processAlive as alive } from '../helpers/process-alive.ts';

const MODULE = fileURLToPath(new URL('./fixtures/pid-echo.ts', import.meta.url));

/** Runs the CLI to its exit, bounded generously: it starts a Node process or three. */
async function runToExit(t: import('node:test').TestContext, args: readonly string[], env?: NodeJS.ProcessEnv) {
  const cli = startCli(t, args, env);
  const exit = await cli.exit(30_000);
  return { ...exit, stderr: cli.stderr.text };
}

describe('switchboard run --workers', () => {
  it('serves from N workers, writes the pid file, and on SIGTERM drains them all and exits 0', async (t) => {
    const pidFile = join(mkdtempSync(join(tmpdir(), 'swb-workers-')), 'pid');
    const cli = startCli(t, ['run', MODULE, '--workers', '2', '--listen', '127.0.0.1:0', '--pid-file', pidFile, '--drain-timeout', '1s']);
    const [listening] = await cli.listening(1, 20_000);
    assert.equal(listening?.transport, 'tcp');
    const line = await cli.stdout.waitFor(/^2 workers \(mode (reuseport|cluster)\): pids \d+ \d+$/, 'the workers line', 20_000);
    const pids = line.replace(/.*pids /, '').split(' ').map(Number);
    await until(() => existsSync(pidFile), 'the pid file', 5_000); // written after the lines above
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(cli.child.pid));
    assert.deepEqual(await cli.stop(10_000), { code: 0, signal: null });
    await until(() => pids.every((pid) => !alive(pid)), 'the workers to be gone', 5_000);
    assert.ok(!existsSync(pidFile), 'the pid file is removed at exit');
  });

  it('refuses a bad count, a flag without its partner and two --listen with a usage error', async (t) => {
    for (const [args, message] of [
      [['--workers', '0'], /--workers "0": must be auto or an integer from 1 to 1024/],
      [['--workers', '2', '--metrics-per-worker'], /--metrics-per-worker needs --metrics ADDRESS/],
      [['--workers', '2', '--listen', '127.0.0.1:0'], /exactly one --listen/],
    ] as const) {
      const result = await runToExit(t, ['run', MODULE, '--listen', '127.0.0.1:0', ...args]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    }
  });

  it('exits 1 when the workers cannot start (the module throws)', async (t) => {
    const result = await runToExit(t, ['run', MODULE, '--workers', '1', '--listen', '127.0.0.1:0'], { CRASH_ON_START: '1' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /fails at start/);
  });
});

describe('switchboard upgrade', () => {
  it('exits 1 when the pid file names no process', async (t) => {
    const result = await runToExit(t, ['upgrade', '--pid-file', join(tmpdir(), 'swb-no-such.pid')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /switchboard upgrade: pid file .*no such file/);
  });
});
