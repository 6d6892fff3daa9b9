/**
 * `onCodecError`: a framed server tells the peer why it is dropped — one last frame, encoded with
 * the session's codec, then a half-close — in both styles, and a peer that does not play along
 * cannot hold the session.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { createLineCodec } from '../../src/codecs/index.ts';
import { CloseCause, ErrorCode, InvalidOptionError, framed, type CodecError } from '../../src/index.ts';
import { connectClient, listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { Closes } from './helpers.ts';

/** The reply the chat of docs/codecs.md gives before it hangs up. */
function why(error: CodecError): string {
  return error.code === ErrorCode.FRAME_TOO_LARGE ? 'ERR line too long' : 'ERR not UTF-8';
}

describe('framed', () => {
  describe('onCodecError', () => {
    it('sends the last frame it returns, then half-closes an event session, which closes with the codec error', async (t) => {
      const closes = new Closes();
      const seen: { error: string; session: number }[] = [];
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 20, newline: '\r\n' }), {
        frame: (session, line) => void session.send(line),
        close: (_session, reason) => closes.add(reason),
      }, {
        onCodecError(error, session) {
          seen.push({ error: error.code, session: session.id });
          return why(error);
        },
      }));
      server.on('error', (error) => closes.serverErrors.push(error));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('ok\nthis line is far too long for twenty bytes\nmore after it\n');
      await within(client.ended, 'the server to half-close');
      assert.equal(client.received.toString(), 'ok\r\nERR line too long\r\n');
      assert.equal(await within(client.closed, 'the connection to close'), false, 'a FIN, not a reset');
      assert.equal(client.error, undefined);
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.FRAME_TOO_LARGE);
      assert.deepEqual(seen.map((entry) => entry.error), [ErrorCode.FRAME_TOO_LARGE]);
      assert.deepEqual(closes.serverErrors, []);
    });

    it('does the same for a session function, whose rethrown codec error is no handler failure', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 20 }), async (session) => {
        void session.closed.then((reason) => closes.add(reason));
        for await (const line of session.frames()) await session.send(line);
      }, { onCodecError: (error) => why(error) }));
      server.on('error', (error) => closes.serverErrors.push(error));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send(Buffer.concat([Buffer.from('ok\n'), Buffer.from([0xff, 0xfe, 0x0a])]));
      await within(client.ended, 'the server to half-close');
      assert.equal(client.received.toString(), 'ok\nERR not UTF-8\n');
      assert.equal(await within(client.closed, 'the connection to close'), false, 'a FIN, not a reset');
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.BAD_FRAME);
      assert.deepEqual(closes.serverErrors, []);
    });

    it('answers after the frames an async frame handler still holds, in order', async (t) => {
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 8 }), {
        async frame(session, line) {
          await new Promise((resolve) => setImmediate(resolve));
          session.send(`<${line}>`);
        },
      }, { onCodecError: () => 'ERR' }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('one\ntwo\nthree\nthis line is far too long\n');
      await within(client.ended, 'the server to half-close');
      assert.equal(client.received.toString(), '<one>\n<two>\n<three>\nERR\n');
    });

    it('answers a stream the peer ended inside a frame, which then closes as peer-end', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        close: (_session, reason) => closes.add(reason),
      }, { onCodecError: (error) => `ERR ${error.code}` }));
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.socket.end('truncat');
      await within(client.ended, 'the server to answer and close');
      assert.equal(client.received.toString(), 'ERR SWB_ERR_BAD_FRAME\n');
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.PEER_END);
      assert.equal(reason.error?.code, ErrorCode.BAD_FRAME);
    });

    it('closes at once, as without the hook, when it returns nothing', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 4 }), {
        frame: (session, line) => void session.send(line),
        close: (_session, reason) => closes.add(reason),
      }, { onCodecError: () => undefined }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('ok\ntoo long\n');
      await within(client.closed, 'the connection to close');
      assert.equal(client.received.toString(), 'ok\n');
      assert.equal((await closes.nth(1)).error?.code, ErrorCode.FRAME_TOO_LARGE);
    });

    it('resets a peer that neither reads nor closes after lastFrameTimeout, keeping the codec error as the reason', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 8 }), {
        close: (_session, reason) => closes.add(reason),
      }, { onCodecError: () => 'ERR', lastFrameTimeout: 200 }));
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.socket.pause(); // reads nothing, and never sends its FIN
      const started = performance.now();
      client.send('this line is far too long\n');
      const reason = await closes.nth(1, 'the session to be reset');
      assert.ok(performance.now() - started >= 190, 'not before lastFrameTimeout');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.FRAME_TOO_LARGE);
      assert.equal(server.stats().sessions, 0);
    });

    it('reports a hook that throws as a handler failure and destroys the session with the codec error', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 4 }), {
        close: (_session, reason) => closes.add(reason),
      }, {
        onCodecError() {
          throw new Error('hook bug');
        },
      }));
      server.on('error', (error) => closes.serverErrors.push(error));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('too long\n');
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.FRAME_TOO_LARGE);
      assert.deepEqual(closes.serverErrors.map((error) => [error.code, error.message.replace(/session \d+/, 'session N')]), [
        [ErrorCode.HANDLER_FAILED, 'onCodecError handler of session N failed: hook bug'],
      ]);
      await within(client.closed, 'the client to be disconnected');
      assert.equal(client.received.length, 0);
    });

    it('must be a function', () => {
      assert.throws(
        () => framed(() => createLineCodec(), {}, { onCodecError: 'ERR' as never }),
        (error: unknown) => error instanceof InvalidOptionError && error.option === 'onCodecError',
      );
      assert.throws(
        () => framed(() => createLineCodec(), {}, { lastFrameTimeout: -1 }),
        (error: unknown) => error instanceof InvalidOptionError && error.option === 'lastFrameTimeout',
      );
    });
  });
});
