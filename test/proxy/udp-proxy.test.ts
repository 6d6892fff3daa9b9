/**
 * The `proxyProtocol` option of a UdpServer: a v2 DGRAM header in every datagram from a trusted
 * source (built by the encoder: no Debian sender speaks UDP PROXY), the datagram reporting the
 * client, replies going to the balancer with no header, drops counted by cause, the ledger's sum.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, InvalidOptionError, UdpServer, encodeProxyHeader, type Datagram, type UdpServer as Server } from '../../src/index.ts';
import { listenUdpLocal, roundTrip, udpClient, until } from '../udp/helpers/udp.ts';

const CLIENT = { address: '198.51.100.7', port: 5353 };
const SERVICE = { address: '192.0.2.53', port: 53 };
const dgram = (extra: object = {}): Buffer => encodeProxyHeader({ version: 2, transport: 'dgram', source: CLIENT, destination: SERVICE, ...extra });

/** A UDP echo server that keeps the datagrams it got. */
async function listenRelayed(t: Parameters<typeof listenUdpLocal>[0], proxyProtocol: object) {
  const got: Datagram[] = [];
  const server = await listenUdpLocal(t, { proxyProtocol: proxyProtocol as never }, {
    message(datagram) {
      got.push(datagram);
      datagram.reply(datagram.data);
    },
  });
  return { server, got, port: server.addresses[0]!.port };
}

/** datagramsIn = accepted + every drop on the way in. */
function assertLedger(server: Server): void {
  const { datagramsIn, accepted, dropped } = server.stats();
  const inbound = dropped['too-large'] + dropped['proxy-untrusted'] + dropped['proxy-header'] + dropped['rate-limit'] + dropped['queue-full'] + dropped['max-in-flight'];
  assert.equal(datagramsIn, accepted + inbound, JSON.stringify(server.stats()));
}

describe('UdpServer with the proxyProtocol option', () => {
  it('reports the client a DGRAM header names, and replies to the balancer with the payload alone', async (t) => {
    const { server, got, port } = await listenRelayed(t, { from: ['127.0.0.1'] });
    const balancer = await udpClient(t);
    const reply = await roundTrip(balancer, Buffer.concat([dgram({ tlvs: { uniqueId: Buffer.from('q1') } }), Buffer.from('query')]), port, '127.0.0.1');
    assert.equal(reply.data.toString(), 'query', 'the reply carries no header');
    assert.equal(reply.from.port, port);
    const [datagram] = got;
    assert.deepEqual([datagram!.remoteAddress, datagram!.remotePort, datagram!.remoteFamily], [CLIENT.address, CLIENT.port, 'IPv4']);
    assert.deepEqual([datagram!.localAddress, datagram!.localPort], [SERVICE.address, SERVICE.port]);
    assert.equal(datagram!.proxy?.transport, 'dgram');
    assert.equal(datagram!.proxy?.tlvs.uniqueId?.toString(), 'q1');
    assert.deepEqual(datagram!.proxy?.peer, { address: '127.0.0.1', port: balancer.socket.address().port, family: 'IPv4' });
    assert.deepEqual(server.stats().proxy?.headers, { v1: 0, v2: 1 });
    assertLedger(server);
  });

  it('keeps the real addresses for LOCAL', async (t) => {
    const { got, port } = await listenRelayed(t, { from: ['127.0.0.1'] });
    const balancer = await udpClient(t);
    await roundTrip(balancer, Buffer.concat([encodeProxyHeader({ version: 2, command: 'local' }), Buffer.from('ping')]), port, '127.0.0.1');
    assert.equal(got[0]!.remoteAddress, '127.0.0.1');
    assert.equal(got[0]!.localAddress, '127.0.0.1');
    assert.equal(got[0]!.proxy?.command, 'local');
    assert.equal(got[0]!.data.toString(), 'ping');
  });

  const bad = [
    { what: 'no header', bytes: Buffer.from('plain query'), code: ErrorCode.PROXY_HEADER_MISSING },
    { what: 'a v1 line (no datagram form)', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nq'), code: ErrorCode.PROXY_VERSION_REFUSED },
    { what: 'a STREAM header', bytes: Buffer.concat([encodeProxyHeader({ version: 2, source: CLIENT, destination: SERVICE }), Buffer.from('q')]), code: ErrorCode.PROXY_BAD_HEADER },
    { what: 'a header cut short', bytes: dgram().subarray(0, 20), code: ErrorCode.PROXY_TRUNCATED },
  ];
  for (const { what, bytes, code } of bad) {
    it(`drops a trusted datagram with ${what} (proxy-header, ${code} counted)`, async (t) => {
      const { server, got, port } = await listenRelayed(t, { from: ['127.0.0.1'] });
      const balancer = await udpClient(t);
      await balancer.send(bytes, port, '127.0.0.1');
      await until(() => server.stats().dropped['proxy-header'] === 1, 'the drop');
      assert.equal(got.length, 0);
      assert.equal(server.stats().proxy?.failures[code], 1);
      assertLedger(server);
    });
  }

  it('drops datagrams from sources outside from, or serves them as sent with untrusted: direct', async (t) => {
    const refusing = await listenRelayed(t, { from: ['198.18.0.1'] });
    const client = await udpClient(t);
    await client.send(Buffer.concat([dgram(), Buffer.from('forged')]), refusing.port, '127.0.0.1');
    await until(() => refusing.server.stats().dropped['proxy-untrusted'] === 1, 'the drop');
    assert.equal(refusing.got.length, 0);
    assert.deepEqual(refusing.server.stats().proxy?.untrusted, { refused: 1, direct: 0 });
    assertLedger(refusing.server);

    const direct = await listenRelayed(t, { from: ['198.18.0.1'], untrusted: 'direct' });
    const forged = Buffer.concat([dgram(), Buffer.from('forged')]);
    const reply = await roundTrip(client, forged, direct.port, '127.0.0.1');
    assert.deepEqual(reply.data, forged, 'the header bytes are data, never read as a header');
    assert.equal(direct.got[0]!.remoteAddress, '127.0.0.1');
    assert.equal(direct.got[0]!.proxy, null);
    assert.deepEqual(direct.server.stats().proxy?.untrusted, { refused: 0, direct: 1 });
  });

  it('refuses a timeout or versions (TCP-only keys) and a missing from', () => {
    for (const value of [{ from: ['127.0.0.1'], timeout: 5000 }, { from: ['127.0.0.1'], versions: [2] }, {}]) {
      assert.throws(() => new UdpServer({ proxyProtocol: value as never }), InvalidOptionError);
    }
  });
});
