import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TcpServer, TcpSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, within, type TestClient } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { servedClient } from './admission-helpers.ts';

/** Clients each proven served, with the server sessions in the same order. */
async function openClients(t: Parameters<typeof servedClient>[0], server: TcpServer, count: number): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await servedClient(t, server.addresses[0]!.port));
  return clients;
}

describe('TcpServer', () => {
  describe('#broadcast', () => {
    it('reaches every open session and returns how many', async (t) => {
      const server = await listenLocal(t, {}, { data: (session, chunk) => void session.write(chunk) });
      const clients = await openClients(t, server, 3);
      assert.equal(server.broadcast('all\n'), 3);
      for (const client of clients) await client.waitForBytes(4 + 4);
      for (const client of clients) assert.equal(client.received.toString(), 'pingall\n');
      assert.equal(server.broadcast([Buffer.from('a'), Buffer.from('b')]), 3);
      for (const client of clients) assert.equal((await client.waitForBytes(10)).toString(), 'pingall\nab');
    });

    it('skips the session whose handler calls it, unless told otherwise', async (t) => {
      let server!: TcpServer;
      const counts: number[] = [];
      server = await listenLocal(t, {}, {
        data(session, chunk) {
          const text = chunk.toString();
          if (text === 'ping') return void session.write(chunk);
          counts.push(server.broadcast(`${text}\n`, text === 'everyone' ? { except: null } : {}));
        },
      });
      const [speaker, a, b] = await openClients(t, server, 3);
      speaker!.send('hello');
      await a!.waitForText('hello\n');
      await b!.waitForText('hello\n');
      speaker!.send('everyone');
      await speaker!.waitForText('everyone\n');
      assert.deepEqual(counts, [2, 3]);
      assert.equal(speaker!.received.toString(), 'pingeveryone\n');
    });

    it('skips the explicit except session from outside any handler', async (t) => {
      const server = await listenLocal(t, {}, { data: (session, chunk) => void session.write(chunk) });
      const [first, second] = await openClients(t, server, 2);
      const [firstSession] = server.sessions();
      assert.equal(server.broadcast('x', { except: firstSession! }), 1);
      await second!.waitForText('pingx');
      assert.equal(first!.received.toString(), 'ping');
    });

    it('skips an async session function\'s own session across awaits', async (t) => {
      let server!: TcpServer;
      const reached = deferred<number>();
      server = await listenLocal(t, {}, async (session) => {
        for await (const chunk of session) {
          if (chunk.toString() === 'ping') await session.write(chunk);
          else {
            await new Promise((resolve) => setImmediate(resolve));
            reached.resolve(server.broadcast(chunk));
          }
        }
      });
      const [speaker, listener] = await openClients(t, server, 2);
      speaker!.send('news');
      assert.equal(await within(reached.promise, 'the broadcast'), 1);
      await listener!.waitForText('pingnews');
      assert.equal(speaker!.received.toString(), 'ping');
    });

    it('does not count sessions that have ended or closed', async (t) => {
      const ended = deferred<TcpSession>();
      const server = await listenLocal(t, {}, {
        data(session, chunk) {
          if (chunk.toString() === 'bye') session.end();
          else session.write(chunk);
        },
        close: (session) => ended.resolve(session),
      });
      const [leaving] = await openClients(t, server, 2);
      leaving!.send('bye');
      await within(leaving!.ended, 'our FIN');
      assert.equal(server.broadcast('x'), 1);
      leaving!.socket.end();
      await within(ended.promise, 'the session to close');
      assert.equal(server.broadcast('x'), 1);
      const late = await connectClient(t, server.addresses[0]!.port);
      late.send('ping');
      await late.waitForText('ping');
      assert.equal(server.broadcast('y'), 2);
    });
  });
});
