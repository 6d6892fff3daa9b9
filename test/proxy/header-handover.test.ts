/**
 * How the bytes after a PROXY header reach the session: with no stage after the header they are
 * handed over with the socket still flowing (no pause, no `unshift` into a paused stream, no
 * resume tick), as the session's first data after its `open` handler; a session that holds
 * reading gets them first once it lets go; a session destroyed in `open` gets nothing; an async
 * session's first read returns them. And the session's info, built in one step, equals what the
 * two-step build gave.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { encodeProxyHeader, parseProxyHeader, type AsyncSession, type CloseReason, type EventSession } from '../../src/index.ts';
import { endsAfterHeader, proxiedConnectionInfo, proxyInfoOf } from '../../src/proxy/proxy-info.ts';
import { createTestCertificates, pemPair } from '../helpers/certs.ts';
import { deferred, listenLocal, until, within } from '../helpers/net.ts';
import { balancerClient, headerFrom } from './proxy-peers.ts';

const TRUST_LOOPBACK = { from: ['127.0.0.0/8'] };
const CLIENT = { address: '198.51.100.7', port: 40_001 };
const FRONT = { address: '192.0.2.80', port: 443 };

/** Counts the `pause` and `resume` events of every socket the servers of this test accept (Node's `net.server.socket` channel). */
function watchServerSockets(t: TestContext): { pauses: number; resumes: number } {
  const counts = { pauses: 0, resumes: 0 };
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket;
    socket.on('pause', () => counts.pauses++);
    socket.on('resume', () => counts.resumes++);
  };
  subscribe('net.server.socket', onSocket);
  t.after(() => unsubscribe('net.server.socket', onSocket));
  return counts;
}

describe('the bytes after a PROXY header', () => {
  for (const version of [1, 2] as const) {
    it(`reach the session as its first data, after open, without pausing the socket (v${version})`, async (t) => {
      const counts = watchServerSockets(t);
      const events: string[] = [];
      const got = deferred<void>();
      const server = await listenLocal(t, { proxyProtocol: TRUST_LOOPBACK }, {
        open() { events.push('open'); },
        data(session, chunk) {
          events.push(`data:${chunk.toString()}`);
          session.write(chunk);
          got.resolve();
        },
      });
      const client = await balancerClient(t, server.addresses[0]!.port, headerFrom(version, CLIENT, FRONT), 'hello');
      await within(got.promise, 'the first data');
      assert.equal((await client.waitForBytes(5)).toString(), 'hello');
      assert.deepEqual(events, ['open', 'data:hello']);
      // One resume: the header read's own `data` listener starting the flow, as a direct session's does.
      assert.deepEqual(counts, { pauses: 0, resumes: 1 });
    });
  }

  it('wait, first in line, while an async open handler holds reading, then come before later bytes', async (t) => {
    const opened = deferred<void>();
    const release = deferred<void>();
    let received = '';
    const server = await listenLocal(t, { proxyProtocol: TRUST_LOOPBACK }, {
      open() {
        opened.resolve();
        return release.promise;
      },
      data(session, chunk) {
        received += chunk.toString();
        session.write(chunk);
      },
    });
    const client = await balancerClient(t, server.addresses[0]!.port, headerFrom(1, CLIENT, FRONT), 'first|');
    await within(opened.promise, 'the open handler');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(received, '', 'nothing is delivered while open is pending');
    client.send('second');
    release.resolve();
    assert.equal((await client.waitForBytes(12)).toString(), 'first|second');
    assert.equal(received, 'first|second');
  });

  it('wait while the session is paused in open, and come once it resumes', async (t) => {
    let paused: EventSession | undefined;
    let received = '';
    const server = await listenLocal(t, { proxyProtocol: TRUST_LOOPBACK }, {
      open(session) {
        session.pause();
        paused = session;
      },
      data(session, chunk) {
        received += chunk.toString();
        session.write(chunk);
      },
    });
    const client = await balancerClient(t, server.addresses[0]!.port, headerFrom(2, CLIENT, FRONT), 'held');
    await until(() => paused !== undefined, 'the session to open');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(received, '');
    paused!.resume();
    assert.equal((await client.waitForBytes(4)).toString(), 'held');
  });

  it('are dropped, without a data call or an error, when open destroys the session', async (t) => {
    const closed = deferred<string>();
    let calls = 0;
    const server = await listenLocal(t, { proxyProtocol: TRUST_LOOPBACK }, {
      open(session) { session.destroy(); },
      data() { calls++; },
      close(_session, reason) { closed.resolve(reason.cause); },
    });
    const client = await balancerClient(t, server.addresses[0]!.port, headerFrom(1, CLIENT, FRONT), 'ignored');
    assert.equal(await within(closed.promise, 'the session to close'), 'local-destroy');
    await within(client.closed, 'the client to see the close');
    assert.equal(calls, 0);
  });

  it('count as plaintext that followed STARTTLS when open calls startTls(): the session closes with SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS', async (t) => {
    const certs = await createTestCertificates(t);
    const closed = deferred<CloseReason>();
    let calls = 0;
    const server = await listenLocal(t, { proxyProtocol: TRUST_LOOPBACK, tls: { ...pemPair(certs.server), mode: 'starttls' } }, {
      open(session) { session.startTls().catch(() => {}); },
      data() { calls++; },
      close(_session, reason) { closed.resolve(reason); },
    });
    const client = await balancerClient(t, server.addresses[0]!.port, headerFrom(2, CLIENT, FRONT), 'injected plaintext');
    const reason = await within(closed.promise, 'the session to close');
    assert.equal(reason.error?.code, 'SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS');
    await within(client.closed, 'the client to see the close');
    assert.equal(calls, 0);
  });

  it("are an async session's first read", async (t) => {
    const first = deferred<string>();
    const server = await listenLocal(t, { proxyProtocol: TRUST_LOOPBACK }, async (session: AsyncSession) => {
      const chunk = await session.read();
      first.resolve(chunk?.toString() ?? 'end');
      await session.write(chunk ?? '');
    });
    const client = await balancerClient(t, server.addresses[0]!.port, headerFrom(2, CLIENT, FRONT), 'async');
    assert.equal(await within(first.promise, 'the first read'), 'async');
    assert.equal((await client.waitForBytes(5)).toString(), 'async');
  });
});

describe('proxiedConnectionInfo', () => {
  const real = { remoteAddress: '127.0.0.1', remotePort: 50_000, remoteFamily: 'IPv4', localAddress: '127.0.0.1', localPort: 8000, localFamily: 'IPv4' } as const;
  const headers = {
    'v1 TCP4': headerFrom(1, CLIENT, FRONT),
    'v1 TCP6': headerFrom(1, { address: '2001:db8::7', port: 1 }, { address: '2001:db8::80', port: 2 }),
    'v2 TCP6 with IPv4-mapped ends': headerFrom(2, { address: '::ffff:198.51.100.9', port: 3 }, { address: '::ffff:192.0.2.1', port: 4 }),
    'v2 LOCAL': encodeProxyHeader({ version: 2, command: 'local' }),
    'v1 UNKNOWN': Buffer.from('PROXY UNKNOWN\r\n'),
    'v2 UNIX': encodeProxyHeader({ version: 2, source: { family: 'unix', path: '/run/a' }, destination: { family: 'unix', path: '/run/b' } }),
    'v2 with TLVs': headerFrom(2, CLIENT, FRONT, { tlvs: { alpn: 'h2', authority: 'example.test' } }),
  };
  for (const [what, bytes] of Object.entries(headers)) {
    it(`equals the ends after the header plus proxy, as built before (${what})`, () => {
      const parsed = parseProxyHeader(bytes);
      assert.equal(parsed.state, 'complete');
      if (parsed.state !== 'complete') return;
      const peer = { address: real.remoteAddress, port: real.remotePort, family: real.remoteFamily };
      assert.deepEqual(proxiedConnectionInfo(real, parsed.header), { ...endsAfterHeader(real, parsed.header), proxy: proxyInfoOf(parsed.header, peer) });
    });
  }
});
