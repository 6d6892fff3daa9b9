import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import {
  AsyncSession,
  CloseCause,
  ErrorCode,
  EventSession,
  FramedAsyncSession,
  FramedEventSession,
  InvalidOptionError,
  OpError,
  connectTcp,
  createLineCodec,
  dialReportOf,
  framed,
  type CloseReason,
} from '../../src/index.ts';
import { parseProxyHeader } from '../../src/index.ts';
import { listenLocal } from '../../src/testing/index.ts';
import { createTestCertificates } from '../helpers/certs.ts';
import { deferred, until, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { skipWithout } from '../tls/peers.ts';
import { closedPort, startPeer } from './peers.ts';

const FAMILIES = [
  { name: 'IPv4', host: '127.0.0.1', shown: '127.0.0.1' },
  { name: 'IPv6', host: '::1', shown: '[::1]' },
] as const;

/** A raw node:net server that hands each accepted socket to `onSocket`; closed after the test. */
async function rawServer(t: TestContext, host: string, onSocket: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as { port: number }).port;
}

const upper = () => framed(() => createLineCodec(), { frame(session, line) { session.send(line.toUpperCase()); } });

describe('connectTcp', () => {
  for (const family of FAMILIES) {
    describe(`against a Switchboard server over ${family.name}`, () => {
      it('with no handler: an AsyncSession to read and write, closing exactly once', async (t) => {
        const server = await listenLocal(t, { host: family.host }, { data(session, chunk) { session.write(chunk); } });
        const port = server.addresses[0]!.port;
        const session = await connectTcp({ host: family.host, port });
        assert.ok(session instanceof AsyncSession);
        assert.equal(session.remoteAddress, family.host);
        assert.equal(session.remotePort, port);
        assert.equal(session.remoteFamily, family.name);
        assert.equal(session.localAddress, family.host);
        await session.write('ping');
        assert.equal((await within(session.read(), 'the echo'))?.toString(), 'ping');
        const closes: CloseReason[] = [];
        void session.closed.then((reason) => closes.push(reason));
        session.end();
        const reason = await within(session.closed, 'the close');
        assert.equal(reason.cause, CloseCause.LOCAL_END);
        await until(() => closes.length === 1, 'the closed promise');
        assert.deepEqual(dialReportOf(session)?.attempted, [`${family.shown}:${port}`]);
      });

      it('with event handlers: an EventSession whose open, data and close run, close once', async (t) => {
        const server = await listenLocal(t, { host: family.host }, { data(session, chunk) { session.write(chunk); session.end(); } });
        const events: string[] = [];
        const closed = deferred<CloseReason>();
        const session = await connectTcp({ host: family.host, port: server.addresses[0]!.port }, {
          open(s) { events.push('open'); s.write('hi'); },
          data(_s, chunk) { events.push(`data ${chunk}`); },
          close(_s, reason) { events.push('close'); closed.resolve(reason); },
        });
        assert.ok(session instanceof EventSession);
        const reason = await within(closed.promise, 'the close');
        assert.equal(reason.cause, CloseCause.PEER_END);
        assert.deepEqual(events, ['open', 'data hi', 'close']);
      });

      it('with framed(): frames both ways, event and async style', async (t) => {
        const server = await listenLocal(t, { host: family.host }, upper());
        const port = server.addresses[0]!.port;
        const lines: string[] = [];
        const event = await connectTcp({ host: family.host, port }, framed(() => createLineCodec(), {
          open(s) { s.send('one'); s.send('two'); },
          frame(s, line) { lines.push(line); if (lines.length === 2) s.end(); },
        }));
        assert.ok(event instanceof FramedEventSession);
        await within(event.closed, 'the event session to close');
        assert.deepEqual(lines, ['ONE', 'TWO']);
        const got = deferred<string | undefined>();
        const async = await connectTcp({ host: family.host, port }, framed(() => createLineCodec(), async (s) => {
          await s.send('three');
          got.resolve((await s.readFrame()) ?? undefined);
        }));
        assert.ok(async instanceof FramedAsyncSession);
        assert.equal(await within(got.promise, 'the reply'), 'THREE');
        assert.equal((await within(async.closed, 'the async session to close')).cause, CloseCause.LOCAL_END);
      });

      it(`refused: dial tcp ${family.shown}:PORT: connection refused (ECONNREFUSED), SWB_ERR_CONNECTION_REFUSED`, async () => {
        const port = await closedPort('tcp', family.host);
        await assert.rejects(connectTcp({ host: family.host, port }), (error: unknown) => {
          assert.ok(error instanceof OpError);
          assert.equal(error.code, ErrorCode.CONNECTION_REFUSED);
          assert.equal(error.message, `dial tcp ${family.shown}:${port}: connection refused (ECONNREFUSED)`);
          assert.deepEqual([error.op, error.transport, error.address, error.port, error.syscallCode], ['dial', 'tcp', family.host, port, 'ECONNREFUSED']);
          return true;
        });
      });

      it('reset by the server: the session closes with peer-reset and SWB_ERR_CONNECTION_RESET', async (t) => {
        const port = await rawServer(t, family.host, (socket) => socket.once('data', () => socket.resetAndDestroy()));
        const session = await connectTcp({ host: family.host, port });
        await session.write('x');
        await assert.rejects(within(session.read(), 'the reset'), { code: ErrorCode.CONNECTION_RESET });
        const reason = await within(session.closed, 'the close');
        assert.equal(reason.cause, CloseCause.PEER_RESET);
        assert.equal(reason.error?.message, `read tcp ${family.shown}:${port}: connection reset by peer (ECONNRESET)`);
      });
    });
  }

  describe('host names', () => {
    it('localhost tries both loopbacks: a server on ::1 only is reached, and the report names both attempts', async (t) => {
      const server = await listenLocal(t, { host: '::1' }, { data(session, chunk) { session.write(chunk); } });
      const port = server.addresses[0]!.port;
      const session = await connectTcp({ host: 'localhost', port, attemptDelay: 10 });
      t.after(() => session.destroy());
      const report = dialReportOf(session)!;
      assert.equal(session.remoteAddress, '::1');
      assert.equal(report.address, '::1');
      assert.equal(report.family, 'IPv6');
      assert.deepEqual(report.addresses.map((entry) => entry.address).sort(), ['127.0.0.1', '::1']);
      assert.equal(report.attempted.at(-1), `[::1]:${port}`);
      assert.ok(report.attempted.length === 2 || report.attempted[0] === `[::1]:${port}`, String(report.attempted));
    });

    it('every address refused: the first attempt\'s failure, every attempt in cause', async () => {
      const port = await closedPort('tcp', '127.0.0.1');
      const lookup = async () => [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }];
      await assert.rejects(connectTcp({ host: 'both.test', port, lookup }), (error: unknown) => {
        assert.ok(error instanceof OpError);
        assert.equal(error.code, ErrorCode.CONNECTION_REFUSED);
        assert.equal(error.message, `dial tcp 127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
        return true;
      });
    });

    it('a name that resolves to nothing: SWB_ERR_NAME_NOT_RESOLVED naming the host', async () => {
      await assert.rejects(connectTcp({ host: 'nothing.test', port: 7, lookup: async () => [] }), {
        code: ErrorCode.NAME_NOT_RESOLVED,
        message: 'dial tcp nothing.test:7: name resolved to no address',
      });
      const failing = async (): Promise<never> => { throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' }); };
      await assert.rejects(connectTcp({ host: 'nowhere.test', port: 7, lookup: failing }), {
        code: ErrorCode.NAME_NOT_RESOLVED,
        message: 'dial tcp nowhere.test:7: name not resolvable (ENOTFOUND)',
      });
    });
  });

  describe('limits and cancellation', () => {
    it('an already aborted signal: SWB_ERR_CONNECT_ABORTED, nothing opened', async (t) => {
      const server = await listenLocal(t);
      await assert.rejects(connectTcp({ host: '127.0.0.1', port: server.addresses[0]!.port, signal: AbortSignal.abort() }), { code: ErrorCode.CONNECT_ABORTED });
      assert.equal(server.stats().accepted, 0);
    });

    it('aborting after the session opened destroys it, with the abort as its error', async (t) => {
      const server = await listenLocal(t);
      const controller = new AbortController();
      const session = await connectTcp({ host: '127.0.0.1', port: server.addresses[0]!.port, signal: controller.signal });
      controller.abort();
      const reason = await within(session.closed, 'the close');
      assert.equal(reason.cause, CloseCause.LOCAL_DESTROY);
      assert.equal(reason.error?.code, ErrorCode.CONNECT_ABORTED);
    });

    it('idleTimeout closes a quiet client session (idle-timeout), as on a server', async (t) => {
      const server = await listenLocal(t);
      const session = await connectTcp({ host: '127.0.0.1', port: server.addresses[0]!.port, idleTimeout: 50 });
      const reason = await within(session.closed, 'the idle timeout');
      assert.equal(reason.cause, CloseCause.IDLE_TIMEOUT);
      assert.equal(reason.error?.code, ErrorCode.IDLE_TIMEOUT);
    });

    it('backpressure and the output cap: a server that never reads makes write() return false, then the cap closes the session', async (t) => {
      const port = await rawServer(t, '127.0.0.1', (socket) => socket.pause());
      const closed = deferred<CloseReason>();
      const session = await connectTcp({ host: '127.0.0.1', port, maxBufferedOutput: 256 * 1024 }, { close(_s, reason) { closed.resolve(reason); } });
      const chunk = Buffer.alloc(64 * 1024);
      let refused = false;
      for (let i = 0; i < 2000 && session.state === 'open'; i++) {
        if (!session.write(chunk)) refused = true;
      }
      assert.ok(refused, 'write() reported backpressure');
      const reason = await within(closed.promise, 'the overflow close');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.OUTPUT_OVERFLOW);
    });

    it('checks options at the call: port required and in range, unknown keys, a servername that is an IP', () => {
      const code = { code: ErrorCode.INVALID_OPTION };
      assert.throws(() => connectTcp({} as never), { ...code, message: '`port` is required: the server port, an integer from 1 to 65535, got undefined' });
      assert.throws(() => connectTcp({ port: 0 }), { ...code, message: '`port` must be an integer from 1 to 65535, got 0' });
      assert.throws(() => connectTcp({ port: 7, timeOut: 5 } as never), { ...code, message: 'unknown option "timeOut" (did you mean "timeout"?)' });
      assert.throws(() => connectTcp({ port: 7, tls: { servername: '127.0.0.1' } }), (error: unknown) => error instanceof InvalidOptionError && error.option === 'tls.servername');
      assert.throws(() => connectTcp({ port: 7, attemptDelay: 5 }), { ...code, message: '`attemptDelay` must be at least 10 ms (Node refuses less), got 5' });
      assert.throws(() => connectTcp({ port: 7, proxyHeader: { version: 3 } as never }), { ...code, message: '`version` must be 1 or 2, got 3' });
      assert.throws(() => connectTcp({ port: 7 }, { dta() {} } as never), { ...code, message: /`handler\.dta` is not a handler callback \(did you mean `data`\?\)/ });
    });
  });

  describe('the PROXY header', () => {
    it('is written first, before any byte the session writes, and parses back', async (t) => {
      const received = deferred<Buffer>();
      const port = await rawServer(t, '127.0.0.1', (socket) => {
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (Buffer.concat(chunks).includes('hello')) received.resolve(Buffer.concat(chunks));
        });
      });
      const proxyHeader = { version: 2, source: { address: '203.0.113.7', port: 51000 }, destination: { address: '198.51.100.1', port: 443 } } as const;
      const session = await connectTcp({ host: '127.0.0.1', port, proxyHeader });
      t.after(() => session.destroy());
      await session.write('hello');
      const bytes = await within(received.promise, 'the header and the payload');
      const parsed = parseProxyHeader(bytes);
      assert.equal(parsed.state, 'complete');
      if (parsed.state !== 'complete') return;
      assert.deepEqual([parsed.header.source, parsed.header.destination].map((end) => end && 'address' in end && `${end.address}:${end.port}`), ['203.0.113.7:51000', '198.51.100.1:443']);
      assert.equal(bytes.subarray(parsed.consumed).toString(), 'hello');
    });
  });

  describe('the PROXY header against a Switchboard proxyProtocol listener', () => {
    const CLIENTS = {
      IPv4: { source: { address: '203.0.113.7', port: 51000 }, destination: { address: '198.51.100.1', port: 443 } },
      IPv6: { source: { address: '2001:db8::7', port: 51000 }, destination: { address: '2001:db8::1', port: 443 } },
    } as const;
    for (const family of FAMILIES) {
      for (const version of [1, 2] as const) {
        it(`over ${family.name}, v${version}: the server's session reports the client the header names and the dialer as proxy.peer, and echoes`, async (t) => {
          const opened = deferred<{ remote: string; family: string; local: string; peer: string | undefined; version: number | undefined }>();
          const server = await listenLocal(t, { host: family.host, proxyProtocol: { from: ['127.0.0.0/8', '::1'] } }, {
            open(session) {
              opened.resolve({ remote: `${session.remoteAddress}:${session.remotePort}`, family: session.remoteFamily, local: `${session.localAddress}:${session.localPort}`, peer: session.proxy?.peer.address, version: session.proxy?.version });
            },
            data(session, chunk) { session.write(chunk); },
          });
          const { source, destination } = CLIENTS[family.name];
          const session = await connectTcp({ host: family.host, port: server.addresses[0]!.port, proxyHeader: { version, source, destination } });
          t.after(() => session.destroy());
          await session.write('ping');
          assert.equal((await within(session.read(), 'the echo'))?.toString(), 'ping');
          assert.deepEqual(await within(opened.promise, 'the server session'), {
            remote: `${source.address}:${source.port}`, family: family.name, local: `${destination.address}:${destination.port}`, peer: family.host, version,
          });
          assert.equal(server.stats().proxy!.headers[`v${version}`], 1);
          session.end();
          assert.equal((await within(session.closed, 'the close')).cause, CloseCause.LOCAL_END);
        });
      }
    }

    it('with TLS: the header, then the handshake over the same connection', async (t) => {
      const certs = await createTestCertificates(t);
      const server = await listenLocal(t, { tls: { key: certs.server.key, cert: certs.server.cert }, proxyProtocol: { from: ['127.0.0.0/8'] } }, {
        open(session) { session.write(`${session.remoteAddress} ${session.tls?.protocol}\n`); },
      });
      const proxyHeader = { version: 2, ...CLIENTS.IPv4 } as const;
      const session = await connectTcp({ host: '127.0.0.1', port: server.addresses[0]!.port, proxyHeader, tls: { servername: 'localhost', ca: certs.ca.cert } });
      t.after(() => session.destroy());
      assert.match((await within(session.read(), 'the greeting'))?.toString() ?? '', /^203\.0\.113\.7 TLSv1\.[23]\n$/);
    });
  });

  it('with TLS too, the PROXY header comes first and the ClientHello right after it', async (t) => {
    const received = deferred<Buffer>();
    const port = await rawServer(t, '127.0.0.1', (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const bytes = Buffer.concat(chunks);
        const lineEnd = bytes.indexOf('\r\n');
        if (lineEnd >= 0 && bytes.length >= lineEnd + 4) {
          received.resolve(bytes);
          socket.destroy(); // no TLS here: the dial fails, which is not what this test is about
        }
      });
    });
    const proxyHeader = { version: 1, source: { address: '203.0.113.7', port: 51000 }, destination: { address: '198.51.100.1', port: 443 } } as const;
    await assert.rejects(connectTcp({ host: '127.0.0.1', port, proxyHeader, tls: { servername: 'example.test' } }), (error: unknown) => error instanceof OpError && error.op === 'dial');
    const bytes = await within(received.promise, 'the header and the ClientHello');
    const header = 'PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\n';
    assert.equal(bytes.subarray(0, header.length).toString('latin1'), header);
    assert.deepEqual([...bytes.subarray(header.length, header.length + 2)], [0x16, 0x03], 'a TLS handshake record follows');
  });

  describe('a client handler that throws', () => {
    it('ends only its session (handler-error) and is reported as a process warning', async (t) => {
      const server = await listenLocal(t, {}, { open(session) { session.write('boom\n'); } });
      const warned = deferred<Error>();
      const onWarning = (warning: Error): void => warned.resolve(warning);
      process.on('warning', onWarning);
      t.after(() => void process.off('warning', onWarning));
      const session = await connectTcp({ host: '127.0.0.1', port: server.addresses[0]!.port }, {
        data() { throw new Error('bad reply'); },
      });
      const reason = await within(session.closed, 'the close');
      assert.equal(reason.cause, CloseCause.HANDLER_ERROR);
      assert.equal(reason.error?.code, ErrorCode.HANDLER_FAILED);
      const warning = await within(warned.promise, 'the warning');
      assert.equal((warning as { code?: string }).code, ErrorCode.HANDLER_FAILED);
      assert.match(warning.message, /^data handler of session \d+ failed: bad reply$/);
    });
  });

  describe('TLS', () => {
    it('against a Switchboard TLS server: SNI and ALPN negotiated, session.tls reports them', async (t) => {
      const certs = await createTestCertificates(t);
      const server = await listenLocal(t, {
        tls: { key: certs.server.key, cert: certs.server.cert, ALPNProtocols: ['echo/1', 'h2'], sni: { 'a.test': { key: certs.a.key, cert: certs.a.cert } } },
      }, { open(session) { session.write(`${session.tls?.serverName} ${session.tls?.alpn}\n`); } });
      const session = await connectTcp({ host: '127.0.0.1', port: server.addresses[0]!.port, tls: { servername: 'a.test', ca: certs.ca.cert, ALPNProtocols: ['echo/1'] } });
      t.after(() => session.destroy());
      assert.equal(session.tls?.alpn, 'echo/1');
      assert.equal(session.tls?.serverName, 'a.test');
      assert.equal(session.tls?.peerCertificate?.subject.CN, 'a.test');
      assert.equal((await within(session.read(), 'the greeting'))?.toString(), 'a.test echo/1\n');
    });

    it('a certificate from an unknown CA, or for another name: SWB_ERR_TLS_SERVER_CERTIFICATE, nothing left open', async (t) => {
      const certs = await createTestCertificates(t);
      const server = await listenLocal(t, { tls: { key: certs.server.key, cert: certs.server.cert } });
      server.on('warning', () => {});
      const port = server.addresses[0]!.port;
      await assert.rejects(connectTcp({ host: '127.0.0.1', port, tls: { ca: certs.strangerCa.cert } }), (error: unknown) => {
        assert.ok(error instanceof OpError);
        assert.equal(error.code, ErrorCode.TLS_SERVER_CERTIFICATE);
        assert.match(error.message, new RegExp(`^dial tcp 127\\.0\\.0\\.1:${port}: server certificate refused: .* \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)$`));
        return true;
      });
      await assert.rejects(connectTcp({ host: '127.0.0.1', port, tls: { ca: certs.ca.cert, servername: 'other.test' } }), (error: unknown) => {
        assert.ok(error instanceof OpError);
        assert.equal(error.code, ErrorCode.TLS_SERVER_CERTIFICATE);
        assert.match(error.message, /\(ERR_TLS_CERT_ALTNAME_INVALID\)$/);
        return true;
      });
    });

    for (const family of FAMILIES) {
      it(`against openssl s_server over ${family.name}: SNI picks the second certificate; ALPN is agreed; lines come back reversed`, async (t) => {
        if (skipWithout(t, 'openssl')) return;
        const certs = await createTestCertificates(t);
        const sServer = (extra: readonly string[]) => startPeer(t, 'openssl', [
          's_server', '-accept', `${family.shown}:0`, '-naccept', '1', '-rev', '-key', certs.server.keyPath, '-cert', certs.server.certPath, ...extra,
        ], /^ACCEPT /);
        const reverse = framed(() => createLineCodec(), async (s) => {
          await s.send('stressed');
          assert.equal(await s.readFrame(), 'desserts');
        });
        // s_server applies -alpn to its first context only, so SNI and ALPN are tried on two servers.
        const sni = await sServer(['-servername', 'b.test', '-key2', certs.b.keyPath, '-cert2', certs.b.certPath]);
        const named = await connectTcp({ host: family.host, port: sni.port, tls: { servername: 'b.test', ca: certs.ca.cert } }, reverse);
        assert.equal(named.tls?.peerCertificate?.subject.CN, 'b.test');
        assert.equal(named.tls?.serverName, 'b.test');
        const alpn = await sServer(['-alpn', 'rev/1,other']);
        const agreed = await connectTcp({ host: family.host, port: alpn.port, tls: { servername: 'localhost', ca: certs.ca.cert, ALPNProtocols: ['other', 'rev/1'] } }, reverse);
        assert.equal(agreed.tls?.alpn, 'rev/1', 'the server chose by its own preference among those offered');
        assert.equal(agreed.tls?.peerCertificate?.subject.CN, 'localhost');
        for (const session of [named, agreed]) {
          const reason = await within(session.closed, 'the session to finish');
          assert.equal(reason.error, undefined, `closed ${reason.cause} ${reason.error?.message}`);
        }
      });
    }
  });

  for (const family of FAMILIES) {
    it(`against socat TCP-LISTEN over ${family.name}: bytes echoed, the peer's close seen`, async (t) => {
      if (skipWithout(t, 'socat')) return;
      const listen = family.name === 'IPv4' ? 'TCP4-LISTEN:0,bind=127.0.0.1' : 'TCP6-LISTEN:0,bind=[::1]';
      const peer = await startPeer(t, 'socat', ['-d', '-d', listen, 'PIPE'], /listening on /);
      const session = await connectTcp({ host: family.host, port: peer.port }, framed(() => createLineCodec(), async (s) => {
        await s.send('through socat');
        assert.equal(await s.readFrame(), 'through socat');
      }));
      assert.equal(session.remoteAddress, family.host);
      const reason = await within(session.closed, 'the close');
      assert.equal(reason.cause, CloseCause.LOCAL_END);
      assert.equal(reason.error, undefined);
    });
  }
});
