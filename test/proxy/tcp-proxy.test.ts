/**
 * The `proxyProtocol` option of a TcpServer with the encoder as the balancer: the session reports
 * the client the header names, the balancer stays in `session.proxy.peer`, the bytes after the
 * header arrive untouched, admission applies to the client, untrusted sources are refused or
 * served direct, bad headers and the deadline refuse with a coded cause, and the ledger balances.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { BlockList } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { DiagnosticsChannel, ErrorCode, InvalidOptionError, type ProxyHeaderMessage, RejectCause, TcpServer, type EventSession, type RejectedConnection, type TcpEventHandler, type TcpServerOptions } from '../../src/index.ts';
import { createTestCertificates, pemPair } from '../helpers/certs.ts';
import { deferred, listenLocal, until, within } from '../helpers/net.ts';
import { balancerClient, headerFrom, nextRejection, prefixedTlsClient } from './proxy-peers.ts';

const TRUST_LOOPBACK = { from: ['127.0.0.0/8', '::1'] };

/** A server echoing every byte, its sessions in open order and its refusals. */
async function listenProxied(t: TestContext, options: TcpServerOptions, handler: TcpEventHandler = {}) {
  const sessions: EventSession[] = [];
  const waiters: PromiseWithResolvers<EventSession>[] = [];
  const slot = (index: number): PromiseWithResolvers<EventSession> => (waiters[index] ??= deferred<EventSession>());
  const rejected: RejectedConnection[] = [];
  const server = await listenLocal(t, options, {
    open(session) {
      slot(sessions.length).resolve(session);
      sessions.push(session);
    },
    data(session, chunk) {
      session.write(chunk);
    },
    ...handler,
  });
  server.on('rejected', (rejection) => rejected.push(rejection));
  const port = server.addresses[0]!.port;
  return { server, port, sessions, rejected, session: (index: number) => within(slot(index).promise, `session ${index}`) };
}

/** accepted === closed + sessions + pending, now. */
function assertLedger(server: TcpServer): void {
  const stats = server.stats();
  assert.equal(stats.accepted, stats.closed + stats.sessions + stats.pending, JSON.stringify(stats));
}

const CLIENT = { address: '198.51.100.7', port: 40_001 };
const CLIENT6 = { address: '2001:db8::7', port: 40_002 };
const FRONT = { address: '192.0.2.80', port: 443 };

describe('TcpServer with the proxyProtocol option', () => {
  describe('the session behind the balancer', () => {
    for (const version of [1, 2] as const) {
      it(`reports the client a v${version} header names, the balancer as proxy.peer, and echoes the bytes after the header`, async (t) => {
        const { port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK });
        const client = await balancerClient(t, port, headerFrom(version, CLIENT, FRONT), 'hello\n');
        const opened = await session(0);
        assert.deepEqual(
          [opened.remoteAddress, opened.remotePort, opened.remoteFamily, opened.localAddress, opened.localPort, opened.localFamily],
          [CLIENT.address, CLIENT.port, 'IPv4', FRONT.address, FRONT.port, 'IPv4'],
        );
        const proxy = opened.proxy!;
        assert.equal(proxy.version, version);
        assert.equal(proxy.command, 'proxy');
        assert.equal(proxy.transport, 'stream');
        assert.deepEqual(proxy.source, { family: 'IPv4', ...CLIENT });
        assert.deepEqual(proxy.peer, { address: '127.0.0.1', port: client.socket.localPort, family: 'IPv4' });
        assert.equal((await client.waitForText('hello\n')).toString(), 'hello\n', 'the header is not echoed: only what followed it');
      });
    }

    it('reports an IPv6 client and the TLVs of a v2 header', async (t) => {
      const { port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK });
      const header = headerFrom(2, CLIENT6, { address: '2001:db8::80', port: 443 }, { tlvs: { alpn: 'h2', authority: 'sb.test', crc32c: true, uniqueId: Buffer.from('id-1'), ssl: { version: 'TLSv1.3', cn: 'client.test', cipher: 'TLS_AES_128_GCM_SHA256', client: 0x07 } } });
      await balancerClient(t, port, header, 'x');
      const opened = await session(0);
      assert.equal(opened.remoteAddress, CLIENT6.address);
      assert.equal(opened.remoteFamily, 'IPv6');
      const { tlvs } = opened.proxy!;
      assert.equal(tlvs.alpn, 'h2');
      assert.equal(tlvs.authority, 'sb.test');
      assert.equal(tlvs.crc32c, true);
      assert.equal(tlvs.uniqueId?.toString(), 'id-1');
      assert.equal(tlvs.ssl?.cn, 'client.test');
      assert.equal(tlvs.ssl?.verified, true);
    });

    it('keeps the real addresses for LOCAL (a health check) and v1 UNKNOWN, with proxy set', async (t) => {
      const { port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK });
      const local = await balancerClient(t, port, Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'));
      const first = await session(0);
      assert.equal(first.remoteAddress, '127.0.0.1');
      assert.equal(first.remotePort, local.socket.localPort);
      assert.equal(first.proxy?.command, 'local');
      await balancerClient(t, port, Buffer.from('PROXY UNKNOWN\r\n'));
      const second = await session(1);
      assert.equal(second.remoteAddress, '127.0.0.1');
      assert.equal(second.proxy?.version, 1);
    });

    it('delivers a payload that arrives byte by byte after a header split anywhere', async (t) => {
      const { port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK });
      const client = await balancerClient(t, port, Buffer.alloc(0));
      const bytes = Buffer.concat([headerFrom(2, CLIENT, FRONT, { tlvs: { alpn: 'h2' } }), Buffer.from('abc')]);
      for (let i = 0; i < bytes.length; i++) {
        client.send(bytes.subarray(i, i + 1));
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal((await session(0)).remoteAddress, CLIENT.address);
      assert.equal((await client.waitForBytes(3)).toString(), 'abc');
    });

    it('keeps the bytes after the header, and those that arrive while an async accept handler decides, in order and once', async (t) => {
      const decided = deferred<boolean>();
      const asked = deferred<void>();
      let received = '';
      const { port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK }, {
        accept() { asked.resolve(); return decided.promise; },
        data(s, chunk) { received += chunk.toString(); s.write(chunk); },
      });
      const client = await balancerClient(t, port, headerFrom(1, CLIENT, FRONT), 'first|');
      await within(asked.promise, 'the accept handler to be asked');
      client.send('second|');
      client.send('third');
      decided.resolve(true);
      assert.equal((await session(0)).remoteAddress, CLIENT.address);
      assert.equal((await client.waitForBytes(18)).toString(), 'first|second|third');
      assert.equal(received, 'first|second|third');
    });

    it('reads a header split over two segments, the second carrying the payload and the FIN', async (t) => {
      const ended = deferred<string>();
      let received = '';
      const { server, port } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK }, {
        data(_session, chunk) { received += chunk.toString(); },
        end(session) { ended.resolve(received); session.end(); },
      });
      const header = headerFrom(2, CLIENT, FRONT, { tlvs: { authority: 'example.test' } });
      const client = await balancerClient(t, port, header.subarray(0, 20));
      await until(() => server.stats().pending === 1, 'the connection to wait on its header');
      client.socket.end(Buffer.concat([header.subarray(20), Buffer.from('payload')]));
      assert.equal(await within(ended.promise, 'the session to hear the end'), 'payload');
    });

    it("hears the end of a peer that sent its header, its data and its FIN together", async (t) => {
      const ended = deferred<string>();
      let received = '';
      const { port } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK }, {
        data(_session, chunk) { received += chunk.toString(); },
        end(session) { ended.resolve(received); session.end(); },
      });
      const client = await balancerClient(t, port, Buffer.alloc(0));
      client.socket.end(Buffer.concat([headerFrom(1, CLIENT, FRONT), Buffer.from('last words')]));
      assert.equal(await within(ended.promise, 'the session to hear the end'), 'last words');
      const bare = await balancerClient(t, port, Buffer.alloc(0));
      const bareEnded = deferred<void>();
      bare.socket.end(headerFrom(2, CLIENT, FRONT));
      await within(bare.closed.then(() => bareEnded.resolve()), 'a header-and-FIN connection to close (its end heard)');
    });

    it('gives the accept hook the client, and applies the deny list to it, not to the balancer', async (t) => {
      const seen: string[] = [];
      const { server, port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK, deny: ['198.51.100.0/24'], allow: ['203.0.113.0/24', '198.51.100.0/24'] }, {
        accept(info) { seen.push(info.remoteAddress); return true; },
      });
      const refused = nextRejection(server);
      await balancerClient(t, port, headerFrom(1, CLIENT, FRONT));
      const rejection = await refused;
      assert.equal(rejection.cause, RejectCause.DENIED);
      assert.equal(rejection.info.remoteAddress, CLIENT.address);
      await balancerClient(t, port, headerFrom(1, { address: '203.0.113.9', port: 1 }, FRONT));
      assert.equal((await session(0)).remoteAddress, '203.0.113.9');
      assert.deepEqual(seen, ['203.0.113.9'], 'the accept hook ran after the lists, on the client');
      assertLedger(server);
    });

    it('counts maxConnectionsPerAddress by client, not by balancer, and the ledger balances', async (t) => {
      const { server, port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK, maxConnectionsPerAddress: 1 });
      await balancerClient(t, port, headerFrom(2, { address: '203.0.113.1', port: 1 }, FRONT));
      await balancerClient(t, port, headerFrom(2, { address: '203.0.113.2', port: 1 }, FRONT));
      await session(1);
      assert.equal(server.stats().sessions, 2, 'two clients behind one balancer address both open');
      const refused = nextRejection(server);
      await balancerClient(t, port, headerFrom(2, { address: '203.0.113.1', port: 2 }, FRONT));
      const rejection = await refused;
      assert.equal(rejection.cause, RejectCause.MAX_CONNECTIONS_PER_ADDRESS);
      assert.equal(rejection.info.remoteAddress, '203.0.113.1');
      assertLedger(server);
      await until(() => server.stats().pending === 0, 'the refused socket to close');
      for (const open of server.sessions()) open.destroy();
      await until(() => server.stats().sessions === 0, 'the sessions to close');
      // Every slot was given back: the first client may connect again.
      await balancerClient(t, port, headerFrom(2, { address: '203.0.113.1', port: 3 }, FRONT));
      await session(2);
      assertLedger(server);
    });
  });

  describe('PROXY then TLS', () => {
    it('completes a TLS handshake whose ClientHello came in the same segment as the header', async (t) => {
      const certs = await createTestCertificates(t);
      const { port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK, tls: { ...pemPair(certs.server), ALPNProtocols: ['h2'] } });
      const header = headerFrom(2, CLIENT, FRONT);
      const { tls, firstWrite } = await prefixedTlsClient(t, port, header, { ca: certs.ca.cert, servername: 'localhost', ALPNProtocols: ['h2'] });
      const sent = await firstWrite;
      assert.equal(sent.subarray(0, header.length).compare(header), 0);
      assert.equal(sent[header.length], 0x16, 'a ClientHello right behind the header, in one write');
      const opened = await session(0);
      assert.equal(opened.remoteAddress, CLIENT.address);
      assert.equal(opened.tls?.alpn, 'h2');
      const echoed = new Promise<string>((resolve) => tls.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      tls.write('over tls');
      assert.equal(await within(echoed, 'the echo over TLS'), 'over tls');
    });
  });

  describe('sources outside from', () => {
    it("refuses them by default (proxy-untrusted), whatever they send", async (t) => {
      const { server, port, sessions } = await listenProxied(t, { proxyProtocol: { from: ['198.18.0.1'] } });
      const refused = nextRejection(server);
      const client = await balancerClient(t, port, headerFrom(1, CLIENT, FRONT));
      const rejection = await refused;
      assert.equal(rejection.cause, RejectCause.PROXY_UNTRUSTED);
      assert.equal(rejection.info.remoteAddress, '127.0.0.1');
      await within(client.closed, 'the refused client to close');
      assert.equal(sessions.length, 0);
      assert.deepEqual(server.stats().proxy?.untrusted, { refused: 1, direct: 0 });
      assertLedger(server);
    });

    it("serves them direct with untrusted: 'direct', a forged header delivered as data", async (t) => {
      const { server, port, session } = await listenProxied(t, { proxyProtocol: { from: ['198.18.0.1'], untrusted: 'direct' } });
      const forged = headerFrom(1, CLIENT, FRONT);
      const client = await balancerClient(t, port, forged, 'data');
      const opened = await session(0);
      assert.equal(opened.remoteAddress, '127.0.0.1');
      assert.equal(opened.proxy, null);
      assert.equal((await client.waitForBytes(forged.length + 4)).toString(), `${forged.toString()}data`);
      assert.deepEqual(server.stats().proxy?.untrusted, { refused: 0, direct: 1 });
    });
  });

  describe('from as a net.BlockList', () => {
    it('applies rules the caller adds later at once (the list is asked every time, never cached)', async (t) => {
      const from = new BlockList();
      from.addAddress('198.18.0.1');
      const { server, port, session } = await listenProxied(t, { proxyProtocol: { from } });
      const refused = nextRejection(server);
      await balancerClient(t, port, headerFrom(1, CLIENT, FRONT));
      assert.equal((await refused).cause, RejectCause.PROXY_UNTRUSTED);
      from.addAddress('127.0.0.1');
      await balancerClient(t, port, headerFrom(1, CLIENT, FRONT));
      assert.equal((await session(0)).remoteAddress, CLIENT.address);
    });
  });

  describe('headers that fail', () => {
    const cases = [
      { what: 'no header at all (a client that skipped the balancer)', bytes: Buffer.from('GET / HTTP/1.1\r\n'), code: ErrorCode.PROXY_HEADER_MISSING },
      { what: 'a v1 line with a lone LF', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), code: ErrorCode.PROXY_BAD_HEADER },
      { what: 'a v1 address with a leading zero', bytes: Buffer.from('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'), code: ErrorCode.PROXY_BAD_HEADER },
      { what: 'a v2 header longer than maxHeaderBytes', bytes: headerFrom(2, CLIENT, FRONT, { tlvs: { noop: 5000 } }), code: ErrorCode.PROXY_HEADER_TOO_LARGE },
      { what: 'a v2 header whose CRC32C does not match', bytes: corruptAfterCrc(headerFrom(2, CLIENT, FRONT, { tlvs: { crc32c: true, authority: 'sb.test' } })), code: ErrorCode.PROXY_CHECKSUM_MISMATCH },
      { what: 'a version left out of versions', bytes: headerFrom(1, CLIENT, FRONT), code: ErrorCode.PROXY_VERSION_REFUSED, versions: [2] as const },
    ];
    for (const { what, bytes, code, versions } of cases) {
      it(`refuses ${what} with proxy-header, the ProxyProtocolError as its error (${code})`, async (t) => {
        const { server, port, sessions } = await listenProxied(t, { proxyProtocol: { ...TRUST_LOOPBACK, ...(versions ? { versions } : {}) } });
        const refused = nextRejection(server);
        const client = await balancerClient(t, port, bytes);
        const rejection = await refused;
        assert.equal(rejection.cause, RejectCause.PROXY_HEADER);
        assert.equal(rejection.error?.code, code);
        assert.equal(rejection.error?.name, 'ProxyProtocolError');
        await within(client.closed, 'the refused connection to close');
        assert.equal(sessions.length, 0);
        assert.equal(server.stats().proxy?.failures[code], 1);
        assert.equal(server.stats().rejectedBy[RejectCause.PROXY_HEADER], 1);
        assertLedger(server);
      });
    }

    it('refuses a header cut short by the FIN (SWB_ERR_PROXY_TRUNCATED)', async (t) => {
      const { server, port } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK });
      const refused = nextRejection(server);
      const client = await balancerClient(t, port, Buffer.alloc(0));
      client.socket.end(headerFrom(2, CLIENT, FRONT).subarray(0, 20));
      const rejection = await refused;
      assert.equal(rejection.cause, RejectCause.PROXY_HEADER);
      assert.equal(rejection.error?.code, ErrorCode.PROXY_TRUNCATED);
    });

    it('closes a trusted source that sends nothing at the deadline (proxy-timeout, SWB_ERR_PROXY_TIMEOUT), then counts it', async (t) => {
      const timeout = 3000;
      const { server, port } = await listenProxied(t, { proxyProtocol: { ...TRUST_LOOPBACK, timeout } });
      const reported: ProxyHeaderMessage[] = [];
      const onHeader = (message: unknown): void => void reported.push(message as ProxyHeaderMessage);
      subscribe(DiagnosticsChannel.PROXY_HEADER, onHeader);
      t.after(() => void unsubscribe(DiagnosticsChannel.PROXY_HEADER, onHeader));
      const refused = nextRejection(server, timeout + 3000);
      const started = performance.now();
      const client = await balancerClient(t, port, Buffer.alloc(0));
      const rejection = await refused;
      const elapsed = performance.now() - started;
      assert.equal(rejection.cause, RejectCause.PROXY_TIMEOUT);
      assert.equal(rejection.error?.code, ErrorCode.PROXY_TIMEOUT);
      assert.ok(elapsed >= timeout - 5 && elapsed < timeout + 1000, `closed after ${Math.round(elapsed)} ms`);
      await within(client.closed, 'the silent client to be closed');
      assert.equal(server.stats().proxy?.failures[ErrorCode.PROXY_TIMEOUT], 1);
      assert.deepEqual(reported.map((m) => [m.server === server, m.transport, m.error?.code, m.balancer.address, m.client]), [[true, 'tcp', ErrorCode.PROXY_TIMEOUT, '127.0.0.1', undefined]], 'switchboard.proxy.header reports the deadline');
      assertLedger(server);
    });
  });

  it('counts headers by version in stats().proxy, and has no proxy stats without the option', async (t) => {
    const { server, port, session } = await listenProxied(t, { proxyProtocol: TRUST_LOOPBACK });
    await balancerClient(t, port, headerFrom(1, CLIENT, FRONT));
    await balancerClient(t, port, headerFrom(2, CLIENT, FRONT));
    await balancerClient(t, port, Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'));
    await session(2);
    const stats = server.stats().proxy!;
    assert.deepEqual(stats.headers, { v1: 1, v2: 2 });
    assert.equal(stats.local, 1);
    assert.ok(Object.values(stats.failures).every((count) => count === 0));
    const plain = await listenLocal(t, {});
    assert.equal(plain.stats().proxy, undefined);
  });

  describe('option checks', () => {
    const bad: [string, unknown, RegExp][] = [
      ['no from', {}, /proxyProtocol\.from.*required/],
      ['an empty from', { from: [] }, /proxyProtocol\.from.*at least one/],
      ['a bad entry', { from: ['not-an-address'] }, /proxyProtocol\.from/],
      ['a timeout under 3 s', { from: ['127.0.0.1'], timeout: 2999 }, /proxyProtocol\.timeout.*at least 3000/],
      ['a version 3', { from: ['127.0.0.1'], versions: [3] }, /proxyProtocol\.versions/],
      ['an unknown untrusted policy', { from: ['127.0.0.1'], untrusted: 'guess' }, /proxyProtocol\.untrusted/],
      ['a misspelt key', { from: ['127.0.0.1'], timout: 5000 }, /proxyProtocol\.timout.*did you mean "proxyProtocol\.timeout"/],
      ['a non-object', true, /proxyProtocol/],
    ];
    for (const [what, value, message] of bad) {
      it(`refuses ${what} with SWB_ERR_INVALID_OPTION`, () => {
        assert.throws(() => new TcpServer({ proxyProtocol: value as never }), (error: unknown) => error instanceof InvalidOptionError && error.code === ErrorCode.INVALID_OPTION && message.test(error.message));
      });
    }
  });
});

/** A v2 header with its last byte changed (after the CRC32C was sealed). */
function corruptAfterCrc(header: Buffer): Buffer {
  const changed = Buffer.from(header);
  changed[changed.length - 1]! ^= 0x01;
  return changed;
}
