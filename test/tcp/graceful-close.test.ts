/**
 * A graceful close lets work in progress finish: every session is told it is closing, is
 * half-closed once it waits on its peer, keeps reading (and dropping) until the peer's FIN, and
 * close() resolves when every session and every handler promise has settled — or at the deadline.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { CloseCause, ErrorCode, createLineCodec, framed, type AsyncSession, type CloseReason, type EventSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, until, within, type TestClient } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Sends to a server that echoes, without reading, until `stop` resolves (the server pushed back). */
async function floodUntil(client: TestClient, stop: Promise<unknown>, maxBytes = 512 * 1024 * 1024): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x65);
  let stopped = false;
  void stop.then(() => (stopped = true));
  for (let written = 0; !stopped; written += chunk.length) {
    if (written >= maxBytes) throw new Error(`the server never pushed back after ${written} bytes`);
    if (!client.socket.write(chunk)) await Promise.race([once(client.socket, 'drain'), stop]);
  }
}

describe('TcpServer', () => {
  describe('#close (graceful)', () => {
    it('lets a session function finish the request in hand: the reply arrives before the FIN', async (t) => {
      const database = deferred();
      const inHand = deferred<AsyncSession>();
      const closed = deferred<CloseReason>();
      const server = await listenLocal(t, {}, async (session) => {
        void session.closed.then((reason) => closed.resolve(reason));
        for await (const request of session) {
          inHand.resolve(session);
          await database.promise; // a slow database call
          await session.write(`reply to ${request.toString()}`);
        }
      });
      server.on('error', (error) => closed.reject(error));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('GET 1');
      await within(inHand.promise, 'the request to be in hand');
      const order: string[] = [];
      void client.ended.then(() => order.push('FIN'));
      const closing = server.close({ timeout: 5000 }).then(() => void order.push('closed'));
      await turns(20);
      assert.deepEqual(order, [], 'neither a FIN nor the close came while the request was in hand');
      database.resolve();
      await within(closing, 'the graceful close');
      assert.equal(client.received.toString(), 'reply to GET 1');
      assert.deepEqual(order, ['FIN', 'closed']);
      const reason = await closed.promise;
      assert.equal(reason.cause, CloseCause.SERVER_CLOSE);
      assert.equal(reason.error, undefined);
    });

    it('lets an async data handler finish, calls closing first, then half-closes', async (t) => {
      const database = deferred();
      const inHand = deferred();
      const events: string[] = [];
      const server = await listenLocal(t, {}, {
        async data(session, chunk) {
          inHand.resolve();
          await database.promise;
          session.write(`reply to ${chunk.toString()}\n`);
          events.push('replied');
        },
        closing(session) {
          events.push(`closing (signal aborted: ${session.signal.aborted})`);
          session.write('server going down\n');
        },
        close: (_session, reason) => void events.push(`close ${reason.cause}`),
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('GET 2');
      await within(inHand.promise, 'the request to be in hand');
      const closing = server.close({ timeout: 5000 });
      await turns(20);
      assert.equal(client.socket.readableEnded, false, 'no FIN while the data handler runs');
      database.resolve();
      await within(closing, 'the graceful close');
      assert.equal(client.received.toString(), 'server going down\nreply to GET 2\n');
      assert.deepEqual(events, ['closing (signal aborted: true)', 'replied', `close ${CloseCause.SERVER_CLOSE}`]);
    });

    it('lets an async frame handler finish the frames in hand, then half-closes', async (t) => {
      const database = deferred();
      const inHand = deferred();
      const events: string[] = [];
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        async frame(session, line) {
          inHand.resolve();
          await database.promise;
          session.send(`reply to ${line}`);
        },
        closing: (session) => void events.push(`closing, ${session.state}`),
        close: (_session, reason) => void events.push(`close ${reason.cause}`),
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('one\ntwo\n'); // the second frame waits in the backlog
      await within(inHand.promise, 'the first frame to be in hand');
      const closing = server.close({ timeout: 5000 });
      await turns(20);
      assert.equal(client.socket.readableEnded, false, 'no FIN while frames are in hand');
      database.resolve();
      await within(closing, 'the graceful close');
      assert.equal(client.received.toString(), 'reply to one\nreply to two\n');
      assert.deepEqual(events, ['closing, open', `close ${CloseCause.SERVER_CLOSE}`]);
    });

    it('ends only the session whose closing handler throws, as a handler failure', async (t) => {
      const reasons: CloseReason[] = [];
      const errors: Error[] = [];
      const server = await listenLocal(t, {}, {
        data: (session, chunk) => void session.write(chunk),
        closing(session) {
          if (session.id === 1) throw new Error('goodbye failed');
          session.write('bye\n');
        },
        close: (_session, reason) => void reasons.push(reason),
      });
      server.on('error', (error) => errors.push(error));
      const failing = await connectClient(t, server.addresses[0]!.port);
      failing.send('a');
      await failing.waitForText('a');
      const polite = await connectClient(t, server.addresses[0]!.port);
      polite.send('b');
      await polite.waitForText('b');
      await within(server.close({ timeout: 5000 }), 'the graceful close');
      assert.equal(polite.received.toString(), 'bbye\n');
      assert.deepEqual(reasons.map((reason) => reason.cause).sort(), [CloseCause.HANDLER_ERROR, CloseCause.SERVER_CLOSE]);
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /^closing handler of session 1 failed: goodbye failed$/);
    });

    it('waits for a handler promise whose session has already closed', async (t) => {
      const release = deferred();
      const inHand = deferred<EventSession>();
      const sessionClosed = deferred();
      const server = await listenLocal(t, {}, {
        async data(session) {
          inHand.resolve(session);
          await release.promise;
        },
        close: () => sessionClosed.resolve(),
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('work');
      await within(inHand.promise, 'the handler to start');
      const order: string[] = [];
      const closing = server.close({ timeout: 5000 }).then(() => void order.push('close resolved'));
      client.socket.resetAndDestroy(); // the peer goes away while the handler still runs
      await within(sessionClosed.promise, 'the session to close');
      assert.equal(server.stats().sessions, 0);
      await turns(20);
      order.push('handler settles');
      release.resolve();
      await within(closing, 'the close');
      assert.deepEqual(order, ['handler settles', 'close resolved']);
    });

    it('tells a session function that never waits on its peer to stop, through session.signal', async (t) => {
      const reasons = deferred<unknown>();
      const server = await listenLocal(t, {}, async (session) => {
        const block = Buffer.alloc(1024, 0x63);
        while (!session.signal.aborted) await session.write(block); // a generator: never reads
        reasons.resolve(session.signal.reason);
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      await client.waitForBytes(4096);
      const started = performance.now();
      await within(server.close({ timeout: 30_000 }), 'the close, long before its deadline');
      assert.ok(performance.now() - started < 10_000);
      const reason = (await within(reasons.promise, 'the loop to stop')) as { code?: string };
      assert.equal(reason.code, ErrorCode.SERVER_CLOSED);
    });

    it('aborts session.signal when the session closes, with its close error', async (t) => {
      const signal = deferred<AbortSignal>();
      const server = await listenLocal(t, {}, (session) => {
        signal.resolve(session.signal);
        return new Promise<void>((resolve) => session.signal.addEventListener('abort', () => resolve()));
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      const aborted = await within(signal.promise, 'the session');
      assert.equal(aborted.aborted, false);
      client.socket.resetAndDestroy();
      await within(once(aborted, 'abort'), 'the abort');
      assert.equal((aborted.reason as { code?: string }).code, ErrorCode.CONNECTION_RESET);
    });

    it('half-closes at once a session its for-await loop never took, and one waiting in read()', async (t) => {
      const server = await listenLocal(t, {});
      const served = (async () => {
        for await (const session of server) for await (const chunk of session) await session.write(chunk); // one at a time
      })();
      const first = await connectClient(t, server.addresses[0]!.port);
      first.send('one');
      await first.waitForText('one');
      const second = await connectClient(t, server.addresses[0]!.port); // queued behind the first
      await until(() => server.stats().sessions === 2, 'the second session to open');
      await within(server.close({ timeout: 60_000 }), 'the close, long before its deadline');
      await within(Promise.all([first.ended, second.ended]), 'both FINs');
      await within(served, 'the for-await loop to end');
    });

    it('still closes at the deadline a session whose handler never settles', async (t) => {
      const closed = deferred<CloseReason>();
      const server = await listenLocal(t, {}, {
        data: () => new Promise<void>(() => {}), // hangs forever
        close: (_session, reason) => closed.resolve(reason),
      });
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.send('hang');
      await until(() => server.stats().bytesIn > 0, 'the request to arrive');
      await within(server.close({ timeout: 100 }), 'the close at its deadline');
      assert.equal((await closed.promise).cause, CloseCause.SERVER_CLOSE);
      assert.deepEqual([server.stats().sessions, server.stats().accepted, server.stats().closed], [0, 1, 1]);
    });

    it('keeps reading a half-closed echo session that paused for backpressure, so it sees the peer\'s FIN', async (t) => {
      const paused = deferred();
      const closed = deferred<CloseReason>();
      const server = await listenLocal(t, {}, {
        data(session, chunk) {
          if (session.write(chunk)) return;
          session.pause();
          paused.resolve();
        },
        drain: (session) => session.resume(),
        close: (_session, reason) => closed.resolve(reason),
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.pause(); // read nothing until the server has paused for backpressure
      await within(floodUntil(client, paused.promise), 'the server to pause for backpressure', 20_000);
      const closing = server.close({ timeout: 60_000 });
      client.socket.resume();
      client.socket.end(); // queued behind all the input the server has not read yet
      await within(closing, 'the close, as soon as the peer\'s FIN is read', 20_000);
      const reason = await closed.promise;
      assert.equal(reason.cause, CloseCause.SERVER_CLOSE);
      assert.equal(reason.error, undefined);
    });

    it('keeps reading after a session function returned, so the peer\'s FIN closes it', async (t) => {
      const closed = deferred<CloseReason>();
      const server = await listenLocal(t, { idleTimeout: 120_000 }, async (session) => {
        void session.closed.then((reason) => closed.resolve(reason));
        await session.write('hello, goodbye\n');
        // Returns without reading while the peer's input fills the read buffer (reading holds).
        await until(() => session.bytesRead >= 64 * 1024, 'the read buffer to fill');
      });
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.socket.end(Buffer.alloc(8 * 1024 * 1024, 0x66)); // the FIN comes after all of it
      const reason = await within(closed.promise, 'the session to close at the peer\'s FIN', 20_000);
      assert.equal(reason.cause, CloseCause.LOCAL_END);
      await within(client.ended, 'the session\'s FIN');
      assert.equal(client.received.toString(), 'hello, goodbye\n');
    });
  });
});
