/**
 * ServiceNotifier against a Python AF_UNIX/SOCK_DGRAM receiver that stands in for the service
 * manager (fixtures/notify-receiver.py), through Debian's real `systemd-notify`; and against a
 * stand-in helper held by the test (fixtures/gated-notify.py), to see each helper in flight.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ServiceNotifier, type ServiceNotifierOptions } from '../../src/activation/notify.ts';
import type { SwitchboardError } from '../../src/core/errors.ts';
import { LineCollector, hasProgram } from '../cli/cli-process.ts';
import { within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { FIXTURES, HAS_SYSTEMD_NOTIFY, startReceiver, tempDir } from './activate.ts';

const HAS_PYTHON = hasProgram('python3');

/** One stand-in helper in flight: what it was run with; `release` lets it exit with `code`. */
interface HeldHelper {
  readonly args: string[];
  readonly notifySocket: string | undefined;
  release(code?: number): void;
}

/** The test's end of fixtures/gated-notify.py: each helper in flight is one connection. */
async function startGate(t: TestContext, policy: (helper: HeldHelper, index: number) => number | undefined = () => undefined) {
  const path = join(tempDir(t), 'gate.sock');
  const helpers: HeldHelper[] = [];
  const waiters: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const connections = new Set<Socket>();
  const server = createServer((connection) => {
    connections.add(connection);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    connection.once('close', () => {
      inFlight--;
      connections.delete(connection);
    });
    let text = '';
    connection.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      if (!text.endsWith('\n')) return;
      const { args, notifySocket } = JSON.parse(text) as { args: string[]; notifySocket: string | null };
      const helper: HeldHelper = { args, notifySocket: notifySocket ?? undefined, release: (code = 0) => connection.end(`${code}\n`) };
      helpers.push(helper);
      const code = policy(helper, helpers.length - 1);
      if (code !== undefined) helper.release(code);
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(async () => {
    for (const connection of connections) connection.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    helpers,
    get maxInFlight() {
      return maxInFlight;
    },
    /** Resolves with the `count`th helper once it is running. */
    async nth(count: number): Promise<HeldHelper> {
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => (helpers.length >= count ? resolve() : void waiters.push(check));
          check();
        }),
        `helper ${count} to run`,
      );
      return helpers[count - 1]!;
    },
    options(env: ServiceNotifierOptions['env'] = { NOTIFY_SOCKET: join(path, '..', 'unused.sock') }): ServiceNotifierOptions {
      process.env.GATE_SOCKET = path; // the helper reads it; the notifier passes process.env on
      return { env, command: `${FIXTURES}gated-notify.py` };
    },
  };
}

/** A notifier closed after the test, its warnings collected. */
function notifierFor(t: TestContext, options: ServiceNotifierOptions): { notifier: ServiceNotifier; warnings: SwitchboardError[] } {
  const notifier = new ServiceNotifier(options);
  const warnings: SwitchboardError[] = [];
  notifier.on('warning', (warning) => warnings.push(warning));
  t.after(() => within(notifier.close(), 'the notifier to close'));
  return { notifier, warnings };
}

/** Blocks the event loop (a busy loop, bounded in time) for `ms`; returns its span in ns of CLOCK_MONOTONIC. */
function blockLoop(ms: number): { from: number; to: number } {
  const from = Number(process.hrtime.bigint());
  while (Number(process.hrtime.bigint()) - from < ms * 1e6) {
    // busy: no timer can fire, no child can be spawned
  }
  return { from, to: Number(process.hrtime.bigint()) };
}

describe('ServiceNotifier', { skip: !HAS_PYTHON && 'python3 is not installed' }, () => {
  describe('through systemd-notify', { skip: !HAS_SYSTEMD_NOTIFY && 'systemd-notify is not installed (Debian package systemd)' }, () => {
    it('sends READY=1 with its status, then STOPPING=1', async (t) => {
      const receiver = await startReceiver(t);
      const { notifier, warnings } = notifierFor(t, { env: { NOTIFY_SOCKET: receiver.path } });
      assert.equal(notifier.enabled, true);
      notifier.ready('serving echo');
      const [ready] = await receiver.waitFor(/READY=1/);
      assert.equal(ready!.message, 'READY=1\nSTATUS=serving echo');
      // Run as root, systemd-notify sends with its parent's pid (ours); others send with their own.
      if (process.getuid?.() === 0) assert.equal(ready!.pid, process.pid);
      notifier.stopping();
      const [stopping] = await receiver.waitFor(/STOPPING=1/);
      assert.equal(stopping!.message, 'STOPPING=1');
      await notifier.close();
      assert.deepEqual(warnings, []);
    });

    it('names a main pid with mainPid (MAINPID=)', async (t) => {
      const receiver = await startReceiver(t);
      const { notifier } = notifierFor(t, { env: { NOTIFY_SOCKET: receiver.path }, mainPid: process.pid });
      notifier.ready();
      const [ready] = await receiver.waitFor(/READY=1/);
      assert.equal(ready!.message, `MAINPID=${process.pid}\nREADY=1`);
    });

    it('is heard from the helper’s pid when not run as root (hence NotifyAccess=all)', { skip: process.getuid?.() !== 0 && 'needs root to run the notifier as another user' }, async (t) => {
      const receiver = await startReceiver(t, true);
      const child = spawn(process.execPath, [`${FIXTURES}notify-as-user.ts`, receiver.path, '65534'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = new LineCollector();
      child.stdout.setEncoding('utf8').on('data', (text: string) => lines.push(text));
      child.stdout.on('end', () => lines.end());
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      const [ready] = await receiver.waitFor(/READY=1/);
      assert.equal(await within(exited, 'the fixture to exit'), 0);
      const { pid, uid } = JSON.parse(await lines.waitFor(/^\{/, 'the fixture to report')) as { pid: number; uid: number };
      assert.equal(uid, 65534);
      assert.notEqual(ready!.pid, pid, 'the credentials name systemd-notify, not the service process');
    });

    it('keeps a newline in a status from adding an assignment', async (t) => {
      const receiver = await startReceiver(t);
      const { notifier } = notifierFor(t, { env: { NOTIFY_SOCKET: receiver.path } });
      notifier.status('2 sessions\nREADY=1');
      const [status] = await receiver.waitFor(/STATUS=/);
      assert.equal(status!.message, 'STATUS=2 sessions READY=1');
    });

    it('pings WATCHDOG=1 every WATCHDOG_USEC/2 while the loop runs, and not while it is blocked', async (t) => {
      // Timing is the subject here: the interval is 400 ms and the loop is blocked for 2.5 of them.
      const watchdogUsec = 800_000;
      const interval = watchdogUsec / 2000;
      const receiver = await startReceiver(t);
      const { notifier } = notifierFor(t, { env: { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: String(watchdogUsec), WATCHDOG_PID: String(process.pid) } });
      assert.equal(notifier.watchdogInterval, interval);
      const running = await receiver.waitFor(/"message": "WATCHDOG=1"/, 3, 10_000);
      for (let index = 1; index < running.length; index++) {
        const gap = (running[index]!.t - running[index - 1]!.t) / 1e6;
        assert.ok(gap < watchdogUsec / 1000, `a gap of ${gap} ms while the loop ran would trip the watchdog`);
      }

      const blocked = blockLoop(interval * 2.5);
      const after = await receiver.waitFor(/"message": "WATCHDOG=1"/, running.length + 3, 10_000);
      const during = after.filter((entry) => entry.t > blocked.from && entry.t < blocked.to);
      assert.ok(during.length <= 1, `at most the ping already in flight arrives while the loop is blocked, got ${during.length}`);
      const gaps = after.slice(1).map((entry, index) => (entry.t - after[index]!.t) / 1e6);
      const longest = Math.max(...gaps);
      assert.ok(longest >= watchdogUsec / 1000, `the blocked loop left a gap of ${longest} ms, at least WATCHDOG_USEC (gaps: ${gaps.join(', ')})`);
      const resumed = after.filter((entry) => entry.t > blocked.to);
      assert.ok(resumed.length >= 2, 'the pings resume once the loop runs again');
    });
  });

  describe('helpers in flight', () => {
    it('runs one helper at a time, always with --no-block, and merges what is said meanwhile', async (t) => {
      const gate = await startGate(t);
      const { notifier } = notifierFor(t, gate.options());
      notifier.ready();
      notifier.status('a');
      notifier.watchdog();
      notifier.status('b');
      notifier.watchdog();
      const first = await gate.nth(1);
      assert.deepEqual(first.args, ['--no-block', 'READY=1']);
      first.release();
      const second = await gate.nth(2);
      assert.deepEqual(second.args, ['--no-block', 'STATUS=b', 'WATCHDOG=1']);
      second.release();
      await within(notifier.flush(), 'the notifier to be idle');
      assert.equal(gate.helpers.length, 2);
      assert.equal(gate.maxInFlight, 1);
    });

    it('keeps state changes apart and in order', async (t) => {
      const gate = await startGate(t, (_, index) => (index === 0 ? undefined : 0));
      const { notifier } = notifierFor(t, { ...gate.options() });
      notifier.ready();
      notifier.reloading();
      notifier.ready('reloaded');
      notifier.stopping('closing');
      (await gate.nth(1)).release();
      await within(notifier.flush(), 'the notifier to be idle');
      const said = gate.helpers.map((helper) => helper.args.slice(1).map((arg) => arg.replace(/^MONOTONIC_USEC=\d+$/, 'MONOTONIC_USEC=…')));
      assert.deepEqual(said, [['READY=1'], ['RELOADING=1', 'MONOTONIC_USEC=…'], ['READY=1', 'STATUS=reloaded'], ['STOPPING=1', 'STATUS=closing']]);
      assert.equal(gate.maxInFlight, 1);
    });

    it('passes NOTIFY_SOCKET to the helper only, having taken it out of process.env', async (t) => {
      const gate = await startGate(t, () => 0);
      process.env.NOTIFY_SOCKET = '/run/test-notify.sock';
      process.env.WATCHDOG_USEC = '60000000';
      const { notifier } = notifierFor(t, { ...gate.options(), env: undefined });
      assert.equal(process.env.NOTIFY_SOCKET, undefined, 'children of ours cannot report for the service');
      assert.equal(process.env.WATCHDOG_USEC, undefined);
      assert.equal(notifier.watchdogInterval, 30_000);
      const again = new ServiceNotifier({ command: gate.options().command });
      assert.equal(again.enabled, true, 'a second notifier reads the same first snapshot');
      await again.close();
      notifier.ready();
      assert.equal((await gate.nth(1)).notifySocket, '/run/test-notify.sock');
    });

    it('warns once about a failing helper until one succeeds again', async (t) => {
      const codes = [1, 1, 0, 1];
      const gate = await startGate(t, (_, index) => codes[index]);
      const { notifier, warnings } = notifierFor(t, { ...gate.options() });
      for (const text of ['one', 'two', 'three', 'four']) {
        notifier.status(text);
        await within(notifier.flush(), 'the notifier to be idle');
      }
      assert.deepEqual(
        warnings.map((warning) => `${warning.code} ${warning.message}`),
        [`SWB_ERR_NOTIFY_FAILED sd_notify: ${FIXTURES}gated-notify.py exited with status 1`, `SWB_ERR_NOTIFY_FAILED sd_notify: ${FIXTURES}gated-notify.py exited with status 1`],
      );
      assert.equal(gate.helpers.length, 4, 'a failure does not stop the notifier');
    });

    it('kills a helper that outlives helperTimeout, warns, and goes on', async (t) => {
      const gate = await startGate(t, (_, index) => (index === 0 ? undefined : 0));
      const { notifier, warnings } = notifierFor(t, { ...gate.options(), helperTimeout: 1000 });
      notifier.ready();
      notifier.status('next');
      await within(notifier.flush(), 'the notifier to be idle');
      assert.deepEqual(
        warnings.map((warning) => warning.message),
        [`sd_notify: ${FIXTURES}gated-notify.py did not exit within 1000 ms; killed it`],
      );
      assert.deepEqual(gate.helpers.map((helper) => helper.args.at(-1)), ['READY=1', 'STATUS=next']);
    });

    it('gives one warning for a missing helper, then stays silent and costs nothing', async (t) => {
      const { notifier, warnings } = notifierFor(t, { env: { NOTIFY_SOCKET: '/run/nowhere.sock', WATCHDOG_USEC: '2000' }, command: '/nonexistent/systemd-notify' });
      notifier.ready();
      notifier.status('x');
      await within(notifier.flush(), 'the notifier to be idle');
      notifier.watchdog();
      notifier.stopping();
      await within(notifier.flush(), 'the notifier to be idle');
      assert.equal(notifier.enabled, false);
      assert.deepEqual(
        warnings.map((warning) => `${warning.code} ${warning.message}`),
        ['SWB_ERR_NOTIFY_FAILED sd_notify: /nonexistent/systemd-notify was not found (ENOENT): readiness and watchdog notifications are off'],
      );
    });
  });

  describe('without NOTIFY_SOCKET', () => {
    for (const [title, env, spawns] of [
      ['costs nothing: no timer fires a ping, nothing is spawned', { WATCHDOG_USEC: '2000' }, false],
      ['(the control: with NOTIFY_SOCKET the same timer spawns a ping)', { NOTIFY_SOCKET: '/run/nowhere.sock', WATCHDOG_USEC: '2000' }, true],
    ] as const) {
      it(title, async (t) => {
        const gate = await startGate(t, () => 0);
        t.mock.timers.enable({ apis: ['setInterval'] });
        const { notifier } = notifierFor(t, gate.options(env));
        t.mock.timers.tick(60_000);
        notifier.ready();
        notifier.status('x');
        // A spawn is synchronous in notify(): had there been one, the notifier would be busy now.
        const idle = await Promise.race([notifier.flush().then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
        assert.equal(idle, !spawns);
        assert.equal(notifier.enabled, spawns);
        assert.equal(notifier.watchdogInterval === undefined, !spawns);
        if (spawns) {
          assert.deepEqual((await gate.nth(1)).args.slice(1), ['WATCHDOG=1'], 'the first tick spawned a ping');
          assert.deepEqual((await gate.nth(2)).args.slice(1), ['WATCHDOG=1', 'READY=1', 'STATUS=x'], 'the other 59,999 were merged');
        }
        await within(notifier.close(), 'the notifier to close');
      });
    }
  });
});
