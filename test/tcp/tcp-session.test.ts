import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { CloseCause, ErrorCode, type CloseReason, type TcpEventHandler, type EventSession, type TcpServer } from '../../src/index.ts';
import { assertNoLeakedHandles, connectClient, deferred, listenLocal, openNetworkHandles, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** An event handler that records every close, for exactly-once assertions. */
function recordingHandler(extra: TcpEventHandler = {}): { handler: TcpEventHandler; closes: CloseReason[]; closedOnce: Promise<CloseReason> } {
  const closes: CloseReason[] = [];
  const first = deferred<CloseReason>();
  const handler: TcpEventHandler = {
    data: (session, chunk) => void session.write(chunk),
    ...extra,
    close(session, reason) {
      closes.push(reason);
      first.resolve(reason);
      extra.close?.(session, reason);
    },
  };
  return { handler, closes, closedOnce: first.promise };
}

async function ledgerBalances(server: TcpServer): Promise<void> {
  await within(server.close({ timeout: 1000 }), 'server close');
  const stats = server.stats();
  assert.equal(stats.sessions, 0);
  assert.equal(stats.listeners, 0);
  assert.equal(stats.accepted, stats.closed);
}

describe('EventSession', () => {
  describe('exactly-once close', () => {
    it('closes once with peer-end when the peer half-closes', async (t) => {
      const before = openNetworkHandles();
      const { handler, closes, closedOnce } = recordingHandler();
      const server = await listenLocal(t, {}, handler);
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('ping');
      await client.waitForBytes(4);
      client.socket.end();
      const reason = await within(closedOnce, 'close');
      assert.equal(reason.cause, CloseCause.PEER_END);
      assert.equal(reason.error, undefined);
      await within(client.closed, 'client close');
      await ledgerBalances(server);
      assert.equal(closes.length, 1);
      await assertNoLeakedHandles(before);
    });

    it('closes once with peer-reset when the peer resets', async (t) => {
      const { handler, closes, closedOnce } = recordingHandler();
      const server = await listenLocal(t, {}, handler);
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('ping');
      await client.waitForBytes(4);
      client.socket.resetAndDestroy();
      const reason = await within(closedOnce, 'close');
      assert.equal(reason.cause, CloseCause.PEER_RESET);
      assert.equal(reason.error?.code, ErrorCode.CONNECTION_RESET);
      await ledgerBalances(server);
      assert.equal(closes.length, 1);
    });

    it('closes only the failing session when a handler throws, and reports it', async (t) => {
      const errors: Error[] = [];
      const { handler, closes } = recordingHandler({
        data(session, chunk) {
          if (chunk.toString() === 'boom') throw new Error('handler exploded');
          session.write(chunk);
        },
      });
      const server = await listenLocal(t, {}, handler);
      server.on('error', (error) => errors.push(error));
      const bad = await connectClient(t, server.addresses[0]!.port);
      const good = await connectClient(t, server.addresses[0]!.port);
      bad.send('boom');
      await within(bad.closed, 'the failing session to close');
      good.send('still here');
      assert.equal((await good.waitForBytes(10)).toString(), 'still here');
      assert.equal(closes.length, 1);
      assert.equal(closes[0]!.cause, CloseCause.HANDLER_ERROR);
      assert.equal(closes[0]!.error?.code, ErrorCode.HANDLER_FAILED);
      assert.match(closes[0]!.error!.message, /^data handler of session \d+ failed: handler exploded$/);
      assert.equal(errors.length, 1);
      assert.equal(errors[0], closes[0]!.error);
      await good.close();
      await ledgerBalances(server);
    });

    it('closes only the failing session when a handler rejects', async (t) => {
      const { handler, closedOnce } = recordingHandler({
        async data() {
          throw new Error('async failure');
        },
      });
      const server = await listenLocal(t, {}, handler);
      server.on('error', () => {});
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('x');
      const reason = await within(closedOnce, 'close');
      assert.equal(reason.cause, CloseCause.HANDLER_ERROR);
      assert.match(reason.error!.message, /async failure/);
    });

    it('closes once with idle-timeout after the idle timeout by default', async (t) => {
      const { handler, closes, closedOnce } = recordingHandler();
      const server = await listenLocal(t, { idleTimeout: 50 }, handler);
      const client = await connectClient(t, server.addresses[0]!.port);
      const reason = await within(closedOnce, 'idle close');
      assert.equal(reason.cause, CloseCause.IDLE_TIMEOUT);
      assert.equal(reason.error?.code, ErrorCode.IDLE_TIMEOUT);
      await within(client.closed, 'client close');
      await ledgerBalances(server);
      assert.equal(closes.length, 1);
    });

    it('lets a timeout handler keep an idle session open', async (t) => {
      const timedOut = deferred<[EventSession, number]>();
      const { handler, closes } = recordingHandler({ timeout: (session) => timedOut.resolve([session, session.idleTime]) });
      const server = await listenLocal(t, { idleTimeout: 30 }, handler);
      const client = await connectClient(t, server.addresses[0]!.port);
      const [session, idleTime] = await within(timedOut.promise, 'the timeout event');
      assert.equal(session.state, 'open');
      assert.ok(idleTime >= 30, `idle ${idleTime} ms when the timeout fired`);
      client.send('alive');
      assert.equal((await client.waitForBytes(5)).toString(), 'alive');
      assert.equal(closes.length, 0);
    });

    it('closes every session with server-close on a graceful close, once', async (t) => {
      const { handler, closes } = recordingHandler();
      const server = await listenLocal(t, {}, handler);
      const clients = await Promise.all([1, 2, 3].map(() => connectClient(t, server.addresses[0]!.port)));
      await Promise.all(clients.map(async (client, i) => {
        client.send(`c${i}`);
        await client.waitForBytes(2);
      }));
      const closing = server.close({ timeout: 2000 });
      // Peers see FIN (shutdown before close) and close their side, which completes the close.
      await Promise.all(clients.map((client) => within(client.ended, 'FIN from the server')));
      for (const client of clients) client.socket.end();
      await within(closing, 'graceful close');
      assert.deepEqual(closes.map((c) => c.cause), [CloseCause.SERVER_CLOSE, CloseCause.SERVER_CLOSE, CloseCause.SERVER_CLOSE]);
      assert.equal(server.stats().accepted, server.stats().closed);
    });

    it('closes every session with server-destroy on destroy, once', async (t) => {
      const before = openNetworkHandles();
      const { handler, closes } = recordingHandler();
      const server = await listenLocal(t, {}, handler);
      const clients = await Promise.all([1, 2].map(() => connectClient(t, server.addresses[0]!.port)));
      for (const client of clients) client.send('x');
      await Promise.all(clients.map((client) => client.waitForBytes(1)));
      await within(server.destroy(), 'destroy');
      await within(server.destroy(), 'second destroy');
      assert.deepEqual(closes.map((c) => c.cause), [CloseCause.SERVER_DESTROY, CloseCause.SERVER_DESTROY]);
      await Promise.all(clients.map((client) => within(client.closed, 'client close')));
      await assertNoLeakedHandles(before);
    });

    it('destroys a slow peer at the graceful-close deadline', async (t) => {
      const { handler, closedOnce } = recordingHandler();
      const server = await listenLocal(t, {}, handler);
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.send('x');
      await client.waitForBytes(1);
      const started = performance.now();
      await within(server.close({ timeout: 150 }), 'close at the deadline');
      const took = performance.now() - started;
      assert.ok(took >= 140, `closed after ${took} ms, before the deadline`);
      const reason = await closedOnce;
      assert.equal(reason.cause, CloseCause.SERVER_CLOSE);
      await within(client.ended, 'the FIN sent before the deadline');
      assert.deepEqual([server.stats().sessions, server.stats().accepted, server.stats().closed], [0, 1, 1]);
    });
  });

  describe('#end', () => {
    it('delivers every byte written before end(), then FIN (shutdown before close)', async (t) => {
      const payload = Buffer.alloc(4 * 1024 * 1024, 'abcdefghijklmnopqrstuvwxyz');
      const { handler, closedOnce } = recordingHandler({
        open(session) {
          session.write(payload);
          session.end();
        },
      });
      const server = await listenLocal(t, {}, handler);
      const client = await connectClient(t, server.addresses[0]!.port);
      await within(client.ended, 'FIN after the payload', 10_000);
      assert.equal(client.received.length, payload.length);
      assert.ok(client.received.equals(payload));
      client.socket.end();
      assert.equal((await within(closedOnce, 'close')).cause, CloseCause.LOCAL_END);
    });

    it('finishes its writes then closes when the peer half-closes (default end handler)', async (t) => {
      const server = await listenLocal(t, {}, {
        data(session, chunk) {
          session.write(Buffer.concat([chunk, Buffer.alloc(256 * 1024, 'z')]));
        },
      });
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.send('q');
      client.socket.end();
      await within(client.ended, 'FIN after the reply');
      assert.equal(client.received.length, 1 + 256 * 1024);
    });
  });

  describe('#write', () => {
    it('returns false when the peer does not read, and drain fires once it does', async (t) => {
      const drained = deferred();
      let sawFalse = false;
      const server = await listenLocal(t, {}, {
        open(session) {
          const block = Buffer.alloc(64 * 1024, 1);
          for (let i = 0; i < 1024 && session.write(block); i++);
          sawFalse = true;
        },
        drain: () => drained.resolve(),
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.pause();
      await within(
        (async () => {
          while (!sawFalse) await new Promise((resolve) => setImmediate(resolve));
        })(),
        'write to return false',
      );
      client.socket.resume();
      await within(drained.promise, 'drain');
    });

    it('returns false instead of throwing once the session is closed', async (t) => {
      const closed = deferred<EventSession>();
      const server = await listenLocal(t, {}, { close: (session) => closed.resolve(session) });
      const client = await connectClient(t, server.addresses[0]!.port);
      await client.close();
      const session = await within(closed.promise, 'close');
      assert.equal(session.write('late'), false);
    });
  });

  describe('handlers', () => {
    it('refuses a connection when accept returns false, before any session opens', async (t) => {
      const opened: number[] = [];
      const server = await listenLocal(t, {}, {
        accept: async (info) => info.remotePort % 2 === 0 && false,
        open: (session) => void opened.push(session.id),
      });
      const rejected = once(server, 'rejected');
      const client = await connectClient(t, server.addresses[0]!.port);
      await within(client.closed, 'the refused connection to close');
      const [rejection] = await within(rejected, 'the rejected event');
      assert.equal(rejection.cause, 'accept-hook');
      assert.equal(rejection.info.remoteAddress, '127.0.0.1');
      assert.deepEqual(opened, []);
      assert.deepEqual(
        { ...server.stats(), rejectedBy: undefined, closedBy: undefined, bytesIn: 0, bytesOut: 0 },
        { listeners: 1, sessions: 0, pending: 0, accepted: 1, closed: 1, rejected: 1, rejectedBy: undefined, waiting: 0, opened: 0, closedBy: undefined, peakSessions: 0, bytesIn: 0, bytesOut: 0 },
      );
    });

    it('stops reading while an async data handler is pending', async (t) => {
      const releases: (() => void)[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      const server = await listenLocal(t, {}, {
        data(session, chunk) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          return new Promise<void>((resolve) => releases.push(() => { inFlight--; session.write(chunk); resolve(); }));
        },
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      for (let i = 0; i < 50; i++) {
        client.send('x'.repeat(100));
        await within((async () => { while (releases.length === 0) await new Promise((r) => setImmediate(r)); })(), 'a data call');
        releases.shift()!();
      }
      await client.waitForBytes(5000);
      assert.equal(maxInFlight, 1);
    });

    it('gives sessions monotonic ids and both ends of the connection', async (t) => {
      const sessions: EventSession[] = [];
      const server = await listenLocal(t, { host: '::1' }, { open: (session) => void sessions.push(session) });
      const a = await connectClient(t, server.addresses[0]!.port, '::1');
      const b = await connectClient(t, server.addresses[0]!.port, '::1');
      await within((async () => { while (sessions.length < 2) await new Promise((r) => setImmediate(r)); })(), 'two sessions');
      assert.ok(sessions[1]!.id > sessions[0]!.id);
      const s = sessions[0]!;
      assert.equal(s.remoteAddress, '::1');
      assert.equal(s.remoteFamily, 'IPv6');
      assert.equal(s.localAddress, '::1');
      assert.equal(s.localPort, server.addresses[0]!.port);
      assert.equal(s.remotePort, a.socket.localPort);
      assert.ok(s.openedAt <= Date.now());
      void b;
    });
  });
});
