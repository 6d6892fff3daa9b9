/**
 * `switchboard run --workers` and sd_notify: READY=1 once the workers serve, RELOADING=1 when an
 * upgrade starts, MAINPID= with READY=1 from the new version (so that the manager follows it),
 * no STOPPING=1 from the old one as it hands over, STOPPING=1 on a stop. The receiver is a real
 * AF_UNIX datagram socket, the sender Debian's systemd-notify.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HAS_SYSTEMD_NOTIFY, startReceiver } from '../activation/activate.ts';
import { hasProgram, startCli } from '../cli/cli-process.ts';
import { until } from '../helpers/net.ts';
import { processAlive as alive } from '../helpers/process-alive.ts';

const PID_ECHO = fileURLToPath(new URL('./fixtures/pid-echo.ts', import.meta.url));
const SKIP = (!hasProgram('python3') && 'python3 is not installed') || (!HAS_SYSTEMD_NOTIFY && 'systemd-notify is not installed (Debian package systemd)');

describe('switchboard run --workers and sd_notify', { skip: SKIP }, () => {
  it('READY=1 when serving; an upgrade sends RELOADING=1, then MAINPID=<new pid> and READY=1 from the new version; STOPPING=1 only on the stop', async (t) => {
    const receiver = await startReceiver(t);
    const pidFile = join(mkdtempSync(join(tmpdir(), 'swb-workers-notify-')), 'pid');
    const cli = startCli(t, ['run', PID_ECHO, '--workers', '2', '--listen', '127.0.0.1:0', '--pid-file', pidFile, '--drain-timeout', '1s'], { NOTIFY_SOCKET: receiver.path });
    await cli.listening(1, 20_000);
    const [ready] = await receiver.waitFor(/READY=1/, 1, 20_000);
    assert.equal(ready!.message, 'READY=1\nSTATUS=serving 1 address(es) from 2 workers');
    await until(() => existsSync(pidFile), 'the pid file', 5_000);
    cli.signal('SIGUSR2');
    const [reloading] = await receiver.waitFor(/RELOADING=1/, 1, 10_000);
    assert.match(reloading!.message, /^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=upgrading: starting the new version$/);
    const [handedOver] = await receiver.waitFor(/MAINPID=\d+\\nREADY=1/, 1, 30_000);
    const mainPid = Number(/^MAINPID=(\d+)\n/.exec(handedOver!.message)?.[1]);
    assert.notEqual(mainPid, cli.child.pid);
    assert.equal(handedOver!.message, `MAINPID=${mainPid}\nREADY=1\nSTATUS=serving 1 address(es) from 2 workers`);
    try {
      // The successor holds the old version's output pipes, so its exit (not 'close') is what to wait for.
      await until(() => cli.child.exitCode !== null, 'the old version to drain and exit', 15_000);
      assert.equal(cli.child.exitCode, 0);
      assert.equal(readFileSync(pidFile, 'utf8').trim(), String(mainPid));
      assert.ok(!receiver.messages().some((message) => /STOPPING=1/.test(message)), 'the old version sent no STOPPING=1 as it handed over');
      process.kill(mainPid, 'SIGTERM');
      const [stopping] = await receiver.waitFor(/STOPPING=1/, 1, 10_000);
      assert.match(stopping!.message, /^STOPPING=1\nSTATUS=stopping: the workers have \d+ ms to drain$/);
      await until(() => !alive(mainPid), 'the new version to exit', 10_000);
    } finally {
      if (alive(mainPid)) process.kill(mainPid, 'SIGKILL');
    }
  });
});
