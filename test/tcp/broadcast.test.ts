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

/** Echoes `ping`; broadcasts anything else with `broadcast`, recording how many sessions each reached. */
async function broadcastingServer(
  t: Parameters<typeof servedClient>[0],
  broadcast: (server: TcpServer, session: TcpSession, text: string) => number,
): Promise<{ server: TcpServer; counts: number[] }> {
  let server!: TcpServer;
  const counts: number[] = [];
  server = await listenLocal(t, {}, {
    data(session, chunk) {
      const text = chunk.toString();
      if (text === 'ping') return void session.write(chunk);
      counts.push(broadcast(server, session, text));
    },
  });
  return { server, counts };
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

    it('reaches every session, the caller\'s own included, when called from a handler', async (t) => {
      const { server, counts } = await broadcastingServer(t, (server, _session, text) => server.broadcast(`${text}\n`));
      const [speaker, a, b] = await openClients(t, server, 3);
      speaker!.send('hello');
      for (const client of [speaker!, a!, b!]) await client.waitForText('hello\n');
      assert.deepEqual(counts, [3]);
      assert.equal(speaker!.received.toString(), 'pinghello\n');
    });

    it('skips only the except session; null skips none', async (t) => {
      const { server, counts } = await broadcastingServer(t, (server, session, text) => server.broadcast(`${text}\n`, { except: text === 'everyone' ? null : session }));
      const [speaker, a] = await openClients(t, server, 2);
      speaker!.send('others');
      await a!.waitForText('others\n');
      speaker!.send('everyone');
      await speaker!.waitForText('everyone\n');
      assert.deepEqual(counts, [1, 2]);
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

  describe('session.broadcast', () => {
    it('skips its own session, before and after an await in an event handler alike', async (t) => {
      let server!: TcpServer;
      const counts: number[] = [];
      server = await listenLocal(t, {}, {
        async data(session, chunk) {
          const text = chunk.toString();
          if (text === 'ping') return void session.write(chunk);
          if (text === 'done') return void server.broadcast('done\n');
          counts.push(session.broadcast(`${text}-before\n`));
          await new Promise((resolve) => setImmediate(resolve));
          counts.push(session.broadcast(`${text}-after\n`));
        },
      });
      const [speaker, a, b] = await openClients(t, server, 3);
      speaker!.send('news');
      await a!.waitForText('news-after\n');
      await b!.waitForText('news-after\n');
      speaker!.send('done'); // reaches everyone, so it comes after anything else sent to the speaker
      for (const client of [speaker!, a!]) await client.waitForText('done\n');
      assert.deepEqual(counts, [2, 2]);
      assert.equal(speaker!.received.toString(), 'pingdone\n');
      assert.equal(a!.received.toString(), 'pingnews-before\nnews-after\ndone\n');
    });

    it('skips an async session function\'s own session across awaits; server.broadcast there reaches all', async (t) => {
      let server!: TcpServer;
      const reached: number[] = [];
      server = await listenLocal(t, {}, async (session) => {
        for await (const chunk of session) {
          const text = chunk.toString();
          if (text === 'ping') await session.write(chunk);
          else if (text === 'all') reached.push(server.broadcast('all\n'));
          else {
            await new Promise((resolve) => setImmediate(resolve));
            reached.push(session.broadcast(chunk));
          }
        }
      });
      const [speaker, listener] = await openClients(t, server, 2);
      speaker!.send('news');
      await listener!.waitForText('pingnews');
      speaker!.send('all');
      await speaker!.waitForText('all\n');
      await listener!.waitForText('all\n');
      assert.deepEqual(reached, [1, 2]);
      assert.equal(speaker!.received.toString(), 'pingall\n');
    });
  });
});
