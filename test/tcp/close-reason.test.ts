/**
 * One cause, its own error or none: a later event's error never joins an earlier cause (a
 * server close is not a bad frame; a peer that ended and then went away did not reset mid-stream).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloseCause, createLineCodec, framed, type CloseReason, type EventSession, type SwitchboardError } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, until, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** The session closed with `cause` and no error, and nothing was reported to an error handler. */
async function assertOneCause(closed: Promise<CloseReason>, cause: CloseCause, errors: readonly SwitchboardError[]): Promise<void> {
  const reason = await within(closed, 'the session to close');
  assert.equal(reason.cause, cause);
  assert.equal(reason.error, undefined);
  assert.deepEqual(errors, []);
}

describe('CloseReason', () => {
  it('is server-close without an error when the server closes a framed session holding a partial line', async (t) => {
    const closed = deferred<CloseReason>();
    const errors: SwitchboardError[] = [];
    const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
      frame: (session, line) => void session.send(line),
      error: (_session, error) => void errors.push(error),
      close: (_session, reason) => closed.resolve(reason),
    }));
    server.on('error', (error) => errors.push(error));
    const client = await connectClient(t, server.addresses[0]!.port);
    client.send('whole\nhalf a li');
    await client.waitForText('whole\n');
    await until(() => server.stats().bytesIn === 15, 'the partial line to arrive');
    await within(server.close({ timeout: 5000 }), 'the graceful close'); // the peer answers our FIN with its own
    await assertOneCause(closed.promise, CloseCause.SERVER_CLOSE, errors); // no error handler for a client caught mid-line by a deploy
  });

  it('is server-close without an error for a framed session function waiting on a partial frame', async (t) => {
    const closed = deferred<CloseReason>();
    const errors: SwitchboardError[] = [];
    const server = await listenLocal(t, {}, framed(() => createLineCodec(), async (session) => {
      void session.closed.then((reason) => closed.resolve(reason));
      for await (const line of session.frames()) await session.send(line);
    }));
    server.on('error', (error) => errors.push(error));
    const client = await connectClient(t, server.addresses[0]!.port);
    client.send('whole\nhalf a li');
    await client.waitForText('whole\n');
    await until(() => server.stats().bytesIn === 15, 'the partial line to arrive');
    await within(server.close({ timeout: 5000 }), 'the graceful close');
    await assertOneCause(closed.promise, CloseCause.SERVER_CLOSE, errors);
  });

  it('is peer-end without an error when a peer that half-closed then goes away', async (t) => {
    const closed = deferred<CloseReason>();
    const ended = deferred<EventSession>();
    const errors: SwitchboardError[] = [];
    const server = await listenLocal(t, {}, {
      end: (session) => ended.resolve(session), // keeps the session open after the peer's FIN
      error: (_session, error) => void errors.push(error),
      close: (_session, reason) => closed.resolve(reason),
    });
    const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
    client.socket.end();
    const session = await within(ended.promise, 'the end handler');
    client.socket.resetAndDestroy();
    await within(client.closed, 'the reset');
    session.write('anyone there?\n'); // meets the reset: ECONNRESET or EPIPE
    await assertOneCause(closed.promise, CloseCause.PEER_END, errors);
  });

  it('keeps the error of the cause it belongs to: peer-end with SWB_ERR_BAD_FRAME for a stream ended mid-frame', async (t) => {
    const closed = deferred<CloseReason>();
    const server = await listenLocal(t, {}, framed(() => createLineCodec(), { close: (_session, reason) => closed.resolve(reason) }));
    const client = await connectClient(t, server.addresses[0]!.port);
    client.socket.end('cut sho');
    const reason = await within(closed.promise, 'the session to close');
    assert.equal(reason.cause, CloseCause.PEER_END);
    assert.equal(reason.error?.code, 'SWB_ERR_BAD_FRAME');
  });
});
