import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLengthFieldCodec, createLineCodec, type FrameInput } from '../../src/codecs/index.ts';
import { CloseCause, ErrorCode, InvalidOptionError, framed, type FramedEventSession, type TcpServer } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, within } from '../helpers/net.ts';
import { Closes, writeUntilBlocked } from './helpers.ts';

type LineSession = FramedEventSession<FrameInput, string>;

describe('framed', () => {
  describe('event handlers', () => {
    it('delivers whole frames in order across and within chunks, and send encodes', async (t) => {
      const frames: string[] = [];
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        frame(session, line) {
          frames.push(line);
          session.send(`<${line}>`);
        },
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('one\r\ntw');
      await client.waitForText('<one>\n');
      client.send('o\nthree\nfour\n');
      await client.waitForText('<four>\n');
      assert.equal(client.received.toString(), '<one>\n<two>\n<three>\n<four>\n');
      assert.deepEqual(frames, ['one', 'two', 'three', 'four']);
    });

    it('frames binary protocols too: a length-prefixed codec, Buffers out, payloads in', async (t) => {
      const server = await listenLocal(t, {}, framed(() => createLengthFieldCodec({ lengthFieldLength: 2 }), {
        frame(session, payload) {
          session.send(Buffer.from(payload.toString().toUpperCase()));
        },
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send(Buffer.from([0, 3, 0x61, 0x62, 0x63, 0, 1]));
      client.send(Buffer.from([0x7a]));
      const received = await client.waitForBytes(8);
      assert.deepEqual([...received], [0, 3, 0x41, 0x42, 0x43, 0, 1, 0x5a]);
    });

    it('closes only the session whose frame is too large, with cause limit and the codec\'s code, after answering the good frames', async (t) => {
      const closes = new Closes();
      const errors: string[] = [];
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 8 }), {
        frame: (session, line) => void session.send(line),
        error: (_session, error) => void errors.push(error.code),
        close: (_session, reason) => closes.add(reason),
      }));
      const port = server.addresses[0]!.port;
      const bystander = await connectClient(t, port);
      const offender = await connectClient(t, port);
      offender.send('fine\nthis line is far too long\n');
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.FRAME_TOO_LARGE);
      assert.deepEqual(errors, [ErrorCode.FRAME_TOO_LARGE]);
      await within(offender.closed, 'the offender to be disconnected');
      assert.equal(offender.received.toString(), 'fine\n');
      bystander.send('ok\n');
      await bystander.waitForText('ok\n');
      assert.equal(server.stats().sessions, 1);
    });

    it('closes a session sending malformed input with SWB_ERR_BAD_FRAME', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), { close: (_session, reason) => closes.add(reason) }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send(Buffer.from([0xff, 0xfe, 0x0a]));
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.BAD_FRAME);
    });

    it('handles frames one at a time when the handler is async, and stops reading meanwhile', async (t) => {
      const gate = deferred();
      const handled: string[] = [];
      const allHandled = deferred();
      let expected = Infinity;
      let running = 0;
      let overlapped = false;
      let session!: LineSession;
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        open: (opened) => void (session = opened),
        async frame(_session, line) {
          overlapped ||= running > 0;
          running++;
          if (handled.length === 0) await gate.promise;
          else await Promise.resolve();
          handled.push(line);
          running--;
          if (handled.length === expected) allHandled.resolve();
        },
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('first\n');
      const line = `${'m'.repeat(999)}\n`;
      const written = await writeUntilBlocked(client, line);
      // The server stopped reading: what it took from the kernel is a small fraction of what was sent.
      assert.ok(session.bytesRead < 1024 * 1024, `read ${session.bytesRead} of ${written} bytes while held`);
      assert.deepEqual(handled, []);
      expected = 1 + written / line.length;
      gate.resolve();
      await within(allHandled.promise, 'every frame to be handled', 30_000);
      assert.equal(overlapped, false, 'never two frame handlers at once');
      assert.equal(handled[0], 'first');
      assert.ok(handled.slice(1).every((frame) => frame === line.slice(0, -1)));
    });

    it('ends only its own session when a frame handler throws or rejects', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        frame(session, line) {
          if (line === 'throw') throw new Error('sync failure');
          if (line === 'reject') return Promise.reject(new Error('async failure'));
          session.send(line);
        },
        close: (_session, reason) => closes.add(reason),
      }));
      server.on('error', (error) => closes.serverErrors.push(error));
      const port = server.addresses[0]!.port;
      const a = await connectClient(t, port);
      const b = await connectClient(t, port);
      const c = await connectClient(t, port);
      a.send('throw\n');
      b.send('reject\n');
      await closes.nth(2);
      assert.deepEqual(closes.reasons.map((reason) => [reason.cause, reason.error?.code]), [
        [CloseCause.HANDLER_ERROR, ErrorCode.HANDLER_FAILED],
        [CloseCause.HANDLER_ERROR, ErrorCode.HANDLER_FAILED],
      ]);
      assert.deepEqual(closes.serverErrors.map((error) => error.message.replace(/session \d+/, 'session N')).sort(), [
        'frame handler of session N failed: async failure',
        'frame handler of session N failed: sync failure',
      ]);
      c.send('alive\n');
      await c.waitForText('alive\n');
    });

    it('delivers a last unterminated frame at end of stream when the codec allows it, then ends', async (t) => {
      const closes = new Closes();
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ allowUnterminatedLine: true }), {
        frame: (session, line) => void session.send(`[${line}]`),
        close: (_session, reason) => closes.add(reason),
      }));
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.socket.end('a\nlast');
      await within(client.ended, 'the server to finish');
      assert.equal(client.received.toString(), '[a]\n[last]\n');
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.PEER_END);
      assert.equal(reason.error, undefined);
    });

    it('reports a frame cut short by the end of stream as SWB_ERR_BAD_FRAME', async (t) => {
      const closes = new Closes();
      const ended: string[] = [];
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        end: () => void ended.push('end'),
        close: (_session, reason) => closes.add(reason),
      }));
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.end('truncat');
      const reason = await closes.nth(1);
      assert.equal(reason.cause, CloseCause.PEER_END);
      assert.equal(reason.error?.code, ErrorCode.BAD_FRAME);
      assert.deepEqual(ended, [], 'no end handler on a session closed for bad input');
    });

    it('lets a frame handler broadcast encoded frames to everyone else', async (t) => {
      let server!: TcpServer;
      server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        frame(session, line) {
          if (line === 'hello') return void session.send('welcome');
          session.broadcast(session.codec.encode(`${session.id}: ${line}`));
        },
      }));
      const port = server.addresses[0]!.port;
      const clients = [await connectClient(t, port), await connectClient(t, port), await connectClient(t, port)];
      for (const client of clients) {
        client.send('hello\n');
        await client.waitForText('welcome\n');
      }
      clients[0]!.send('hi all\n');
      await clients[1]!.waitForText('hi all\n');
      await clients[2]!.waitForText('hi all\n');
      assert.equal(clients[0]!.received.toString(), 'welcome\n');
      assert.match(clients[1]!.received.toString(), /^welcome\n\d+: hi all\n$/);
    });

    it('checks its arguments at construction', () => {
      assert.throws(() => framed(42 as never, {}), InvalidOptionError);
      assert.throws(() => framed(() => createLineCodec(), null as never), InvalidOptionError);
      assert.throws(() => framed(() => createLineCodec(), {}, { partialFrameTimeout: -1 }), (error: unknown) => error instanceof InvalidOptionError && error.option === 'partialFrameTimeout');
      assert.throws(() => framed(() => createLineCodec({ maxLineLength: 0 }), {}), InvalidOptionError);
    });
  });
});
