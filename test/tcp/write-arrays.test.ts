/**
 * `session.write()` takes several buffers at once (`readonly Uint8Array[]`), writev-like, in
 * both styles: small ones copied into one write, large ones corked; the output cap applies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloseCause, ErrorCode, type CloseReason, type EventSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** A 4-byte length header and its payload: two pieces, as a length-field codec encodes. */
function lengthPrefixed(payload: Uint8Array): readonly Uint8Array[] {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, payload.length);
  return [header, payload];
}

const SMALL = new Uint8Array(Buffer.from('hello'));
const LARGE = new Uint8Array(200 * 1024).fill(0x62); // past the copy limit: written corked

describe('EventSession', () => {
  describe('#write', () => {
    it('writes several buffers in order, small and large', async (t) => {
      const server = await listenLocal(t, {}, {
        data(session) {
          assert.equal(session.write(lengthPrefixed(SMALL)), true);
          session.write(lengthPrefixed(LARGE));
          session.write([]);
          session.write([Buffer.from('!')]);
        },
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('go');
      const received = await client.waitForBytes(4 + SMALL.length + 4 + LARGE.length + 1);
      assert.deepEqual(received.subarray(0, 9), Buffer.from([0, 0, 0, 5, ...SMALL]));
      assert.equal(received.readUInt32BE(9), LARGE.length);
      assert.ok(received.subarray(13, 13 + LARGE.length).equals(LARGE));
      assert.equal(received.subarray(13 + LARGE.length).toString(), '!');
    });

    it('applies the output cap to an array as to one buffer', async (t) => {
      const session = deferred<EventSession>();
      const closed = deferred<CloseReason>();
      const server = await listenLocal(t, { maxBufferedOutput: 256 * 1024 }, {
        open: (opened) => session.resolve(opened),
        close: (_session, reason) => closed.resolve(reason),
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.pause();
      const opened = await within(session.promise, 'the session');
      // Ignores backpressure on purpose: 40 MB, far more than the kernel buffers of one loopback connection.
      for (let writes = 0; writes < 200; writes++) opened.write(lengthPrefixed(LARGE));
      const reason = await within(closed.promise, 'the session to close');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.OUTPUT_OVERFLOW);
    });
  });
});

describe('AsyncSession', () => {
  describe('#write', () => {
    it('writes several buffers in order and resolves once the kernel took them all', async (t) => {
      const written = deferred<void>();
      const server = await listenLocal(t, {}, async (session) => {
        await session.read();
        await session.write(lengthPrefixed(SMALL));
        await session.write(lengthPrefixed(LARGE));
        written.resolve();
      });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('go');
      const received = await client.waitForBytes(8 + SMALL.length + LARGE.length);
      await within(written.promise, 'both writes to resolve');
      assert.deepEqual(received.subarray(0, 9), Buffer.from([0, 0, 0, 5, ...SMALL]));
      assert.equal(received.readUInt32BE(9), LARGE.length);
      assert.ok(received.subarray(13).equals(LARGE));
    });
  });
});
