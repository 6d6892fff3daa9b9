/** Process groups by number: signalling, and whether any process of one still runs (zombies do not). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { parseProcStat, runningProcessGroups, signalProcessGroup } from '../../src/cli/exec/process-group.ts';
import { until, within } from '../helpers/net.ts';

describe('parseProcStat', () => {
  it('reads the state and process group after the command name', () => {
    assert.deepEqual(parseProcStat('4242 (sleep) S 1 4240 4240 0 -1 4194560 104'), { state: 'S', ppid: 1, pgrp: 4240 });
  });

  it('copes with spaces and parentheses in the command name', () => {
    assert.deepEqual(parseProcStat('77 (a) b (c) Z 1 70 70 0'), { state: 'Z', ppid: 1, pgrp: 70 });
  });

  it('rejects what is not a stat line', () => {
    assert.equal(parseProcStat(''), undefined);
    assert.equal(parseProcStat('77 no parentheses S 1 70'), undefined);
    assert.equal(parseProcStat('77 (x) S 1'), undefined);
  });
});

describe('runningProcessGroups', () => {
  it('counts a group whose one process is a zombie as not running, and a live one as running', async (t) => {
    if (!existsSync('/proc/self/stat')) return t.skip('SKIPPED LOUDLY: no /proc on this host');
    // The shell leads group G (detached). Its background job moves into a group of its own (X,
    // by setsid) and waits for a line on fd 4; the shell then becomes `sleep 60`, which never
    // reaps it. Only once the shell has become `sleep` is the job told to exit: had it exited
    // before, the shell itself might have reaped it. Then X's only process is a zombie. The
    // job's stdout is fd 3, which only it holds once the shell has closed its copy, so fd 3
    // closing says the job has exited.
    const child = spawn('sh', ['-c', 'setsid sh -c "read line <&4; exec true" >&3 3>&- & echo $!; exec sleep 60 3>&- 4<&-'], { detached: true, stdio: ['ignore', 'pipe', 'ignore', 'pipe', 'pipe'] });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const jobOutput = child.stdio[3] as Readable;
    const jobExited = new Promise<void>((resolve) => jobOutput.once('close', () => resolve()).resume());
    const zombie = Number(await within(new Promise<string>((resolve) => child.stdout!.setEncoding('utf8').once('data', resolve)), 'the job pid'));
    await until(() => readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === 'sleep', 'the shell to become sleep', 10_000);
    (child.stdio[4] as Writable).end('go\n');
    await within(jobExited, 'the background job to exit');
    const group = child.pid!;

    assert.equal(signalProcessGroup(zombie, 0), true, 'the kernel still counts the zombie as a member');
    assert.deepEqual(await runningProcessGroups([group, zombie]), new Set([group]));

    const exited = new Promise((resolve) => child.once('exit', resolve));
    assert.equal(signalProcessGroup(group, 'SIGKILL'), true);
    await within(exited, 'the group leader to die');
    assert.equal(signalProcessGroup(group, 'SIGTERM'), false, 'ESRCH: no process left in the group');
    assert.deepEqual(await runningProcessGroups([group, zombie]), new Set());
  });
});
