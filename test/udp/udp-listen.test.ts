import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { ErrorCode, InvalidOptionError, ListenError, UdpServer, listenUdp, supportsReusePort, type Datagram } from '../../src/index.ts';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { expandWildcardTargets, readUnbindableIPv6Addresses } from '../../src/net/interface-addresses.ts';
import { assertNoLeakedHandles, deferred, openNetworkHandles, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { echo, listenUdpLocal, roundTrip, udpClient } from './helpers/udp.ts';

interface Seen {
  remoteAddress: string;
  remotePort: number;
  remoteFamily: string;
  localAddress: string;
  localPort: number;
  localFamily: string;
  data: string;
}

function describeDatagram(datagram: Datagram): Seen {
  const { remoteAddress, remotePort, remoteFamily, localAddress, localPort, localFamily } = datagram;
  return { remoteAddress, remotePort, remoteFamily, localAddress, localPort, localFamily, data: datagram.data.toString() };
}

/** A handler that echoes and records what it saw. */
function recordingEcho(): { handler: { message(datagram: Datagram): void }; seen: Seen[] } {
  const seen: Seen[] = [];
  return {
    seen,
    handler: {
      message(datagram) {
        seen.push(describeDatagram(datagram));
        datagram.reply(datagram.data);
      },
    },
  };
}

/** What per-interface mode is expected to bind here, from the same pure expansion. */
function interfaceAddresses(family?: 'IPv4' | 'IPv6'): string[] {
  const wildcards = [
    { host: '0.0.0.0', family: 'IPv4' as const, ipv6Only: false, requested: '*', literal: false },
    { host: '::', family: 'IPv6' as const, ipv6Only: true, requested: '*', literal: false },
  ].filter((target) => family === undefined || target.family === family);
  return expandWildcardTargets(wildcards, networkInterfaces(), readUnbindableIPv6Addresses()).targets.map((target) => target.host);
}

describe('UdpServer', () => {
  describe('#listen', () => {
    it('serves on 127.0.0.1 with a port chosen by the kernel, reporting both ends of each datagram', async (t) => {
      const { handler, seen } = recordingEcho();
      const server = await listenUdpLocal(t, {}, handler);
      assert.equal(server.state, 'listening');
      const [bound] = server.addresses;
      assert.deepEqual({ ...bound, port: 0 }, { address: '127.0.0.1', port: 0, family: 'IPv4', transport: 'udp' });
      assert.ok(bound!.port > 0);
      const client = await udpClient(t);
      const reply = await roundTrip(client, 'ping', bound!.port, '127.0.0.1');
      assert.equal(reply.data.toString(), 'ping');
      assert.deepEqual([reply.from.address, reply.from.port], ['127.0.0.1', bound!.port]);
      assert.deepEqual(seen, [
        { remoteAddress: '127.0.0.1', remotePort: client.socket.address().port, remoteFamily: 'IPv4', localAddress: '127.0.0.1', localPort: bound!.port, localFamily: 'IPv4', data: 'ping' },
      ]);
    });

    it('serves on ::1', async (t) => {
      const { handler, seen } = recordingEcho();
      const server = await listenUdpLocal(t, { host: '::1' }, handler);
      assert.deepEqual(server.addresses.map((a) => [a.address, a.family, a.transport]), [['::1', 'IPv6', 'udp']]);
      const client = await udpClient(t, 'udp6');
      const reply = await roundTrip(client, 'v6', server.addresses[0]!.port, '::1');
      assert.deepEqual([reply.data.toString(), reply.from.address], ['v6', '::1']);
      assert.deepEqual([seen[0]!.remoteAddress, seen[0]!.remoteFamily, seen[0]!.localAddress], ['::1', 'IPv6', '::1']);
    });

    it('accepts IPv4 clients on :: (dual-stack), reports them unmapped and replies to them', async (t) => {
      const { handler, seen } = recordingEcho();
      const server = await listenUdpLocal(t, { host: '::' }, handler);
      assert.deepEqual(server.addresses.map((a) => a.address), ['::']);
      const port = server.addresses[0]!.port;
      const v4 = await udpClient(t, 'udp4');
      const reply = await roundTrip(v4, 'from v4', port, '127.0.0.1');
      assert.deepEqual([reply.data.toString(), reply.from.address], ['from v4', '127.0.0.1']);
      const v6 = await udpClient(t, 'udp6');
      assert.equal((await roundTrip(v6, 'from v6', port, '::1')).data.toString(), 'from v6');
      assert.deepEqual(
        seen.map((s) => [s.remoteAddress, s.remoteFamily, s.localAddress]),
        [
          ['127.0.0.1', 'IPv4', '::'],
          ['::1', 'IPv6', '::'],
        ],
      );
    });

    it('binds :: IPv6-only with ipv6Only, leaving the port free for IPv4', async (t) => {
      const server = await listenUdpLocal(t, { host: '::', ipv6Only: true }, echo);
      // A dual-stack :: would hold the IPv4 port too (EADDRINUSE here).
      const other = await listenUdpLocal(t, { host: '127.0.0.1', port: server.addresses[0]!.port }, echo);
      assert.equal(other.addresses[0]!.port, server.addresses[0]!.port);
    });

    it('binds a group 127.0.0.1 + 127.0.0.2 + ::1 on one shared ephemeral port, each replying from its own address', async (t) => {
      const server = await listenUdpLocal(t, { host: ['127.0.0.1', '127.0.0.2', '::1'] }, echo);
      assert.equal(server.addresses.length, 3);
      const ports = new Set(server.addresses.map((a) => a.port));
      assert.equal(ports.size, 1);
      const [port] = ports;
      const v4 = await udpClient(t, 'udp4');
      const v6 = await udpClient(t, 'udp6');
      for (const host of ['127.0.0.1', '127.0.0.2']) assert.equal((await roundTrip(v4, host, port!, host)).from.address, host);
      assert.equal((await roundTrip(v6, '::1', port!, '::1')).from.address, '::1');
      assert.equal(server.stats().listeners, 3);
    });

    it("binds 'localhost' as both loopbacks", async (t) => {
      const server = await listenUdpLocal(t, { host: 'localhost' }, echo);
      assert.deepEqual(server.addresses.map((a) => a.address), ['127.0.0.1', '::1']);
      const port = server.addresses[0]!.port;
      assert.equal((await roundTrip(await udpClient(t, 'udp4'), 'a', port, '127.0.0.1')).data.toString(), 'a');
      assert.equal((await roundTrip(await udpClient(t, 'udp6'), 'b', port, '::1')).data.toString(), 'b');
    });

    it('binds nothing and names every failure when one address of the group is taken', async (t) => {
      const taken = await listenUdpLocal(t, { host: '127.0.0.2' }, echo);
      const port = taken.addresses[0]!.port;
      const before = openNetworkHandles();
      const server = new UdpServer({ host: ['127.0.0.1', '127.0.0.2'], port }, echo);
      const error = await server.listen().then(
        () => assert.fail('listen should fail'),
        (failure: unknown) => failure,
      );
      assert.ok(error instanceof ListenError);
      assert.equal(error.code, ErrorCode.ADDRESS_IN_USE);
      assert.equal(error.message, `listen udp 127.0.0.2:${port}: address already in use (EADDRINUSE)`);
      assert.equal(server.state, 'idle');
      await assertNoLeakedHandles(before);
      await server.destroy();
    });

    it('lets two servers share a port only when both set reuseAddress', async (t) => {
      const first = await listenUdpLocal(t, { reuseAddress: true }, echo);
      const port = first.addresses[0]!.port;
      const refused = new UdpServer({ host: '127.0.0.1', port }, echo);
      await assert.rejects(refused.listen(), { code: ErrorCode.ADDRESS_IN_USE });
      const second = await listenUdpLocal(t, { port, reuseAddress: true }, echo);
      assert.equal(second.addresses[0]!.port, port);
    });

    it('shares a port with reusePort where the runtime supports it', { skip: !supportsReusePort() && 'no SO_REUSEPORT here' }, async (t) => {
      const first = await listenUdpLocal(t, { reusePort: true }, echo);
      const port = first.addresses[0]!.port;
      const second = await listenUdpLocal(t, { port, reusePort: true }, echo);
      assert.equal(second.addresses[0]!.port, port);
      assert.equal((await roundTrip(await udpClient(t), 'either', port, '127.0.0.1')).data.toString(), 'either');
    });

    it('applies buffer sizes and serves with them', async (t) => {
      const server = await listenUdpLocal(t, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 }, echo);
      assert.equal((await roundTrip(await udpClient(t), 'sized', server.addresses[0]!.port, '127.0.0.1')).data.toString(), 'sized');
    });

    it('rejects listen() twice and after close', async (t) => {
      const server = await listenUdpLocal(t, {}, echo);
      await assert.rejects(server.listen(), { code: ErrorCode.ALREADY_LISTENING });
      await server.close();
      await assert.rejects(server.listen(), { code: ErrorCode.SERVER_CLOSED });
    });
  });

  describe('per-interface binding', () => {
    it("binds '*' as one socket per interface address, and each replies from the address it was sent to", async (t) => {
      const { handler, seen } = recordingEcho();
      const server = await listenUdpLocal(t, { host: '*' }, handler);
      const expected = interfaceAddresses();
      assert.deepEqual(server.addresses.map((a) => a.address), expected);
      assert.ok(expected.includes('127.0.0.1'));
      assert.equal(new Set(server.addresses.map((a) => a.port)).size, 1);
      const port = server.addresses[0]!.port;
      const v4 = await udpClient(t, 'udp4');
      assert.equal((await roundTrip(v4, 'a', port, '127.0.0.1')).from.address, '127.0.0.1');
      if (expected.includes('::1')) {
        const v6 = await udpClient(t, 'udp6');
        assert.equal((await roundTrip(v6, 'b', port, '::1')).from.address, '::1');
      }
      assert.deepEqual(seen.map((s) => s.localAddress), expected.includes('::1') ? ['127.0.0.1', '::1'] : ['127.0.0.1']);
    });

    it("binds '*' as the two wildcard sockets with perInterface: false", async (t) => {
      const server = await listenUdpLocal(t, { host: '*', perInterface: false }, echo);
      assert.deepEqual(server.addresses.map((a) => `${a.address}/${a.family}`), hostHasIPv6() ? ['0.0.0.0/IPv4', '::/IPv6'] : ['0.0.0.0/IPv4']);
    });

    it('binds every IPv4 interface address for no host with perInterface: true', async (t) => {
      const server = await listenUdpLocal(t, { host: undefined, perInterface: true }, echo);
      assert.deepEqual(server.addresses.map((a) => a.address), interfaceAddresses('IPv4'));
      assert.ok(server.addresses.every((a) => a.family === 'IPv4'));
    });

    it('binds no host as 0.0.0.0 alone by default', async (t) => {
      const server = await listenUdpLocal(t, { host: undefined }, echo);
      assert.deepEqual(server.addresses.map((a) => a.address), ['0.0.0.0']);
      const reply = await roundTrip(await udpClient(t), 'any', server.addresses[0]!.port, '127.0.0.1');
      assert.equal(reply.data.toString(), 'any');
    });

    it('refuses perInterface for a host that is not a wildcard', () => {
      assert.throws(() => new UdpServer({ host: '127.0.0.1', perInterface: true }), {
        name: 'InvalidOptionError',
        message: "`perInterface` applies only to a wildcard host ('*', '0.0.0.0', '::' or none), got \"127.0.0.1\"",
      });
    });
  });

  describe('handlers', () => {
    it('takes a plain function as the handler', async (t) => {
      // The reply is larger than its request, so the amplification factor is raised.
      const server = await listenUdpLocal(t, { maxAmplification: 2 }, (datagram) => datagram.reply(`fn:${datagram.data}`));
      assert.equal((await roundTrip(await udpClient(t), 'abc', server.addresses[0]!.port, '127.0.0.1')).data.toString(), 'fn:abc');
    });

    it('rejects a handler without a message function', () => {
      assert.throws(() => new UdpServer({}, {} as never), { code: ErrorCode.INVALID_OPTION });
    });

    it('yields datagrams to for await when created without a handler, and ends the loop on close', async (t) => {
      const server = await listenUdpLocal(t);
      const loopDone = deferred<string[]>();
      void (async () => {
        const seen: string[] = [];
        for await (const datagram of server) {
          seen.push(`${datagram.remoteAddress}:${datagram.data}`);
          datagram.reply(datagram.data);
        }
        loopDone.resolve(seen);
      })();
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      assert.equal((await roundTrip(client, 'one', port, '127.0.0.1')).data.toString(), 'one');
      assert.equal((await roundTrip(client, 'two', port, '127.0.0.1')).data.toString(), 'two');
      await server.close();
      assert.deepEqual(await within(loopDone.promise, 'the loop to end'), ['127.0.0.1:one', '127.0.0.1:two']);
    });

    it('refuses to iterate a server that has a handler', async (t) => {
      const server = await listenUdpLocal(t, {}, echo);
      assert.throws(() => server[Symbol.asyncIterator](), { code: ErrorCode.INVALID_OPTION });
    });

    it('works through listenUdp as documented', async () => {
      const udp = await listenUdp({ host: '127.0.0.1', port: 0 }, { message: (datagram) => void datagram.reply(datagram.data) });
      try {
        assert.ok(udp.addresses[0]!.port > 0);
      } finally {
        await udp.close();
      }
      assert.equal(udp.state, 'closed');
    });
  });

  describe('options', () => {
    const invalid: [string, object, string][] = [
      ['maxDatagramSize', { maxDatagramSize: 0 }, '`maxDatagramSize` must be an integer from 1 to 65535, got 0'],
      ['maxDatagramSize', { maxDatagramSize: 70000 }, '`maxDatagramSize` must be an integer from 1 to 65535, got 70000'],
      ['maxAmplification', { maxAmplification: -1 }, '`maxAmplification` must be a finite number >= 0, got -1'],
      ['amplificationAllowance', { amplificationAllowance: 512 }, "`amplificationAllowance` was removed: a reply's limit is `maxAmplification` times its request's size on the wire, headers included (docs/udp.md), got 512"],
      ['replyRateLimit', { replyRateLimit: -1 }, '`replyRateLimit` must be a finite number >= 0, got -1'],
      ['replyRateLimit', { replyRateLimit: '1MB' }, '`replyRateLimit` must be a finite number >= 0, got "1MB"'],
      ['maxInFlight', { maxInFlight: 1.5 }, '`maxInFlight` must be a non-negative integer, got 1.5'],
      ['rateLimit', { rateLimit: 5 }, '`rateLimit` must be an object or false, got 5'],
      ['rateLimit.datagrams', { rateLimit: { datagrams: -1 } }, '`rateLimit.datagrams` must be a finite number >= 0, got -1'],
      ['rateLimit.bytes', { rateLimit: { bytes: 100 } }, '`rateLimit.bytes` must be 0 or at least `maxDatagramSize` (8192), got 100'],
      ['rateLimit.maxSources', { rateLimit: { maxSources: 0 } }, '`rateLimit.maxSources` must be an integer >= 1, got 0'],
      ['maxQueuedDatagrams', { maxQueuedDatagrams: 0 }, '`maxQueuedDatagrams` must be an integer >= 1, got 0'],
      ['recvBufferSize', { recvBufferSize: 0 }, '`recvBufferSize` must be an integer from 1 to 2147483647, got 0'],
      ['reuseAddress', { reuseAddress: 'yes' }, '`reuseAddress` must be a boolean, got "yes"'],
      ['dropReportInterval', { dropReportInterval: -5 }, '`dropReportInterval` must be a non-negative number of milliseconds, got -5'],
      ['port', { port: 70000 }, '`port` must be an integer from 0 to 65535, got 70000'],
    ];
    for (const [name, options, message] of invalid) {
      it(`throws at construction for an invalid ${name}: ${JSON.stringify(options)}`, () => {
        assert.throws(() => new UdpServer(options), (error: unknown) => {
          assert.ok(error instanceof InvalidOptionError);
          assert.equal(error.code, ErrorCode.INVALID_OPTION);
          assert.equal(error.message, message);
          return true;
        });
      });
    }

    it('accepts Infinity as maxAmplification, false as rateLimit, and 0 (no limit) as replyRateLimit and maxInFlight', () => {
      assert.doesNotThrow(() => new UdpServer({ maxAmplification: Infinity, rateLimit: false, replyRateLimit: 0, maxInFlight: 0 }));
    });
  });
});
