import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission } from '../../src/tcp/admission.ts';
import { normalizeLimitOptions } from '../../src/tcp/limit-options.ts';
import { ErrorCode, InvalidOptionError, RejectCause, TcpServer, type ConnectionInfo } from '../../src/index.ts';
import { listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { echo, refusedClient, servedClient } from './admission-helpers.ts';

function peer(remoteAddress: string): ConnectionInfo {
  const remoteFamily = remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
  return { remoteAddress, remotePort: 1, remoteFamily, localAddress: '::', localPort: 2, localFamily: 'IPv6' };
}

describe('TcpServer', () => {
  describe('#throttle', () => {
    it('refuses connections over maxConnections with a rejected event and the busy message', async (t) => {
      const server = await listenLocal(t, { maxConnections: 2, busyMessage: 'BUSY\r\n' }, echo);
      const port = server.addresses[0]!.port;
      const first = await servedClient(t, port);
      const [firstSession] = server.sessions();
      await servedClient(t, port);
      const { rejection, received } = await refusedClient(t, server);
      assert.equal(rejection.cause, RejectCause.MAX_CONNECTIONS);
      assert.equal(rejection.info.remoteAddress, '127.0.0.1');
      assert.equal(received, 'BUSY\r\n');
      assert.equal(server.stats().rejected, 1);
      // A slot that frees up is taken by the next client.
      await first.close();
      await within(firstSession!.closed, 'the first session to close');
      await servedClient(t, port);
    });

    it('never evicts when a limit is lowered, and admits again when it is raised', async (t) => {
      const server = await listenLocal(t, {}, echo);
      const port = server.addresses[0]!.port;
      const clients = [await servedClient(t, port), await servedClient(t, port), await servedClient(t, port)];
      const limits = server.throttle({ maxConnections: 1 });
      assert.deepEqual(limits, { maxConnections: 1, maxConnectionsPerAddress: 0, acceptRate: 0, acceptBurst: 0 });
      for (const client of clients) {
        client.send('still');
        await client.waitForText('still');
      }
      assert.equal(server.stats().sessions, 3);
      assert.equal((await refusedClient(t, server)).rejection.cause, RejectCause.MAX_CONNECTIONS);
      server.throttle({ maxConnections: 0 });
      await servedClient(t, port);
      assert.equal(server.stats().sessions, 4);
    });

    it('counts connections per address: a second from 127.0.0.1 is refused, one from 127.0.0.2 is not', async (t) => {
      const server = await listenLocal(t, { host: '0.0.0.0', maxConnectionsPerAddress: 1 }, echo);
      const port = server.addresses[0]!.port;
      await servedClient(t, port, '127.0.0.1');
      const { rejection, received } = await refusedClient(t, server, '127.0.0.1');
      assert.equal(rejection.cause, RejectCause.MAX_CONNECTIONS_PER_ADDRESS);
      assert.equal(received, '', 'no busy message unless one is configured');
      await servedClient(t, port, '127.0.0.2');
    });

    it('refuses connections arriving faster than acceptRate once the burst is spent', async (t) => {
      const server = await listenLocal(t, { acceptRate: 0.001, acceptBurst: 2 }, echo);
      const port = server.addresses[0]!.port;
      await servedClient(t, port);
      await servedClient(t, port);
      assert.equal((await refusedClient(t, server)).rejection.cause, RejectCause.ACCEPT_RATE);
      server.throttle({ acceptRate: 0 });
      await servedClient(t, port);
    });

    it('checks the address lists and the limits before the accept handler, which is asked only about admissible peers', async (t) => {
      const asked: string[] = [];
      const server = await listenLocal(t, { maxConnections: 1, deny: ['127.0.0.3'] }, {
        ...echo,
        accept(info) {
          asked.push(info.remoteAddress);
        },
      });
      const port = server.addresses[0]!.port;
      await servedClient(t, port);
      assert.equal((await refusedClient(t, server, '127.0.0.2')).rejection.cause, RejectCause.MAX_CONNECTIONS);
      assert.equal((await refusedClient(t, server, '127.0.0.3')).rejection.cause, RejectCause.DENIED);
      assert.deepEqual(asked, ['127.0.0.1']);
    });

    it('throws a named error for a bad limit and changes nothing', (t) => {
      const server = new TcpServer({ maxConnections: 5 });
      t.after(() => server.destroy());
      for (const [name, value] of [['maxConnections', -1], ['maxConnectionsPerAddress', 1.5], ['acceptRate', Number.NaN], ['acceptBurst', '3']] as const) {
        assert.throws(() => server.throttle({ maxConnections: 9, [name]: value }), (error: unknown) => {
          assert.ok(error instanceof InvalidOptionError);
          assert.equal(error.option, name);
          return true;
        });
      }
      assert.equal(server.throttle().maxConnections, 5);
    });
  });

  describe('limit options', () => {
    it('throw a named error at construction', () => {
      const cases: [string, unknown][] = [
        ['maxConnections', -1],
        ['acceptRate', -2],
        ['perAddressIPv6Prefix', 0],
        ['perAddressIPv6Prefix', 129],
        ['busyMessage', 42],
        ['busyMessage', 'x'.repeat(4097)],
        ['allow', ['localhost']],
        ['deny', '198.18.0.1'],
        ['maxBufferedOutput', -1],
        ['highWaterMark', 0],
        ['firstByteTimeout', -5],
        ['maxLifetime', Number.POSITIVE_INFINITY],
      ];
      for (const [option, value] of cases) {
        assert.throws(() => new TcpServer({ [option]: value }), (error: unknown) => {
          assert.ok(error instanceof InvalidOptionError, `${option}: ${String(error)}`);
          assert.equal(error.code, ErrorCode.INVALID_OPTION);
          assert.equal(error.option, option);
          return true;
        });
      }
    });
  });
});

describe('Admission', () => {
  it('counts IPv6 peers per address by default and per /64 when asked', () => {
    const exact = new Admission(normalizeLimitOptions({ maxConnectionsPerAddress: 1 }));
    assert.equal(exact.admit(peer('2001:db8:0:1::a'), 0), undefined);
    assert.equal(exact.admit(peer('2001:db8:0:1::b'), 1), undefined);
    assert.equal(exact.admit(peer('2001:db8:0:1::a'), 2), RejectCause.MAX_CONNECTIONS_PER_ADDRESS);

    const perPrefix = new Admission(normalizeLimitOptions({ maxConnectionsPerAddress: 1, perAddressIPv6Prefix: 64 }));
    assert.equal(perPrefix.admit(peer('2001:db8:0:1::a'), 0), undefined);
    assert.equal(perPrefix.admit(peer('2001:db8:0:1::b'), 1), RejectCause.MAX_CONNECTIONS_PER_ADDRESS);
    assert.equal(perPrefix.admit(peer('2001:db8:0:2::a'), 1), undefined);
    perPrefix.released('2001:db8:0:1::a');
    assert.equal(perPrefix.admit(peer('2001:db8:0:1::ffff'), 1), undefined);
  });

  it('counts an IPv4-mapped peer and its IPv4 form as one address', () => {
    const admission = new Admission(normalizeLimitOptions({ maxConnectionsPerAddress: 1 }));
    assert.equal(admission.admit(peer('192.0.2.1'), 0), undefined);
    assert.equal(admission.admit(peer('::ffff:192.0.2.1'), 1), RejectCause.MAX_CONNECTIONS_PER_ADDRESS);
    assert.equal(admission.openFrom('::ffff:192.0.2.1'), 1);
  });

  it('counts sessions while the per-address limit is off, so a limit set later is exact', () => {
    const admission = new Admission(normalizeLimitOptions({}));
    for (let i = 0; i < 3; i++) assert.equal(admission.admit(peer('192.0.2.9'), i), undefined);
    admission.throttle({ maxConnectionsPerAddress: 3 });
    assert.equal(admission.admit(peer('192.0.2.9'), 3), RejectCause.MAX_CONNECTIONS_PER_ADDRESS);
    admission.released('192.0.2.9');
    assert.equal(admission.admit(peer('192.0.2.9'), 2), undefined);
  });

  it('spends no accept-rate token on a connection another limit refuses', () => {
    const admission = new Admission(normalizeLimitOptions({ maxConnections: 1, acceptRate: 0.001, acceptBurst: 1 }));
    assert.equal(admission.admit(peer('192.0.2.1'), 1), RejectCause.MAX_CONNECTIONS);
    assert.equal(admission.admit(peer('192.0.2.1'), 0), undefined);
    assert.equal(admission.admit(peer('192.0.2.1'), 0), RejectCause.ACCEPT_RATE);
  });

  it('sends the busy message only to peers refused for capacity', () => {
    const admission = new Admission(normalizeLimitOptions({ busyMessage: 'busy' }));
    for (const reason of [RejectCause.SUSPENDED, RejectCause.MAX_CONNECTIONS, RejectCause.MAX_CONNECTIONS_PER_ADDRESS, RejectCause.ACCEPT_RATE]) {
      assert.equal(admission.busyMessageFor(reason)?.toString(), 'busy', reason);
    }
    for (const reason of [RejectCause.DENIED, RejectCause.NOT_ALLOWED, RejectCause.ACCEPT_HOOK, RejectCause.CLOSING]) {
      assert.equal(admission.busyMessageFor(reason), undefined, reason);
    }
  });
});
