/**
 * Implicit TLS on a TcpServer (the `tls` option): the handshake as a pending stage after the
 * `accept` hook and admission, what sessions report against what real clients see, failures
 * refused and summarised, the deadline, close and destroy mid-handshake, setTls, the expiry
 * warning and the half-close rule per version.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ConnectionOptions } from 'node:tls';
import { RejectCause, TlsExpiryWarning, TlsHandshakeError, TlsHandshakeSummary, type EventSession, type RejectedConnection, type SwitchboardError, type TcpEventHandler, type TcpServer, type TcpServerOptions, type TcpSession, type TlsOptions } from '../../src/index.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';
import { assertNoLeakedHandles, deferred, listenLocal, openNetworkHandles, until, within } from '../helpers/net.ts';
import { assertEchoes, briefField, establishedOn, partialClientHello, rawClient, readToEnd, runPeer, sClient, skipWithout, tlsClient } from './peers.ts';

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

function base(extra: Partial<TlsOptions> = {}): TlsOptions {
  return { ...pemPair(certs.server), ca: certs.ca.cert, sni: { 'a.test': pemPair(certs.a), 'b.test': pemPair(certs.b) }, ...extra };
}

/** A TLS server whose sessions are collected in open order; `hello\n` and end unless told otherwise. */
async function listenTls(t: TestContext, tls: TlsOptions, handler?: TcpEventHandler, options: TcpServerOptions = {}) {
  const sessions: EventSession[] = [];
  const opened: PromiseWithResolvers<EventSession>[] = [];
  const slot = (index: number): PromiseWithResolvers<EventSession> => (opened[index] ??= deferred<EventSession>());
  const rejected: RejectedConnection[] = [];
  const warnings: SwitchboardError[] = [];
  const errors: SwitchboardError[] = [];
  const server = await listenLocal(t, { ...options, tls }, {
    open(session) {
      slot(sessions.length).resolve(session);
      sessions.push(session);
      session.write('hello\n');
      session.end();
    },
    ...handler,
  });
  server.on('rejected', (rejection) => rejected.push(rejection));
  server.on('warning', (warning) => warnings.push(warning));
  server.on('error', (error) => errors.push(error));
  const port = server.addresses[0]!.port;
  return { server, port, rejected, warnings, errors, session: (index: number) => within(slot(index).promise, `session ${index}`) };
}

/** The ledger balances once nothing is pending or open. */
async function assertBalanced(server: TcpServer): Promise<void> {
  await until(() => server.stats().pending === 0 && server.stats().sessions === 0, 'no pending socket or session');
  const stats = server.stats();
  assert.equal(stats.accepted, stats.closed, `accepted ${stats.accepted} = closed ${stats.closed}`);
}

describe('TcpServer with the tls option', () => {
  describe('what a session reports', () => {
    it('opens after the handshake and reports what openssl s_client sees', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const { port, session, server } = await listenTls(t, base());
      const run = await sClient(port, ['-brief', '-noservername', '-CAfile', certs.ca.certPath, '-verify_return_error']);
      assert.match(run.output, /^hello$/m);
      const tls = (await session(0)).tls;
      assert.equal(tls?.protocol, briefField(run.output, 'Protocol version'));
      assert.equal(tls?.protocol, 'TLSv1.3');
      assert.equal(tls?.cipher.standardName, briefField(run.output, 'Ciphersuite'));
      assert.equal(tls?.serverName, null);
      assert.equal(tls?.alpn, null);
      assert.equal(tls?.authorized, false);
      assert.equal(tls?.peerCertificate, null);
      assert.deepEqual(server.stats().tls && { handshakes: server.stats().tls!.handshakes, failed: server.stats().tls!.failed }, { handshakes: 1, failed: 0 });
      await assertBalanced(server);
    });

    it('reports null on a plaintext session, and no tls stats without the option', async (t) => {
      const opened = deferred<TcpSession>();
      const server = await listenLocal(t, {}, { open: (session) => { opened.resolve(session); session.end(); } });
      const client = await rawClient(server.addresses[0]!.port);
      assert.equal((await within(opened.promise, 'the session')).tls, null);
      await within(client.closed, 'the close');
      assert.equal(server.stats().tls, undefined);
      assert.throws(() => server.setTls(base()), { code: 'SWB_ERR_TLS_INVALID_STATE', message: /created without the `tls` option/ });
    });

    it('serves the certificate of each SNI name and the default, and reports the name', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const { port, session } = await listenTls(t, base());
      const cases = [[['-servername', 'a.test'], 'CN = a.test', 'a.test'], [['-servername', 'b.test'], 'CN = b.test', 'b.test'], [['-noservername'], 'CN = localhost', null]] as const;
      for (const [index, [args, subject, name]] of cases.entries()) {
        const run = await sClient(port, ['-brief', ...args]);
        assert.equal(briefField(run.output, 'Peer certificate'), subject);
        assert.equal((await session(index)).tls?.serverName, name);
      }
    });

    it('negotiates ALPN; a client with no protocol in common gets the alert and is refused as tls-handshake', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const { port, session, rejected, server } = await listenTls(t, base({ ALPNProtocols: ['x-sb', 'h2'] }));
      const chosen = await sClient(port, ['-alpn', 'h2']);
      assert.equal(briefField(chosen.output, 'ALPN protocol'), 'h2');
      assert.equal((await session(0)).tls?.alpn, 'h2');
      const refused = await sClient(port, ['-brief', '-alpn', 'foo']);
      assert.match(refused.output, /alert no application protocol/);
      await until(() => rejected.length === 1, 'the refusal');
      assert.equal(rejected[0]!.cause, RejectCause.TLS_HANDSHAKE);
      assert.ok(rejected[0]!.error instanceof TlsHandshakeError);
      assert.equal((rejected[0]!.error as TlsHandshakeError).reason, 'no-application-protocol');
      assert.equal(server.stats().tls?.failures['no-application-protocol'], 1);
    });

    it('requires a client certificate from ca, also under SNI, and reports it', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const { port, session, rejected } = await listenTls(t, base({ requestCert: true }));
      const expected = new X509Certificate(certs.client.cert);
      for (const [index, args] of [['-noservername'], ['-servername', 'b.test']].entries()) {
        await sClient(port, ['-brief', ...args, '-cert', certs.client.certPath, '-key', certs.client.keyPath]);
        const tls = (await session(index)).tls;
        assert.equal(tls?.authorized, true, args.join(' '));
        assert.deepEqual(tls?.peerCertificate?.subject, { CN: 'client' });
        assert.equal(tls?.peerCertificate?.fingerprint256, expected.fingerprint256);
      }
      const none = await sClient(port, ['-brief']);
      assert.match(none.output, /alert certificate required/);
      await sClient(port, ['-brief', '-servername', 'a.test', '-cert', certs.strangerClient.certPath, '-key', certs.strangerClient.keyPath]);
      await until(() => rejected.length === 2, 'two refusals');
      assert.deepEqual(rejected.map((r) => [r.cause, (r.error as TlsHandshakeError).reason, (r.error as TlsHandshakeError).tlsCode]), [
        ['tls-handshake', 'client-certificate', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'],
        ['tls-handshake', 'client-certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
      ]);
    });

    it('with an optional client certificate, opens the session and says why it is not authorized', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const { port, session } = await listenTls(t, base({ requestCert: true, rejectUnauthorized: false }));
      await sClient(port, ['-brief', '-cert', certs.strangerClient.certPath, '-key', certs.strangerClient.keyPath]);
      const tls = (await session(0)).tls;
      assert.equal(tls?.authorized, false);
      assert.equal(tls?.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.deepEqual(tls?.peerCertificate?.subject, { CN: 'stranger' });
    });

    it('reports what gnutls-cli negotiates: ALPN, SNI, a client certificate', async (t) => {
      if (skipWithout(t, 'gnutls-cli')) return;
      const { port, session } = await listenTls(t, base({ requestCert: true, ALPNProtocols: ['x-sb', 'h2'] }));
      const run = await runPeer('gnutls-cli', ['--x509cafile', certs.ca.certPath, '--alpn', 'x-sb', '--sni-hostname', 'a.test', '--verify-hostname', 'a.test',
        '--x509certfile', certs.client.certPath, '--x509keyfile', certs.client.keyPath, '-p', String(port), '127.0.0.1']);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /^hello$/m);
      assert.match(run.output, /Application protocol: x-sb/);
      const tls = (await session(0)).tls;
      assert.equal(tls?.alpn, 'x-sb');
      assert.equal(tls?.serverName, 'a.test');
      assert.equal(tls?.authorized, true);
      assert.match(run.output, new RegExp(`\\(${tls!.protocol.replace('v', '')}-`), 'the same protocol version');
    });

    it('reports what socat OPENSSL: sees, with a client certificate', async (t) => {
      if (skipWithout(t, 'socat')) return;
      const { port, session } = await listenTls(t, base({ requestCert: true }));
      const address = `OPENSSL:127.0.0.1:${port},cafile=${certs.ca.certPath},commonname=b.test,snihost=b.test,cert=${certs.client.certPath},key=${certs.client.keyPath}`;
      const run = await runPeer('socat', ['-d', '-d', '-t', '2', '-', address]);
      assert.match(run.stdout, /^hello$/m);
      const tls = (await session(0)).tls;
      assert.equal(tls?.serverName, 'b.test');
      assert.equal(tls?.authorized, true);
      // socat -d -d logs what it negotiated: "SSL proto version used: TLSv1.3", "SSL connection using TLS_AES_256_GCM_SHA384".
      assert.equal(/SSL proto version used: (\S+)/.exec(run.stderr)?.[1], tls?.protocol);
      assert.equal(/SSL connection using (\S+)/.exec(run.stderr)?.[1], tls?.cipher.name);
    });

    it('counts decrypted bytes, keeps the idle timeout on the TLS socket', async (t) => {
      const closed = deferred<{ session: TcpSession; cause: string }>();
      const { port } = await listenTls(t, base(), {
        open() {},
        data(session, chunk) { session.write(chunk); },
        close(session, reason) { closed.resolve({ session, cause: reason.cause }); },
      }, { idleTimeout: 300 });
      const client = await tlsClient(t, port, { ca: certs.ca.cert, servername: 'localhost' });
      const echoed = new Promise<string>((resolve) => client.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      client.write('12345');
      assert.equal(await within(echoed, 'the echo'), '12345');
      const { session, cause } = await within(closed.promise, 'the idle close', 3000);
      assert.equal(cause, 'idle-timeout');
      assert.equal(session.bytesRead, 5);
      assert.equal(session.bytesWritten, 5);
    });
  });

  describe('admission before the handshake', () => {
    it('runs the accept hook and the limits first: a refused peer costs no handshake', async (t) => {
      const { port, server, rejected } = await listenTls(t, base(), { accept: () => false });
      const client = await rawClient(port);
      await within(client.closed, 'the refusal');
      await until(() => rejected.length === 1, 'the refusal event');
      assert.equal(rejected[0]!.cause, RejectCause.ACCEPT_HOOK);
      assert.equal(server.stats().tls?.handshakes, 0);
      assert.equal(server.stats().tls?.failed, 0);
      server.setAccessRules({ deny: ['127.0.0.1'] });
      await within((await rawClient(port)).closed, 'the denied close');
      await until(() => rejected.length === 2, 'the second refusal');
      assert.equal(rejected[1]!.cause, RejectCause.DENIED);
      assert.deepEqual([server.stats().tls?.handshakes, server.stats().tls?.failed], [0, 0]);
    });

    it('runs an async accept hook before the handshake, then the session opens over TLS', async (t) => {
      const order: string[] = [];
      const { port, session } = await listenTls(t, base(), {
        async accept(info) {
          order.push(`accept ${info.remoteAddress}`);
          await new Promise((resolve) => setImmediate(resolve));
          return true;
        },
      });
      const client = await tlsClient(t, port, { ca: certs.ca.cert, servername: 'localhost' });
      assert.equal(await readToEnd(client), 'hello\n');
      assert.equal((await session(0)).tls?.protocol, 'TLSv1.3');
      assert.deepEqual(order, ['accept 127.0.0.1']);
    });
  });

  describe('failures', () => {
    it('closes plaintext to the TLS port, refused as tls-handshake, with one summary warning and no error', async (t) => {
      const { port, server, rejected, warnings, errors } = await listenTls(t, base());
      const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(port)));
      for (const client of clients) client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await within(Promise.all(clients.map((client) => client.closed)), 'every plaintext connection to close');
      await until(() => warnings.some((w) => w instanceof TlsHandshakeSummary), 'the summary warning', 3000);
      assert.equal(rejected.length, 20);
      assert.ok(rejected.every((r) => r.cause === 'tls-handshake' && (r.error as TlsHandshakeError).reason === 'not-tls'));
      const summaries = warnings.filter((w): w is TlsHandshakeSummary => w instanceof TlsHandshakeSummary);
      assert.equal(summaries.length, 1, 'one warning for the burst');
      assert.equal(summaries[0]!.code, 'SWB_ERR_TLS_HANDSHAKE_FAILURES');
      assert.equal(summaries[0]!.total, 20);
      assert.deepEqual(summaries[0]!.reasons, { 'not-tls': 20 });
      assert.match(summaries[0]!.message, /^20 TLS handshakes failed in \d+ ms: not-tls 20$/);
      assert.deepEqual(errors, []);
      assert.equal(server.stats().tls?.failures['not-tls'], 20);
      await assertBalanced(server);
    });

    it('closes 1,000 connections that never finish a ClientHello at the deadline, none left ESTABLISHED', async (t) => {
      const hello = await partialClientHello(t, 50);
      const timeout = 500;
      const { port, server, rejected } = await listenTls(t, base({ handshakeTimeout: timeout }));
      const started = performance.now();
      const clients = await Promise.all(Array.from({ length: 1000 }, async (_, index) => {
        const client = await rawClient(port);
        if (index % 2 === 1) client.socket.write(hello);
        const connectedAt = performance.now();
        return { ...client, lived: client.closed.then(() => performance.now() - connectedAt) };
      }));
      const lived = await within(Promise.all(clients.map((client) => client.lived)), 'every stalled connection to close', timeout + 10_000);
      t.diagnostic(`1,000 connections opened in ${Math.round(performance.now() - started - Math.max(...lived))} ms; each closed ${Math.round(Math.min(...lived))}–${Math.round(Math.max(...lived))} ms after its connect (deadline ${timeout} ms)`);
      assert.ok(Math.min(...lived) >= timeout - 50, 'none closed early');
      assert.equal(establishedOn(port), 0);
      await until(() => rejected.length === 1000, 'every refusal');
      assert.equal(server.stats().tls?.failures['handshake-timeout'], 1000);
      await assertBalanced(server);
    });

    it('reports a reset mid-handshake and balances the ledger', async (t) => {
      const hello = await partialClientHello(t, 50);
      const { port, server, rejected } = await listenTls(t, base());
      const client = await rawClient(port);
      client.socket.write(hello, () => client.socket.resetAndDestroy());
      await client.closed;
      await until(() => rejected.length === 1, 'the refusal');
      // The reset closes the socket before the handshake can answer: the peer is gone.
      assert.ok(['peer-gone', 'tls-handshake'].includes(rejected[0]!.cause), rejected[0]!.cause);
      await until(() => server.stats().tls?.failures['peer-closed'] === 1, 'the failure counted');
      await assertBalanced(server);
    });

    it('refuses the connection at once when the server closes mid-handshake, leaving no handle', async (t) => {
      const baseline = openNetworkHandles();
      const { port, server, rejected, warnings } = await listenTls(t, base());
      const clients = await Promise.all([0, 1, 2].map(() => rawClient(port)));
      await until(() => server.stats().tls?.inProgress === 3, 'three handshakes running');
      await within(server.close({ timeout: 5000 }), 'the graceful close', 3000);
      await within(Promise.all(clients.map((client) => client.closed)), 'the clients to be closed');
      assert.deepEqual(rejected.map((r) => r.cause), ['closing', 'closing', 'closing']);
      assert.equal(server.stats().tls?.failures.aborted, 3);
      assert.equal(server.stats().tls?.inProgress, 0);
      assert.ok(!warnings.some((w) => w instanceof TlsHandshakeSummary), 'aborted handshakes are not the peers\' failures');
      const stats = server.stats();
      assert.equal(stats.accepted, stats.closed);
      await assertNoLeakedHandles(baseline);
    });

    it('destroys mid-handshake without a crash, and the ledger balances', async (t) => {
      const { port, server } = await listenTls(t, base());
      const hello = await partialClientHello(t, 50);
      const clients = await Promise.all([0, 1].map(() => rawClient(port)));
      clients[1]!.socket.write(hello);
      await until(() => server.stats().tls?.inProgress === 2, 'two handshakes running');
      await within(server.destroy(), 'the destroy');
      await within(Promise.all(clients.map((client) => client.closed)), 'the clients to be closed');
      const stats = server.stats();
      assert.deepEqual([stats.accepted, stats.closed, stats.pending], [2, 2, 0]);
    });
  });

  describe('setTls', () => {
    it('gives the next handshake the new certificate while an open session keeps exchanging; a bad one keeps the old', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const { port, server } = await listenTls(t, base(), {
        open(session) {
          if (session.id === 1) return;
          session.write('hello\n');
          session.end();
        },
        data(session, chunk) { session.write(chunk); },
      });
      const open = await tlsClient(t, port, { ca: certs.ca.cert, servername: 'localhost' });
      const echo = (text: string): Promise<void> => assertEchoes(open, text);
      await echo('before');
      server.setTls({ ...pemPair(certs.b), ca: certs.ca.cert });
      await echo('after');
      assert.equal(briefField((await sClient(port, ['-brief', '-noservername'])).output, 'Peer certificate'), 'CN = b.test');
      assert.throws(() => server.setTls({ key: certs.strayKey, cert: certs.a.cert }), (error: SwitchboardError) => {
        assert.equal(error.code, 'SWB_ERR_TLS_RELOAD_FAILED');
        assert.match(error.message, /the certificates in use are kept: `tls.key` does not match its certificate \(CN=a.test\)/);
        return true;
      });
      assert.throws(() => server.setTls({ ...pemPair(certs.a), mode: 'starttls' }), { code: 'SWB_ERR_TLS_RELOAD_FAILED', message: /`tls.mode` cannot change/ });
      assert.equal(briefField((await sClient(port, ['-brief', '-noservername'])).output, 'Peer certificate'), 'CN = b.test', 'the bad reload kept the certificate');
      await echo('still');
      assert.equal(server.stats().tls?.reloads, 1);
    });

    it('loses no handshake when setTls runs under a handshake loop', async (t) => {
      const { port, server } = await listenTls(t, base());
      let stop = false;
      const reloads = (async () => {
        for (let flip = false; !stop; flip = !flip) {
          server.setTls({ ...pemPair(flip ? certs.server : certs.b), ca: certs.ca.cert });
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const subjects = new Set<string>();
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 10 }, async () => {
          const client = await tlsClient(t, port, { ca: certs.ca.cert, checkServerIdentity: () => undefined });
          subjects.add(client.getPeerX509Certificate()!.subject);
          assert.equal(await readToEnd(client), 'hello\n');
        }));
      }
      stop = true;
      await reloads;
      assert.deepEqual([...subjects].sort(), ['CN=b.test', 'CN=localhost']);
      assert.deepEqual([server.stats().tls?.handshakes, server.stats().tls?.failed], [100, 0]);
    });
  });

  describe('certificate expiry', () => {
    it('warns after listen, and on a setTls, when a certificate expires within the window', async (t) => {
      const server = await listenLocal(t, { tls: { ...pemPair(certs.server), sni: { 'soon.test': pemPair(certs.soon) } } });
      const warned = deferred<SwitchboardError>();
      server.on('warning', (warning) => warned.resolve(warning));
      const warning = await within(warned.promise, 'the expiry warning');
      assert.ok(warning instanceof TlsExpiryWarning);
      assert.equal(warning.code, 'SWB_ERR_TLS_CERTIFICATE_EXPIRING');
      assert.deepEqual(warning.certificates.map((c) => [c.subject, c.servername]), [['CN=soon.test', 'soon.test']]);
      assert.match(warning.message, /^TLS certificate CN=soon.test \(tls.sni\["soon.test"\], server name soon.test\) expires in 1\.0 days/);
      const again = deferred<SwitchboardError>();
      server.on('warning', (w) => again.resolve(w));
      server.setTls({ ...pemPair(certs.expired) });
      const expired = await within(again.promise, 'the warning after setTls');
      assert.match(expired.message, /^TLS certificate CN=expired.test \(tls\) expired 1\.0 days ago/);
      const quiet = await listenLocal(t, { tls: { ...pemPair(certs.soon), expiryWarning: 0 } });
      quiet.on('warning', () => assert.fail('expiryWarning 0 disables the warning'));
      await new Promise((resolve) => setImmediate(resolve));
    });
  });

  describe('half-close', () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      it(`${version}: ${version === 'TLSv1.3' ? 'the session may write after the peer\'s close_notify' : 'the peer\'s close_notify closes the session both ways'}`, async (t) => {
        const ended = deferred<EventSession>();
        const closed = deferred<string>();
        const { port } = await listenTls(t, base(), {
          open() {},
          end(session) {
            session.write('after your end\n');
            ended.resolve(session);
          },
          close(_session, reason) { closed.resolve(reason.cause); },
        });
        const client = await tlsClient(t, port, { ca: certs.ca.cert, servername: 'localhost', maxVersion: version, allowHalfOpen: true } as ConnectionOptions);
        const reply = readToEnd(client);
        client.end();
        const session = await within(ended.promise, 'the end handler');
        if (version === 'TLSv1.3') {
          assert.equal(session.state, 'open', 'half-open: our side still writes');
          session.write('and more\n');
          session.end();
          assert.equal(await reply, 'after your end\nand more\n');
        } else {
          assert.equal(session.state, 'ending', 'ended at once: TLS 1.2 has no half-close');
          assert.equal(session.write('too late\n'), false);
          assert.equal(await reply, 'after your end\n');
        }
        assert.equal(await within(closed.promise, 'the close'), 'peer-end');
      });
    }
  });
});
