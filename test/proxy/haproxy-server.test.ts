/**
 * HAProxy as the real balancer in front of a Switchboard listener with `proxyProtocol`: the
 * session reports what HAProxy knew of the client — its address and port over IPv4 and IPv6
 * (`send-proxy`, `send-proxy-v2`), and behind an HAProxy TLS frontend the ALPN, SNI, TLS version,
 * cipher and certificate CN — while `proxy.peer` is HAProxy's own connection; HAProxy in TCP mode
 * in front of a Switchboard TLS listener carries `openssl s_client` through; and the per-address
 * limit counts the clients behind HAProxy, not HAProxy.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { RejectCause, type EventSession, type RejectedConnection, type TcpServerOptions } from '../../src/index.ts';
import { createTestCertificates, pemPair } from '../helpers/certs.ts';
import { HAPROXY_CLIENT_CN, haproxyVersion, startHaproxy, type Haproxy, type HaproxyFrontendInit } from '../helpers/haproxy.ts';
import { connectClient, deferred, listenLocal, until, within } from '../helpers/net.ts';
import { briefField, sClient } from '../tls/peers.ts';

const version = haproxyVersion();
const skip = version === undefined && 'SKIPPED LOUDLY: haproxy is not installed (.ci/run installs it)';

const TRUST_LOOPBACK = { from: ['127.0.0.0/8', '::1'] };

/** A Switchboard echo server on 127.0.0.1 trusting loopback balancers, and HAProxy in front of it. */
async function behindHaproxy(t: TestContext, frontend: Omit<HaproxyFrontendInit, 'backend' | 'name'>, options: TcpServerOptions = {}) {
  const sessions: EventSession[] = [];
  const waiters: PromiseWithResolvers<EventSession>[] = [];
  const slot = (index: number): PromiseWithResolvers<EventSession> => (waiters[index] ??= deferred<EventSession>());
  const rejected: RejectedConnection[] = [];
  const server = await listenLocal(t, { proxyProtocol: TRUST_LOOPBACK, ...options }, {
    open(session) {
      slot(sessions.length).resolve(session);
      sessions.push(session);
    },
    data(session, chunk) {
      session.write(chunk);
    },
  });
  server.on('rejected', (rejection) => rejected.push(rejection));
  const haproxy = await startHaproxy(t, [{ name: 'front', ...frontend, backend: { host: '127.0.0.1', port: server.addresses[0]!.port } }]);
  return { server, haproxy, front: haproxy.address('front'), rejected, session: (index: number) => within(slot(index).promise, `session ${index} behind HAProxy`) };
}

async function tlsClient(t: TestContext, haproxy: Haproxy, options: ConnectionOptions): Promise<TLSSocket> {
  const { host, port } = haproxy.address('front');
  const socket = connectTls({ host, port, ca: haproxy.certificates.ca.cert, ...options });
  t.after(() => void socket.destroy());
  await within(new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)), `a TLS handshake with HAProxy on ${host}:${port}`);
  return socket;
}

describe(`a proxyProtocol listener behind HAProxy (${version ?? 'not installed'})`, { skip }, () => {
  for (const proxy of ['v1', 'v2'] as const) {
    for (const host of ['127.0.0.1', '::1'] as const) {
      it(`reports the client's address and port from send-proxy${proxy === 'v2' ? '-v2' : ''} over ${host === '::1' ? 'IPv6' : 'IPv4'}, and echoes through`, async (t) => {
        const { front, session } = await behindHaproxy(t, { host, proxy });
        const client = await connectClient(t, front.port, host);
        client.send('ping\n');
        const opened = await session(0);
        assert.deepEqual(
          [opened.remoteAddress, opened.remotePort, opened.remoteFamily, opened.localAddress, opened.localPort],
          [client.socket.localAddress, client.socket.localPort, host === '::1' ? 'IPv6' : 'IPv4', host, front.port],
        );
        assert.equal(opened.proxy?.version, proxy === 'v1' ? 1 : 2);
        assert.equal(opened.proxy?.peer.address, '127.0.0.1', "the balancer: HAProxy's own connection");
        assert.notEqual(opened.proxy?.peer.port, client.socket.localPort);
        assert.equal((await client.waitForText('ping\n')).toString(), 'ping\n');
      });
    }
  }

  for (const host of ['127.0.0.1', '::1'] as const) {
    it(`reports ALPN, SNI, TLS version, cipher and CN from an HAProxy TLS frontend (send-proxy-v2 with every option) over ${host === '::1' ? 'IPv6' : 'IPv4'}`, async (t) => {
      const { haproxy, front, session } = await behindHaproxy(t, { host, proxy: 'v2', tls: true });
      const { client: certificate } = haproxy.certificates;
      const client = await tlsClient(t, haproxy, { servername: 'sb.test', ALPNProtocols: ['h2'], cert: certificate.cert, key: certificate.key });
      client.write('over tls\n');
      const opened = await session(0);
      assert.equal(opened.remoteAddress, client.localAddress);
      assert.equal(opened.remotePort, client.localPort);
      assert.equal(opened.localPort, front.port);
      assert.equal(opened.tls, null, 'HAProxy terminated TLS: the session itself is plaintext');
      const tlvs = opened.proxy!.tlvs;
      assert.equal(tlvs.alpn, client.alpnProtocol);
      assert.equal(tlvs.authority, 'sb.test');
      assert.equal(tlvs.crc32c, true);
      assert.ok(tlvs.uniqueId !== undefined && tlvs.uniqueId.length > 0);
      assert.equal(tlvs.ssl?.version, client.getProtocol());
      assert.equal(tlvs.ssl?.cipher, client.getCipher().name);
      assert.equal(tlvs.ssl?.cn, HAPROXY_CLIENT_CN);
      assert.equal(tlvs.ssl?.verified, true);
      const echoed = new Promise<string>((resolve) => client.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      assert.equal(await within(echoed, 'the echo through HAProxy'), 'over tls\n');
    });
  }

  it('carries openssl s_client through HAProxy in TCP mode (send-proxy-v2) to a Switchboard TLS listener', async (t) => {
    const certs = await createTestCertificates(t);
    const { front, session, server } = await behindHaproxy(t, { host: '127.0.0.1', proxy: 'v2' }, { tls: pemPair(certs.server) });
    const running = sClient(front.port, ['-brief', '-servername', 'localhost', '-CAfile', certs.ca.certPath, '-verify_return_error'], { input: 'through\n' });
    const opened = await session(0);
    await until(() => opened.bytesWritten >= 'through\n'.length, 'the echo to be written');
    opened.end(); // s_client -ign_eof runs until the server closes
    const run = await running;
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /^through$/m, 'the echo came back over TLS');
    assert.equal(opened.tls?.protocol, briefField(run.output, 'Protocol version'));
    assert.equal(opened.tls?.serverName, 'localhost');
    assert.equal(opened.remoteAddress, '127.0.0.1');
    assert.notEqual(opened.remotePort, opened.proxy?.peer.port, "the client's port, not HAProxy's");
    assert.equal(server.stats().proxy?.headers.v2, 1);
  });

  it('applies maxConnectionsPerAddress to the clients behind HAProxy (127.0.0.2, 127.0.0.3), not to HAProxy', async (t) => {
    const { front, session, rejected, server } = await behindHaproxy(t, { host: '127.0.0.1', proxy: 'v2' }, { maxConnectionsPerAddress: 1 });
    const first = await connectClient(t, front.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    first.send('a');
    await session(0);
    const second = await connectClient(t, front.port, '127.0.0.1', { localAddress: '127.0.0.3' });
    second.send('b');
    assert.equal((await session(1)).remoteAddress, '127.0.0.3');
    const third = await connectClient(t, front.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    third.socket.on('error', () => {});
    third.send('c');
    await until(() => rejected.length === 1, 'the second connection from 127.0.0.2 to be refused');
    assert.equal(rejected[0]!.cause, RejectCause.MAX_CONNECTIONS_PER_ADDRESS);
    assert.equal(rejected[0]!.info.remoteAddress, '127.0.0.2');
    assert.equal(server.stats().sessions, 2);
    const stats = server.stats();
    assert.equal(stats.accepted, stats.closed + stats.sessions + stats.pending);
  });
});
