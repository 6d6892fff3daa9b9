/**
 * Writes coalesced into one writev: from the second write of one `data` handler call (event
 * style), or of one read (async style), the socket is corked and uncorked as the handler returns
 * or the session waits on its peer. Coalescing must not reorder bytes, hold bytes back, hide
 * backpressure, trip the output cap, or lose bytes before a half-close.
 */
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { CloseCause, createLineCodec, framed, type AsyncSession, type CloseReason, type TcpHandler } from '../../src/index.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';
import { connectClient, deferred, listenLocal, upgradeAndEcho, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** Counts the writes the server's end of `client` hands to libuv: `_write` for one buffer, `_writev` for a batch. */
function countDispatches(t: TestContext, peer: Socket): { write: number; writev: number } {
  const serverEnd = (socket: Socket): boolean => socket !== peer && socket.remotePort === peer.localPort && socket.localPort === peer.remotePort;
  const counts = { write: 0, writev: 0 };
  const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', (this: Socket, ...args: unknown[]) => void>;
  const write = proto._write;
  const writev = proto._writev;
  t.mock.method(proto, '_write', function (this: Socket, ...args: unknown[]) {
    if (serverEnd(this)) counts.write++;
    return write.apply(this, args);
  });
  t.mock.method(proto, '_writev', function (this: Socket, ...args: unknown[]) {
    if (serverEnd(this)) counts.writev++;
    return writev.apply(this, args);
  });
  return counts;
}

/** Connects, sends `input`, and returns the first `bytes` bytes of the reply and how the server dispatched them. */
async function exchange(t: TestContext, port: number, input: string, bytes: number): Promise<{ reply: string; counts: { write: number; writev: number } }> {
  const client = await connectClient(t, port);
  const counts = countDispatches(t, client.socket);
  client.send(input);
  const reply = (await client.waitForBytes(bytes)).toString();
  return { reply, counts };
}

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

/** Two writes, then STARTTLS with a go-ahead: the client must see both, then the go-ahead, then complete the handshake. */
async function assertGoAheadAfterHeldWrites(t: TestContext, handler: TcpHandler): Promise<void> {
  const server = await listenLocal(t, { tls: { ...pemPair(certs.server), ca: certs.ca.cert, mode: 'starttls' } }, handler);
  server.on('warning', () => {});
  const client = await connectClient(t, server.addresses[0]!.port);
  client.send('STARTTLS\r\n');
  assert.equal(await client.waitForText('220 go ahead\r\n'), '250-first\r\n250 second\r\n220 go ahead\r\n');
  assert.equal(await upgradeAndEcho(client.socket, certs.ca.cert), 'ping');
}

describe('EventSession', () => {
  describe('#write (coalescing)', () => {
    it('sends what it held back, then the go-ahead, when the handler starts TLS after two writes', async (t) => {
      await assertGoAheadAfterHeldWrites(t, {
        data(session, chunk) {
          if (session.tls !== null) return void session.write(chunk);
          session.write('250-first\r\n');
          session.write('250 second\r\n');
          void session.startTls({ goAhead: '220 go ahead\r\n' }).catch(() => {});
        },
      });
    });

    it('sends the writes of one data handler call in two dispatches, in order', async (t) => {
      const server = await listenLocal(t, {}, {
        data(session) {
          session.write('a');
          session.write(Buffer.from('b'));
          session.write(['c', 'd'].map((s) => Buffer.from(s)));
          session.write('e');
        },
      });
      const { reply, counts } = await exchange(t, server.addresses[0]!.port, 'go', 5);
      assert.equal(reply, 'abcde');
      // The first write goes straight out; the other three leave together.
      assert.deepEqual(counts, { write: 1, writev: 1 });
    });

    it('writes once, uncorked, when the handler writes once', async (t) => {
      const server = await listenLocal(t, {}, { data: (session, chunk) => void session.write(chunk) });
      const { reply, counts } = await exchange(t, server.addresses[0]!.port, 'x', 1);
      assert.equal(reply, 'x');
      assert.deepEqual(counts, { write: 1, writev: 0 });
    });

    it('flushes the coalesced writes before a FIN the handler asks for', async (t) => {
      const server = await listenLocal(t, {}, {
        data(session) {
          for (let i = 0; i < 10; i++) session.write(`${i}`);
          session.end();
        },
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('go');
      await within(client.ended, 'the FIN');
      assert.equal(client.received.toString(), '0123456789');
    });

    it('reports backpressure as uncorked writes do, and every byte arrives', async (t) => {
      const results = deferred<boolean[]>();
      const piece = Buffer.alloc(32 * 1024, 0x61);
      // No output cap: this test is about the backpressure signal, not the cap.
      const server = await listenLocal(t, { maxBufferedOutput: 0 }, {
        data(session) {
          // 8 MiB in one call against a peer that does not read: more than loopback buffers hold.
          results.resolve(Array.from({ length: 256 }, () => session.write(piece)));
        },
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.pause();
      client.send('go');
      const queued = await within(results.promise, 'the writes');
      assert.equal(queued[0], true);
      assert.equal(queued.at(-1), false, 'past what the kernel takes, write() returns false');
      client.socket.resume();
      assert.equal((await client.waitForBytes(256 * piece.length)).length, 256 * piece.length);
    });

    it('never counts bytes held back for a writev against maxBufferedOutput', async (t) => {
      const closed = deferred<CloseReason>();
      // 20 writes of 100 bytes in one call, a cap of 1000: all of it reaches a reading peer.
      const server = await listenLocal(t, { maxBufferedOutput: 1000 }, {
        data(session) {
          for (let i = 0; i < 20; i++) session.write(Buffer.alloc(100, 0x30 + (i % 10)));
          session.end();
        },
        close: (_session, reason) => closed.resolve(reason),
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('go');
      await within(client.ended, 'the FIN');
      assert.equal(client.received.length, 2000);
      assert.equal((await within(closed.promise, 'the close')).cause, CloseCause.LOCAL_END);
    });
  });
});

describe('AsyncSession', () => {
  describe('#write (coalescing)', () => {
    it('coalesces the writes made for one read, in order, flushed once the session waits again', async (t) => {
      const server = await listenLocal(t, {}, async (session: AsyncSession) => {
        for await (const chunk of session) {
          for (const byte of chunk) await session.write(String.fromCharCode(byte).repeat(2));
        }
      });
      const { reply, counts } = await exchange(t, server.addresses[0]!.port, 'abcd', 8);
      assert.equal(reply, 'aabbccdd');
      assert.deepEqual(counts, { write: 1, writev: 1 });
    });

    it('sends what it held back, then the go-ahead, when the session function starts TLS after two writes', async (t) => {
      await assertGoAheadAfterHeldWrites(t, async (session: AsyncSession) => {
        await session.read();
        await session.write('250-first\r\n');
        await session.write('250 second\r\n');
        await session.startTls({ goAhead: '220 go ahead\r\n' });
        for await (const chunk of session) await session.write(chunk);
      });
    });

    it('flushes at the end of the turn when the session function waits on something else', async (t) => {
      const go = deferred();
      const server = await listenLocal(t, {}, async (session: AsyncSession) => {
        await session.read();
        await session.write('one ');
        await session.write('two');
        await go.promise; // not the peer: the coalesced write must not wait for this
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      t.after(() => go.resolve());
      client.send('x');
      assert.equal((await client.waitForBytes(7)).toString(), 'one two');
    });

    it('flushes before the FIN when the session function returns', async (t) => {
      const server = await listenLocal(t, {}, async (session: AsyncSession) => {
        await session.read();
        for (let i = 0; i < 10; i++) void session.write(`${i}`);
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('x');
      await within(client.ended, 'the FIN');
      assert.equal(client.received.toString(), '0123456789');
    });

    it('still waits for the kernel when the peer does not read', async (t) => {
      const piece = Buffer.alloc(64 * 1024, 0x62);
      const blocked = deferred<number>();
      const server = await listenLocal(t, {}, async (session: AsyncSession) => {
        await session.read();
        // Bounded: loopback buffers hold a few MiB, far below 1000 pieces.
        for (let i = 1; i <= 1000; i++) {
          let settled = false;
          const written = session.write(piece).then(() => void (settled = true));
          await Promise.resolve();
          if (!settled) {
            blocked.resolve(i);
            await written;
            return;
          }
        }
        blocked.reject(new Error('every write resolved at once: no backpressure'));
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.pause();
      client.send('x');
      const writes = await within(blocked.promise, 'a write to wait for the kernel');
      client.socket.resume();
      assert.equal((await client.waitForBytes(writes * piece.length)).length, writes * piece.length);
    });

    it('never counts bytes held back for a writev against maxBufferedOutput', async (t) => {
      const closed = deferred<CloseReason>();
      const server = await listenLocal(t, { maxBufferedOutput: 1000 }, async (session: AsyncSession) => {
        await session.read();
        for (let i = 0; i < 20; i++) await session.write(Buffer.alloc(100, 0x61));
        session.closed.then(closed.resolve, closed.reject);
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('x');
      await within(client.ended, 'the FIN');
      assert.equal(client.received.length, 2000);
      assert.equal((await within(closed.promise, 'the close')).cause, CloseCause.LOCAL_END);
    });

    it('serves concurrent reads in order', async (t) => {
      const firstRead = deferred<string>();
      const secondRead = deferred<string>();
      const server = await listenLocal(t, {}, async (session: AsyncSession) => {
        const first = session.read();
        const second = session.read();
        firstRead.resolve(String(await first));
        secondRead.resolve(String(await second));
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('first');
      assert.equal(await within(firstRead.promise, 'the first read'), 'first');
      client.send('second');
      assert.equal(await within(secondRead.promise, 'the second read'), 'second');
    });
  });
});

describe('FramedAsyncSession', () => {
  describe('#send (coalescing)', () => {
    it('sends the replies to the frames of one chunk in one writev', async (t) => {
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
        for await (const line of session.frames()) await session.send(line.toUpperCase());
      }));
      const { reply, counts } = await exchange(t, server.addresses[0]!.port, 'a\nb\nc\nd\n', 8);
      assert.equal(reply, 'A\nB\nC\nD\n');
      // Four frames decoded from one chunk: the first reply waits for the others.
      assert.deepEqual(counts, { write: 0, writev: 1 });
    });

    it('sends the reply to a chunk of one frame at once, uncorked', async (t) => {
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
        for await (const line of session.frames()) await session.send(line);
      }));
      const { reply, counts } = await exchange(t, server.addresses[0]!.port, 'one\n', 4);
      assert.equal(reply, 'one\n');
      assert.deepEqual(counts, { write: 1, writev: 0 });
    });

    it('flushes the held replies at the end of the turn when the session function waits on something else', async (t) => {
      const go = deferred();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
        const frames = session.frames();
        await session.send(String((await frames.next()).value)); // one more frame waits: this reply is held
        await go.promise; // not the peer: the held reply must not wait for this
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      t.after(() => go.resolve());
      client.send('first\nsecond\n');
      assert.equal((await client.waitForBytes(6)).toString(), 'first\n');
    });
  });
});
