import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, TcpServer, type TcpEventHandler } from '../../src/index.ts';
import { connectClient, listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** Answers each chunk with `tag` and the chunk. */
const tagged = (tag: string): TcpEventHandler => ({
  data(session, chunk) {
    session.write(`${tag}:${chunk.toString()}`);
  },
});

/** One connection: sends `ping`, half-closes, resolves with the reply (rejects on a refusal or reset). */
function exchange(host: string, port: number): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host, port }, () => socket.end('ping'));
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.once('error', reject);
      socket.once('close', (hadError) => (hadError ? undefined : resolve(text)));
    }),
    'an exchange',
  );
}

describe('TcpServer', () => {
  describe('#handOver', () => {
    for (const host of ['127.0.0.1', '::1']) {
      it(`gives the listening sockets to the next server without refusing a connection (${host})`, async (t) => {
        const old = await listenLocal(t, { host }, tagged('old'));
        const { port } = old.addresses[0]!;
        const open = await connectClient(t, port, host);
        open.send('a');
        await open.waitForText('old:a');
        const next = new TcpServer({ host, port: 0, idleTimeout: 1000 }, tagged('new'));
        t.after(() => next.destroy());
        // Two loops of connections run across the hand-over: every one is answered, by one server or the other.
        let handedOver = false;
        const replies: string[] = [];
        const loop = async (): Promise<void> => {
          for (let i = 0; i < 200 && !(handedOver && replies.filter((reply) => reply === 'new:ping').length >= 10); i++) replies.push(await exchange(host, port));
        };
        const loops = [loop(), loop()];
        await within(
          new Promise<void>((resolve) => {
            const check = (): void => (replies.length >= 10 ? resolve() : void setImmediate(check));
            check();
          }),
          'ten exchanges with the old server',
        );
        const addresses = await old.handOver(next);
        handedOver = true;
        assert.equal(addresses[0]!.port, port, 'the same socket, the same port');
        await Promise.all(loops);
        assert.ok(replies.every((reply) => reply === 'old:ping' || reply === 'new:ping'), replies.join(' '));
        assert.ok(replies.includes('new:ping'));
        assert.equal(next.state, 'listening');
        assert.equal(old.stats().listeners, 0);
        assert.equal(next.stats().listeners, 1);
        assert.deepEqual(old.addresses, []);
        // The old server keeps its session until it is closed.
        open.send('b');
        assert.equal(await open.waitForText('old:b'), 'old:aold:b');
        await old.close();
        assert.equal(await exchange(host, port), 'new:ping', 'closing the old server leaves the sockets open');
        await next.close();
        await assert.rejects(exchange(host, port), { code: 'ECONNREFUSED' });
      });
    }

    it('refuses a next server whose per-connection socket options differ, changing nothing', async (t) => {
      const old = await listenLocal(t, {}, tagged('old'));
      const next = new TcpServer({ noDelay: true }, tagged('new'));
      await assert.rejects(old.handOver(next), { code: ErrorCode.INVALID_OPTION, message: /noDelay/ });
      assert.equal(await exchange('127.0.0.1', old.addresses[0]!.port), 'old:ping');
      assert.equal(next.state, 'idle');
    });

    it('needs a listening server and an idle next one', async (t) => {
      const idle = new TcpServer({}, tagged('a'));
      await assert.rejects(idle.handOver(new TcpServer({}, tagged('b'))), { code: ErrorCode.SERVER_CLOSED });
      const old = await listenLocal(t, {}, tagged('old'));
      const other = await listenLocal(t, {}, tagged('other'));
      await assert.rejects(old.handOver(other), { code: ErrorCode.ALREADY_LISTENING });
      await assert.rejects(old.handOver(old), { code: ErrorCode.INVALID_OPTION });
    });
  });
});
