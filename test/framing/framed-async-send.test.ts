/**
 * An unawaited send() the codec refuses must close the session with the codec's error, never
 * reject unhandled (which would end the process): the same contract as an unawaited write().
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLengthFieldCodec } from '../../src/codecs/index.ts';
import { CloseCause, ErrorCode, framed } from '../../src/index.ts';
import { connectClient, listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { Closes } from './helpers.ts';

async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('FramedAsyncSession', () => {
  describe('#send', () => {
    it('closes the session with the codec error when an unawaited send is refused, and never rejects unhandled', async (t) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      t.after(() => void process.off('unhandledRejection', onUnhandled));
      const closes = new Closes();
      // A 1-byte length field: a reply over 255 bytes cannot be encoded.
      const server = await listenLocal(t, {}, framed(() => createLengthFieldCodec({ lengthFieldLength: 1 }), async (session) => {
        void session.closed.then((reason) => closes.add(reason));
        for await (const payload of session.frames()) void session.send(Buffer.concat(Array(64).fill(payload) as Buffer[]));
      }));
      server.on('error', (error) => closes.serverErrors.push(error));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send(Buffer.from([2, 0x68, 0x69])); // 2 bytes in, 128 out: fits
      assert.equal((await client.waitForBytes(129)).length, 129);
      client.send(Buffer.from([5, 0x68, 0x65, 0x6c, 0x6c, 0x6f])); // 5 bytes in, 320 out: refused
      const reason = await closes.nth(1, 'the session to close');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.FRAME_TOO_LARGE);
      assert.match(reason.error!.message, /does not fit a 1-byte field/);
      await within(client.closed, 'the peer to see the close');
      await turns(10); // unhandled rejections are reported after the microtask queue drains
      assert.deepEqual(unhandled, []);
      assert.deepEqual(closes.serverErrors, [], 'the refused reply is the close reason, not a handler failure');
    });

    it('rejects an awaited refused send with the same codec error the session closed with', async (t) => {
      const closes = new Closes();
      const failures: unknown[] = [];
      const server = await listenLocal(t, {}, framed(() => createLengthFieldCodec({ lengthFieldLength: 1 }), async (session) => {
        void session.closed.then((reason) => closes.add(reason));
        const payload = await session.readFrame();
        await session.send(Buffer.alloc(300, payload![0])).catch((error: unknown) => void failures.push(error));
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send(Buffer.from([1, 0x61]));
      const reason = await closes.nth(1, 'the session to close');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(failures.length, 1);
      assert.equal(failures[0], reason.error);
    });
  });
});
