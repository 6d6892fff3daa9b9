import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ErrorCode, TcpServer, listen } from '../../src/index.ts';
import { assertNoLeakedHandles, connectClient, listenLocal, openNetworkHandles, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

const echo = { data: (session: { write(chunk: Buffer): unknown }, chunk: Buffer) => void session.write(chunk) };

describe('TcpServer', () => {
  describe('#close', () => {
    it('emits listening, session, idle and close in order, and shares one completion', async (t) => {
      const events: string[] = [];
      const server = new TcpServer({ host: '127.0.0.1' }, echo);
      t.after(() => server.destroy());
      for (const name of ['listening', 'session', 'empty', 'close'] as const) server.on(name, () => events.push(name));
      await server.listen();
      const client = await connectClient(t, server.addresses[0]!.port);
      client.send('x');
      await client.waitForBytes(1);
      await client.close();
      await within(once(server, 'empty'), 'empty');
      const first = server.close();
      const second = server.close({ timeout: 5 });
      const third = server.destroy();
      assert.equal(first, second);
      assert.equal(first, third);
      await within(first, 'close');
      assert.deepEqual(events, ['listening', 'session', 'empty', 'close']);
      assert.equal(server.state, 'closed');
      await within(server.closed, 'the closed promise');
    });

    it('closes a server that never listened', async () => {
      const server = new TcpServer({ host: '127.0.0.1' });
      await within(server.close(), 'close');
      assert.equal(server.state, 'closed');
      await assert.rejects(server.listen(), { code: ErrorCode.SERVER_CLOSED });
    });

    it('stops accepting before it ends sessions: new connections are refused while closing', async (t) => {
      const server = await listenLocal(t, {}, echo);
      const port = server.addresses[0]!.port;
      const client = await connectClient(t, port, '127.0.0.1', { allowHalfOpen: true });
      const closing = server.close({ timeout: 2000 });
      assert.equal(server.stats().listeners, 0);
      await assert.rejects(connectClient(t, port), { code: 'ECONNREFUSED' });
      await within(client.ended, 'FIN');
      client.socket.end();
      await within(closing, 'close');
    });

    it('rejects a bad timeout naming the option', async (t) => {
      const server = await listenLocal(t, {}, echo);
      assert.throws(() => server.close({ timeout: -1 }), { code: ErrorCode.INVALID_OPTION, message: '`timeout` must be a number of milliseconds from 0 to 2147483647, or Infinity for no deadline, got -1' });
    });
  });

  describe('signal', () => {
    it('closes the server when the signal aborts', async () => {
      const before = openNetworkHandles();
      const controller = new AbortController();
      const server = await listen({ host: '127.0.0.1', signal: controller.signal }, echo);
      controller.abort();
      await within(server.closed, 'close on abort');
      assert.equal(server.state, 'closed');
      await assertNoLeakedHandles(before);
    });

    it('never listens when the signal is already aborted', async () => {
      const server = new TcpServer({ host: '127.0.0.1', signal: AbortSignal.abort() }, echo);
      await assert.rejects(server.listen(), { code: ErrorCode.SERVER_CLOSED });
    });
  });

  describe('[Symbol.asyncDispose]', () => {
    it('closes the server at the end of an await using block', async () => {
      const before = openNetworkHandles();
      let observed: TcpServer | undefined;
      {
        await using server = await listen({ host: '127.0.0.1' }, echo);
        observed = server;
        assert.equal(server.state, 'listening');
      }
      assert.equal(observed.state, 'closed');
      await assertNoLeakedHandles(before);
    });
  });

  describe('#stats', () => {
    it('counts bytes in and out across open and closed sessions', async (t) => {
      const server = await listenLocal(t, {}, echo);
      const a = await connectClient(t, server.addresses[0]!.port);
      a.send('12345');
      await a.waitForBytes(5);
      await a.close();
      const b = await connectClient(t, server.addresses[0]!.port);
      b.send('123');
      await b.waitForBytes(3);
      const stats = server.stats();
      assert.equal(stats.bytesIn, 8);
      assert.equal(stats.bytesOut, 8);
      assert.equal(stats.accepted, 2);
    });
  });
});
