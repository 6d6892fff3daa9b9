import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AsyncSession, CloseCause, ErrorCode, TcpServer, type CloseReason } from '../../src/index.ts';
import { assertNoLeakedHandles, connectClient, deferred, listenLocal, openNetworkHandles, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

describe('AsyncSession', () => {
  it('echoes with for await and awaited writes', async (t) => {
    const server = await listenLocal(t, {}, async (session) => {
      for await (const chunk of session) await session.write(chunk);
    });
    const client = await connectClient(t, server.addresses[0]!.port);
    client.send('hello ');
    client.send('async');
    assert.equal((await client.waitForBytes(11)).toString(), 'hello async');
    client.socket.end();
    await within(client.ended, 'the session to end when the function returns');
  });

  describe('#read', () => {
    it('resolves with what has arrived without waiting to fill a buffer, then null at end', async (t) => {
      const reads = deferred<(string | null)[]>();
      const server = await listenLocal(t, {}, async (session) => {
        const seen: (string | null)[] = [];
        seen.push((await session.read())?.toString() ?? null);
        await session.write('next');
        let chunk: Buffer | null;
        while ((chunk = await session.read()) !== null) seen.push(chunk.toString());
        seen.push(null);
        reads.resolve(seen);
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('a');
      await client.waitForBytes(4);
      client.send('bc');
      client.socket.end();
      const seen = await within(reads.promise, 'the reads');
      assert.equal(seen[0], 'a');
      assert.equal(seen.at(-1), null);
      assert.equal(seen.slice(1, -1).join(''), 'bc');
    });

    it('rejects with the reset when the peer resets mid-stream', async (t) => {
      const outcome = deferred<unknown>();
      const server = await listenLocal(t, {}, async (session) => {
        await session.read();
        outcome.resolve(await session.read().then(() => 'resolved', (error: unknown) => error));
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('x');
      await new Promise((resolve) => setImmediate(resolve));
      client.socket.resetAndDestroy();
      const error = await within(outcome.promise, 'the read to settle');
      assert.equal((error as { code?: string }).code, ErrorCode.CONNECTION_RESET);
    });
  });

  describe('#write', () => {
    it('rejects with SWB_ERR_SESSION_CLOSED after the session ended, and never unhandled', async (t) => {
      const result = deferred<unknown>();
      const server = await listenLocal(t, {}, async (session) => {
        session.end();
        void session.write('ignored'); // unawaited: must not become an unhandled rejection
        result.resolve(await session.write('late').catch((error: unknown) => error));
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      const error = await within(result.promise, 'the late write');
      assert.equal((error as { code?: string }).code, ErrorCode.SESSION_CLOSED);
      await within(client.ended, 'FIN');
    });

    it('awaits the kernel when the peer does not read (backpressure)', async (t) => {
      let written = 0;
      const server = await listenLocal(t, {}, async (session) => {
        const block = Buffer.alloc(64 * 1024);
        for (let i = 0; i < 2000; i++) {
          await session.write(block);
          written += block.length;
        }
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.pause();
      // Without reading, the writer must stall well below 2000 blocks (128 MiB).
      await within((async () => { let last = -1; while (last !== written) { last = written; for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r)); } })(), 'the writer to stall');
      assert.ok(written < 64 * 1024 * 2000, `wrote ${written}`);
      assert.ok(written > 0);
      void server;
    });
  });

  it('destroys only its session when the session function rejects', async (t) => {
    const errors: Error[] = [];
    const server = await listenLocal(t, {}, async (session) => {
      const first = await session.read();
      if (first?.toString() === 'boom') throw new Error('session function failed');
      await session.write(first!);
      for await (const chunk of session) await session.write(chunk);
    });
    server.on('error', (error) => errors.push(error));
    const bad = await connectClient(t, server.addresses[0]!.port);
    const good = await connectClient(t, server.addresses[0]!.port);
    bad.send('boom');
    await within(bad.closed, 'the failing session to close');
    good.send('fine');
    assert.equal((await good.waitForBytes(4)).toString(), 'fine');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.message.includes('session function failed'), true);
  });

  it('iterates sessions with for await when created without a handler, ending on close', async (t) => {
    const before = openNetworkHandles();
    const server = new TcpServer({ host: '127.0.0.1', port: 0 });
    t.after(() => server.destroy());
    await server.listen();
    const reasons: CloseReason[] = [];
    const loop = (async () => {
      for await (const session of server) {
        assert.ok(session instanceof AsyncSession);
        void (async () => {
          for await (const chunk of session) await session.write(chunk);
          session.end();
          reasons.push(await session.closed);
        })();
      }
    })();
    const client = await connectClient(t, server.addresses[0]!.port);
    client.send('iter');
    assert.equal((await client.waitForBytes(4)).toString(), 'iter');
    client.socket.end();
    await within(client.closed, 'client close');
    await within(server.close(), 'close');
    await within(loop, 'the for-await loop to end with the server');
    assert.deepEqual(reasons.map((r) => r.cause), [CloseCause.PEER_END]);
    await assertNoLeakedHandles(before);
  });
});
