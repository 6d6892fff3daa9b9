import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, UdpServer, listenUdp, type Datagram } from '../../src/index.ts';
import { assertNoLeakedHandles, deferred, openNetworkHandles, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { echo, listenUdpLocal, roundTrip, udpClient, until } from './helpers/udp.ts';

function timers(): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
}

describe('UdpServer close', () => {
  describe('#close', () => {
    it('closes every socket and leaves no handle or timer behind', async (t) => {
      const handles = openNetworkHandles();
      const timersBefore = timers();
      const server = await listenUdp({ host: ['localhost', '127.0.0.2'], port: 0, maxDatagramSize: 4, dropReportInterval: 60_000 }, echo);
      assert.equal(openNetworkHandles().length, handles.length + 3);
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      assert.equal((await roundTrip(client, 'hi', port, '127.0.0.1')).data.toString(), 'hi');
      await client.send('too large', port, '127.0.0.1'); // starts the drop-report timer
      await until(() => server.stats().dropped['too-large'] === 1, 'the drop');
      await client.close();
      await server.close();
      assert.equal(server.state, 'closed');
      assert.equal(server.stats().listeners, 0);
      await assertNoLeakedHandles(handles);
      assert.equal(timers(), timersBefore);
    });

    it("closes a per-interface '*' group completely", async () => {
      const handles = openNetworkHandles();
      const server = await listenUdp({ host: '*', port: 0 }, echo);
      assert.ok(server.addresses.length >= 1);
      await server.close();
      await assertNoLeakedHandles(handles);
    });

    it('waits for a pending async handler to reply before closing the socket', async (t) => {
      const release = deferred();
      const entered = deferred();
      const server = await listenUdpLocal(t, {}, async (datagram) => {
        entered.resolve();
        await release.promise;
        datagram.reply(datagram.data);
      });
      const client = await udpClient(t);
      await client.send('late', server.addresses[0]!.port, '127.0.0.1');
      await within(entered.promise, 'the handler to start');
      let closed = false;
      const closing = server.close().then(() => {
        closed = true;
      });
      assert.equal(server.state, 'closing');
      assert.equal(server.stats().inFlight, 1);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(closed, false);
      release.resolve();
      assert.equal((await client.next('the late reply')).data.toString(), 'late');
      await within(closing, 'close to finish');
      assert.deepEqual([server.stats().listeners, server.stats().datagramsOut], [0, 1]);
    });

    it('gives up on handlers at the deadline', async (t) => {
      const never = new Promise<void>(() => {});
      const server = await listenUdpLocal(t, {}, () => never);
      const client = await udpClient(t);
      await client.send('stuck', server.addresses[0]!.port, '127.0.0.1');
      await until(() => server.stats().inFlight === 1, 'the handler to start');
      await within(server.close({ timeout: 20 }), 'close with a short deadline');
      assert.equal(server.stats().listeners, 0);
    });

    it('refuses replies once the socket is closed, counting them', async (t) => {
      const kept = deferred<Datagram>();
      const server = await listenUdpLocal(t, {}, (datagram) => kept.resolve(datagram));
      const client = await udpClient(t);
      await client.send('keep', server.addresses[0]!.port, '127.0.0.1');
      const datagram = await within(kept.promise, 'the datagram');
      await server.close();
      assert.equal(datagram.reply('too late'), false);
      assert.equal(server.stats().dropped.closed, 1);
    });

    it('is idempotent: every caller shares one completion, and close is emitted once', async (t) => {
      const server = await listenUdpLocal(t, {}, echo);
      let closes = 0;
      server.on('close', () => closes++);
      const first = server.close();
      const second = server.close({ timeout: 5 });
      const third = server.destroy();
      await Promise.all([first, second, third]);
      await server.closed;
      assert.equal(closes, 1);
      assert.equal(server.state, 'closed');
    });

    it('gives the sockets back when closed while binding', async () => {
      const handles = openNetworkHandles();
      const server = new UdpServer({ host: 'localhost', port: 0 }, echo);
      const listening = server.listen();
      const closing = server.close();
      await assert.rejects(listening, { code: ErrorCode.SERVER_CLOSED });
      await within(closing, 'close');
      assert.equal(server.stats().listeners, 0);
      await assertNoLeakedHandles(handles);
    });

    it('closes a server that never listened', async () => {
      const server = new UdpServer({}, echo);
      await server.close();
      assert.equal(server.state, 'closed');
      await assert.rejects(server.listen(), { code: ErrorCode.SERVER_CLOSED });
    });
  });

  describe('#destroy', () => {
    it('closes at once without waiting for handlers', async (t) => {
      const server = await listenUdpLocal(t, {}, () => new Promise<void>(() => {}));
      const client = await udpClient(t);
      await client.send('x', server.addresses[0]!.port, '127.0.0.1');
      await until(() => server.stats().inFlight === 1, 'the handler to start');
      await within(server.destroy(), 'destroy');
      assert.equal(server.stats().listeners, 0);
    });
  });

  describe('cancellation', () => {
    it('closes when its signal aborts', async () => {
      const controller = new AbortController();
      const server = await listenUdp({ host: '127.0.0.1', signal: controller.signal }, echo);
      controller.abort();
      await within(server.closed, 'the server to close');
      assert.equal(server.state, 'closed');
    });

    it('closes at the end of an await using block', async () => {
      let server: UdpServer | undefined;
      {
        await using udp = await listenUdp({ host: '127.0.0.1' }, echo);
        server = udp;
        assert.equal(udp.state, 'listening');
      }
      assert.equal(server.state, 'closed');
    });
  });

  describe('handles', () => {
    it('leaves no handle when listen fails', async (t) => {
      const taken = await listenUdpLocal(t, {}, echo);
      const handles = openNetworkHandles();
      const server = new UdpServer({ host: ['127.0.0.2', '127.0.0.1'], port: taken.addresses[0]!.port }, echo);
      await assert.rejects(server.listen(), { code: ErrorCode.ADDRESS_IN_USE });
      await assertNoLeakedHandles(handles);
    });
  });
});
