import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { createLineCodec } from '../../src/codecs/index.ts';
import { CloseCause, DEFAULT_PARTIAL_FRAME_TIMEOUT, ErrorCode, framed, type CloseReason } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, within, type TestClient } from '../helpers/net.ts';
import { Closes } from './helpers.ts';

const TIMEOUT = 150;

/** Sends one byte of an endless line at a time, each after the previous has been echoed as progress. */
function slowloris(client: TestClient, stop: Promise<unknown>): void {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const drip = (): void => {
    if (stopped || client.socket.destroyed) return;
    client.socket.write('a');
    setTimeout(drip, 20).unref();
  };
  drip();
}

describe('framed', () => {
  describe('partialFrameTimeout', () => {
    it('defaults to 30 s', () => {
      assert.equal(DEFAULT_PARTIAL_FRAME_TIMEOUT, 30_000);
    });

    it('closes an event session trickling a frame byte by byte, and spares whole frames', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        frame: (session, line) => void session.send(line),
        close: (_session, reason) => closes.add(reason),
      }, { partialFrameTimeout: TIMEOUT }));
      const port = server.addresses[0]!.port;
      const honest = await connectClient(t, port);
      honest.send('hello\n');
      await honest.waitForText('hello\n');
      const attacker = await connectClient(t, port);
      const started = performance.now();
      slowloris(attacker, attacker.closed);
      const reason = await closes.nth(1, 'the slowloris session to close');
      assert.ok(performance.now() - started >= TIMEOUT - 10, 'not before the deadline');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.DEADLINE_EXCEEDED);
      assert.match(reason.error!.message, /^session \d+: a partial frame \(\d+ bytes\) did not complete within partialFrameTimeout \(150 ms\)$/);
      await within(attacker.closed, 'the attacker to be disconnected');
      // Idle between whole frames is no partial frame.
      honest.send('again\n');
      await honest.waitForText('hello\nagain\n');
    });

    it('does not count time a handler holds reading up against the peer', async (t) => {
      const closes = new Closes();
      const gate = deferred();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        async frame(session, line) {
          if (line === 'hold') await gate.promise;
          session.send(line);
        },
        close: (_session, reason) => closes.add(reason),
      }, { partialFrameTimeout: TIMEOUT }));
      const port = server.addresses[0]!.port;
      const held = await connectClient(t, port);
      held.send('hold\npart'); // a partial frame is pending while the handler holds reading
      const attacker = await connectClient(t, port);
      slowloris(attacker, attacker.closed);
      await closes.nth(1, 'the slowloris session to close');
      await within(attacker.closed, 'the attacker to be disconnected');
      assert.equal(closes.reasons.length, 1, 'the held session is still open, well past the deadline');
      gate.resolve();
      held.send('ial\n');
      await held.waitForText('hold\npartial\n');
    });

    it('closes an async session whose reader waits on a trickled frame, but not one whose reader is busy', async (t) => {
      const closes = new Closes();
      const busy = deferred();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
        session.closed.then((reason) => closes.add(reason), () => {});
        for await (const line of session.frames()) {
          if (line === 'busy') await busy.promise; // the application is slow, not the peer
          await session.send(line);
        }
      }, { partialFrameTimeout: TIMEOUT }));
      const port = server.addresses[0]!.port;
      const slowApp = await connectClient(t, port);
      slowApp.send('busy\npart');
      const attacker = await connectClient(t, port);
      slowloris(attacker, attacker.closed);
      const reason: CloseReason = await closes.nth(1, 'the slowloris session to close');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.DEADLINE_EXCEEDED);
      await within(attacker.closed, 'the attacker to be disconnected');
      assert.equal(closes.reasons.length, 1);
      busy.resolve();
      slowApp.send('ial\n');
      await slowApp.waitForText('busy\npartial\n');
    });

    it('is off at 0', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, { firstByteTimeout: 300 }, framed(() => createLineCodec(), {
        close: (_session, reason) => closes.add(reason),
      }, { partialFrameTimeout: 0 }));
      const port = server.addresses[0]!.port;
      const partial = await connectClient(t, port);
      partial.send('never ends');
      // A silent session is closed by firstByteTimeout after 300 ms; by then the partial frame
      // has been pending just as long and is still open.
      const silent = await connectClient(t, port);
      const reason = await closes.nth(1);
      assert.match(reason.error!.message, /firstByteTimeout/);
      await within(silent.closed, 'the silent client to be disconnected');
      assert.equal(server.stats().sessions, 1);
    });
  });
});
