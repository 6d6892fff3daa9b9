/** The CLI's set of servers: closing TCP and UDP together, within the command's drain timeout. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerSet } from '../../src/cli/server-set.ts';
import { deferred, listenLocal, within } from '../helpers/net.ts';
import { listenUdpLocal, udpClient } from '../udp/helpers/udp.ts';

describe('ServerSet', () => {
  describe('#close', () => {
    it("cuts a UDP handler that never settles at the drain timeout, not the library's 10 s default", async (t) => {
      const entered = deferred();
      const tcp = await listenLocal(t);
      const udp = await listenUdpLocal(t, {}, () => {
        entered.resolve();
        return new Promise<void>(() => {});
      });
      const client = await udpClient(t);
      await client.send('slow', udp.addresses[0]!.port, '127.0.0.1');
      await within(entered.promise, 'the handler to start');

      const servers = new ServerSet([{ name: 'slow', tcp, udp }]);
      await within(servers.close(300), 'the close to end at the 300 ms drain timeout');
      assert.deepEqual([udp.state, udp.stats().listeners, udp.stats().inFlight], ['closed', 0, 1], 'closed with the handler still pending');
      assert.equal(tcp.state, 'closed');
    });
  });
});
