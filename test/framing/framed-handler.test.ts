/**
 * What `framed()` returns and how the server serves it: the framed session classes, their own
 * decode loop, and a graceful close that waits for every frame handler.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLineCodec } from '../../src/codecs/index.ts';
import { FramedAsyncSession, FramedEventSession, InvalidOptionError, framed, type TcpSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

describe('framed', () => {
  it('serves each style with its framed session class, announced by the session event', async (t) => {
    const kinds: string[] = [];
    const record = (session: TcpSession): void => {
      kinds.push(session instanceof FramedEventSession ? 'event' : session instanceof FramedAsyncSession ? 'async' : 'other');
    };
    const events = await listenLocal(t, {}, framed(() => createLineCodec(), { frame: (session, line) => void session.send(line) }));
    const functions = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
      for await (const line of session.frames()) await session.send(line);
    }));
    events.on('session', record);
    functions.on('session', record);
    for (const server of [events, functions]) {
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('hi\n');
      await client.waitForText('hi\n');
    }
    assert.deepEqual(kinds, ['event', 'async']);
  });

  it('refuses a data callback among event handlers: frames arrive in frame()', () => {
    assert.throws(
      () => framed(() => createLineCodec(), { data() {} } as never),
      (error: unknown) => error instanceof InvalidOptionError && error.option === 'handler.data',
    );
  });

  it('keeps the user\'s handler object as `this` in its callbacks', async (t) => {
    const opened = deferred<boolean>();
    const handler = {
      greeting: 'hello',
      open(this: { greeting: string }, session: FramedEventSession<string | Uint8Array, string>) {
        session.send(this.greeting);
        opened.resolve(this === handler);
      },
    };
    const server = await listenLocal(t, {}, framed(() => createLineCodec(), handler));
    const client = await connectClient(t, server.addresses[0]!.port);
    assert.equal(await within(opened.promise, 'open'), true);
    await client.waitForText('hello\n');
  });

  describe('graceful close', () => {
    it('waits for an async frame handler of the last frame, delivered at the end of stream', async (t) => {
      const gate = deferred();
      const handling = deferred();
      const server = await listenLocal(t, {}, framed(() => createLineCodec({ allowUnterminatedLine: true }), {
        async frame(session, line) {
          handling.resolve();
          await gate.promise;
          session.send(`[${line}]`);
        },
      }));
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
      client.socket.end('last'); // no line ending: the codec delivers it at the FIN
      await within(handling.promise, 'the frame handler to start');
      const closing = server.close({ timeout: 5000 });
      gate.resolve();
      await within(closing, 'the server to close');
      await client.waitForText('[last]\n', 2000);
      assert.equal(client.received.toString(), '[last]\n');
    });
  });
});
