/**
 * Durations are measured on the monotonic clock: a step of the wall clock (NTP, an operator, a
 * VM resuming) neither expires a session early nor keeps it past its deadline. The steps are
 * simulated by mocking Date.now, which is what a stepped system clock changes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CloseCause, ErrorCode, type CloseReason, type EventSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, until, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

const HOUR = 3_600_000;

/** From now on, Date.now() reads `offset` ms away from the real time. */
function stepWallClock(t: TestContext, offset: number): void {
  const realNow = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => realNow() + offset);
}

describe('session deadlines', () => {
  it('keep a session under maxLifetime open when the wall clock jumps forward', async (t) => {
    const closes = new Map<number, CloseReason>();
    const quietClosed = deferred<CloseReason>();
    const opened: EventSession[] = [];
    const server = await listenLocal(t, { maxLifetime: 60_000, firstByteTimeout: 150 }, {
      open: (session) => void opened.push(session),
      data: (session, chunk) => void session.write(chunk),
      close(session, reason) {
        closes.set(session.id, reason);
        if (session.bytesRead === 0) quietClosed.resolve(reason);
      },
    });
    const talker = await connectClient(t, server.addresses[0]!.port);
    talker.send('ping');
    await talker.waitForText('ping');
    await connectClient(t, server.addresses[0]!.port); // says nothing: firstByteTimeout closes it
    await until(() => opened.length === 2, 'both sessions');
    stepWallClock(t, HOUR);
    // The quiet session's own deadline passing proves the sweep ran many times after the step.
    const quiet = await within(quietClosed.promise, 'the quiet session to reach firstByteTimeout');
    assert.equal(quiet.error?.code, ErrorCode.DEADLINE_EXCEEDED);
    assert.match(quiet.error!.message, /firstByteTimeout/);
    assert.equal(closes.get(opened[0]!.id), undefined, 'the busy session was not expired by the clock step');
    assert.equal(opened[0]!.state, 'open');
    talker.send('still here');
    await talker.waitForText('still here');
  });

  it('still close a silent session at firstByteTimeout when the wall clock jumps back', async (t) => {
    const closed = deferred<CloseReason>();
    const opened = deferred<EventSession>();
    const server = await listenLocal(t, { firstByteTimeout: 100 }, {
      open: (session) => opened.resolve(session),
      close: (_session, reason) => closed.resolve(reason),
    });
    const client = await connectClient(t, server.addresses[0]!.port);
    await within(opened.promise, 'the session');
    stepWallClock(t, -HOUR);
    const reason = await within(closed.promise, 'firstByteTimeout despite the step back');
    assert.equal(reason.cause, CloseCause.LIMIT);
    assert.equal(reason.error?.code, ErrorCode.DEADLINE_EXCEEDED);
    await within(client.closed, 'the peer to see the close');
  });

  it('keep the wall-clock openedAt for display', async (t) => {
    const opened = deferred<EventSession>();
    const server = await listenLocal(t, {}, { open: (session) => opened.resolve(session) });
    const before = Date.now();
    await connectClient(t, server.addresses[0]!.port);
    const session = await within(opened.promise, 'the session');
    assert.ok(session.openedAt >= before - 1000 && session.openedAt <= Date.now(), 'openedAt is ms since the epoch');
  });
});

describe('TcpServer', () => {
  describe('#close', () => {
    it('applies a shorter deadline given after the wall clock jumped forward', async (t) => {
      const server = await listenLocal(t, {}, { data: (session, chunk) => void session.write(chunk) });
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.send('x');
      await client.waitForBytes(1);
      const closing = server.close({ timeout: 60_000 }); // the peer never closes its side
      stepWallClock(t, HOUR);
      void server.close({ timeout: 50 });
      await within(closing, 'the close at the shorter deadline', 3000);
      assert.equal(server.stats().sessions, 0);
    });
  });
});

describe('src/', () => {
  it('measures no duration with Date.now (only wall-clock timestamps for display use it)', () => {
    const root = new URL('../../src', import.meta.url).pathname;
    // Timestamps shown to people (a session's openedAt, the time services, log lines) and
    // calendar dates (a certificate's validity is wall-clock by definition).
    const display = new Map([
      ['tcp/tcp-session.ts', /this\.openedAt = Date\.now\(\);/],
      ['tls/certificates.ts', /now = Date\.now\(\)/],
      ['tls/secure-contexts.ts', /now = Date\.now\(\)/],
      ['cli/services/time.ts', /./],
      ['cli/services/daytime.ts', /./],
      ['cli/logger.ts', /./],
    ]);
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts')) {
          const file = relative(root, path);
          readFileSync(path, 'utf8').split('\n').forEach((line, index) => {
            if (!/Date\.now\b/.test(line)) return;
            const allowed = display.get(file);
            if (allowed === undefined || !allowed.test(line)) offenders.push(`${file}:${index + 1}: ${line.trim()}`);
          });
        }
      }
    };
    walk(root);
    assert.deepEqual(offenders, []);
  });
});
