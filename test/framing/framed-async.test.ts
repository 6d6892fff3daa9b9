import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLengthFieldCodec, createLineCodec, type FrameInput } from '../../src/codecs/index.ts';
import { CloseCause, ErrorCode, framed, type CloseReason, type FramedAsyncSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, within } from '../helpers/net.ts';
import { Closes, writeUntilBlocked } from './helpers.ts';

describe('framed', () => {
  describe('session function', () => {
    it('iterates frames with frames(), sends encoded frames, and ends with the stream', async (t) => {
      const done = deferred<string[]>();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
        const seen: string[] = [];
        for await (const line of session.frames()) {
          seen.push(line);
          await session.send(line.split('').reverse().join(''));
        }
        assert.equal(await session.readFrame(), null);
        done.resolve(seen);
      }));
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.send('abc\nde');
      await client.waitForText('cba\n');
      client.socket.end('f\r\n');
      assert.deepEqual(await within(done.promise, 'the session function'), ['abc', 'def']);
      await within(client.ended, 'the session to end');
      assert.equal(client.received.toString(), 'cba\nfed\n');
    });

    it('sends multi-part encodings (length prefix and payload) as one frame', async (t) => {
      const server = await listenLocal(t, {}, framed(() => createLengthFieldCodec({ lengthFieldLength: 1 }), async (session) => {
        for await (const payload of session.frames()) await session.send(Buffer.concat([payload, payload]));
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send(Buffer.from([2, 0x68, 0x69]));
      assert.deepEqual([...(await client.waitForBytes(5))], [4, 0x68, 0x69, 0x68, 0x69]);
    });

    it('rejects readFrame with the codec error, closes the session as a limit, and reports no handler failure', async (t) => {
      const outcome = deferred<{ error: unknown; reason: CloseReason }>();
      const serverErrors: Error[] = [];
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 4 }), async (session) => {
        try {
          for await (const line of session.frames()) await session.send(line);
        } catch (error) {
          outcome.resolve({ error, reason: await session.closed });
          throw error;
        }
      }));
      server.on('error', (error) => serverErrors.push(error));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('ok\ntoo long\n');
      const { error, reason } = await within(outcome.promise, 'the codec error');
      assert.equal((error as { code?: string }).code, ErrorCode.FRAME_TOO_LARGE);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error, error);
      await within(client.closed, 'the client to be disconnected');
      assert.equal(client.received.toString(), 'ok\n');
      assert.deepEqual(serverErrors, []);
    });

    it('leaves bytes in the socket, not frames in memory, while the consumer is slow', async (t) => {
      const gate = deferred();
      const count = deferred<number>();
      let session!: FramedAsyncSession<FrameInput, string>;
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (opened) => {
        session = opened;
        const first = await opened.readFrame();
        assert.equal(first, 'first');
        await gate.promise;
        let frames = 1;
        for await (const _line of opened.frames()) frames++;
        count.resolve(frames);
      }));
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.send('first\n');
      const line = `${'x'.repeat(499)}\n`;
      const written = await writeUntilBlocked(client, line);
      assert.ok(session.bytesRead < 1024 * 1024, `read ${session.bytesRead} of ${written} bytes while the consumer waited`);
      gate.resolve();
      client.socket.end();
      assert.equal(await within(count.promise, 'every frame', 30_000), 1 + written / line.length);
    });

    it('reports a frame cut short by the end of stream as SWB_ERR_BAD_FRAME', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
        session.closed.then((reason) => closes.add(reason), () => {});
        for await (const _line of session.frames());
      }));
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.socket.end('partial');
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.PEER_END);
      assert.equal(reason.error?.code, ErrorCode.BAD_FRAME);
    });
  });
});
