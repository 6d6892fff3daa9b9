import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { InvalidOptionError } from '../../src/core/errors.ts';
import { describeTls } from '../../src/tls/describe-tls.ts';
import { handshake } from '../../src/tls/handshake.ts';
import { TlsHandshakeError } from '../../src/tls/handshake-error.ts';
import { TlsContexts } from '../../src/tls/secure-contexts.ts';
import type { TlsOptions } from '../../src/tls/tls-options.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';
import { assertNoLeakedHandles, openNetworkHandles, within } from '../helpers/net.ts';
import { assertEchoes, briefField, establishedOn, listenHandshakes, partialClientHello, rawClient, runPeer, sClient, skipWithout, type HandshakeServer, type Outcome } from './peers.ts';

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

/** A raw server whose every accepted socket goes through `handshake` with these options. */
function serve(t: TestContext, options: TlsOptions | TlsContexts, extra: { timeout?: number; host?: string; onSecure?: (secure: TLSSocket) => void } = {}): Promise<HandshakeServer> {
  const contexts = options instanceof TlsContexts ? options : new TlsContexts(options);
  return listenHandshakes(t, (socket) => handshake(socket, contexts, extra.timeout === undefined ? {} : { timeout: extra.timeout }), extra);
}

function base(extra: Partial<TlsOptions> = {}): TlsOptions {
  return { ...pemPair(certs.server), ca: certs.ca.cert, sni: { 'a.test': pemPair(certs.a), 'b.test': pemPair(certs.b) }, ...extra };
}

function assertFailed(outcome: Outcome, code: string, reason: string, tlsCode?: string): void {
  assert.ok(outcome.error instanceof TlsHandshakeError, `expected a TlsHandshakeError, got ${outcome.error ?? 'success'}`);
  assert.equal(outcome.error.code, code);
  assert.equal(outcome.error.reason, reason);
  if (tlsCode !== undefined) assert.equal(outcome.error.tlsCode, tlsCode);
  assert.equal(outcome.raw.destroyed, true);
  assert.equal(outcome.rawCloses(), 1, 'the accepted socket closed exactly once, before the promise settled');
}

describe('handshake', () => {
  describe('with openssl s_client', () => {
    it('completes implicit TLS, and the socket reports what the client sees', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base());
      const run = await sClient(server.port, ['-brief', '-noservername', '-CAfile', certs.ca.certPath, '-verify_return_error']);
      assert.match(run.output, /^hello$/m);
      const { info, raw } = await server.outcome(0);
      assert.equal(briefField(run.output, 'Protocol version'), 'TLSv1.3');
      assert.equal(info?.protocol, 'TLSv1.3');
      assert.equal(info?.cipher.standardName, briefField(run.output, 'Ciphersuite'));
      assert.equal(briefField(run.output, 'Peer certificate'), 'CN = localhost');
      assert.equal(info?.serverName, null);
      assert.equal(info?.alpn, null);
      assert.equal(info?.authorized, false);
      assert.equal(info?.authorizationError, null);
      assert.equal(info?.peerCertificate, null);
      assert.equal(describeTls(raw), null, 'a plaintext socket reports null');
    });

    it('reports TLS 1.2 with the IANA cipher name next to OpenSSL\'s', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base());
      const run = await sClient(server.port, ['-brief', '-tls1_2', '-CAfile', certs.ca.certPath]);
      const { info } = await server.outcome(0);
      assert.equal(briefField(run.output, 'Protocol version'), 'TLSv1.2');
      assert.equal(info?.protocol, 'TLSv1.2');
      assert.equal(info?.cipher.name, briefField(run.output, 'Ciphersuite'));
      assert.match(info!.cipher.standardName, /^TLS_ECDHE_ECDSA_WITH_/);
    });

    it('serves the certificate of each SNI name, and the default for no name or an unknown one', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base());
      const cases = [
        [['-servername', 'a.test'], 'CN = a.test', 'a.test'],
        [['-servername', 'b.test'], 'CN = b.test', 'b.test'],
        [['-noservername'], 'CN = localhost', null],
        [['-servername', 'unknown.test'], 'CN = localhost', 'unknown.test'],
      ] as const;
      for (const [index, [args, subject, serverName]] of cases.entries()) {
        const run = await sClient(server.port, ['-brief', ...args]);
        assert.equal(briefField(run.output, 'Peer certificate'), subject, args.join(' '));
        assert.equal((await server.outcome(index)).info?.serverName, serverName);
      }
    });

    it('negotiates ALPN, and answers a client with no protocol in common with the fatal no_application_protocol alert', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base({ ALPNProtocols: ['x-sb', 'h2'] }));
      const chosen = await sClient(server.port, ['-alpn', 'h2']);
      assert.equal(briefField(chosen.output, 'ALPN protocol'), 'h2');
      assert.equal((await server.outcome(0)).info?.alpn, 'h2');
      const refused = await sClient(server.port, ['-brief', '-alpn', 'foo']);
      assert.match(refused.output, /alert no application protocol/);
      assertFailed(await server.outcome(1), 'SWB_ERR_TLS_NO_APPLICATION_PROTOCOL', 'no-application-protocol', 'ERR_SSL_NO_APPLICATION_PROTOCOL');
      const none = await sClient(server.port, ['-brief']);
      assert.match(none.output, /^hello$/m, 'a client offering no ALPN at all is served');
      assert.equal((await server.outcome(2)).info?.alpn, null);
    });

    it('requires a client certificate from `ca`: none gets alert 116, another CA\'s or an expired one is refused', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base({ requestCert: true }));
      const none = await sClient(server.port, ['-brief']);
      assert.match(none.output, /alert certificate required.*SSL alert number 116/);
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_CLIENT_CERTIFICATE', 'client-certificate', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
      // A TLSSocket made with `new` accepts a certificate from any CA; authorizePeer is what refuses it.
      await sClient(server.port, ['-brief', '-cert', certs.strangerClient.certPath, '-key', certs.strangerClient.keyPath]);
      assertFailed(await server.outcome(1), 'SWB_ERR_TLS_CLIENT_CERTIFICATE', 'client-certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      await sClient(server.port, ['-brief', '-cert', certs.expired.certPath, '-key', certs.expired.keyPath]);
      assertFailed(await server.outcome(2), 'SWB_ERR_TLS_CLIENT_CERTIFICATE', 'client-certificate', 'CERT_HAS_EXPIRED');
    });

    it('reports a verified client certificate, also when the server certificate was chosen by SNI', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base({ requestCert: true }));
      const expected = new X509Certificate(certs.client.cert);
      for (const [index, args] of [['-noservername'], ['-servername', 'a.test'], ['-servername', 'b.test']].entries()) {
        const run = await sClient(server.port, ['-brief', ...args, '-cert', certs.client.certPath, '-key', certs.client.keyPath]);
        assert.match(run.output, /^hello$/m, args.join(' '));
        const { info } = await server.outcome(index);
        assert.equal(info?.authorized, true, `authorized with ${args.join(' ')}`);
        assert.equal(info?.authorizationError, null);
        assert.deepEqual(info?.peerCertificate?.subject, { CN: 'client' });
        assert.deepEqual(info?.peerCertificate?.issuer, { CN: 'Switchboard Test CA' });
        assert.equal(info?.peerCertificate?.fingerprint256, expected.fingerprint256);
        assert.equal(info?.peerCertificate?.serialNumber, expected.serialNumber);
        assert.deepEqual(info?.peerCertificate?.validTo, expected.validToDate);
        assert.deepEqual(info?.peerCertificate?.validFrom, expected.validFromDate);
      }
    });

    it('with rejectUnauthorized false, opens the connection and says why the certificate is not authorized', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base({ requestCert: true, rejectUnauthorized: false }));
      await sClient(server.port, ['-brief', '-servername', 'a.test', '-cert', certs.strangerClient.certPath, '-key', certs.strangerClient.keyPath]);
      const stranger = (await server.outcome(0)).info;
      assert.equal(stranger?.authorized, false);
      assert.equal(stranger?.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.deepEqual(stranger?.peerCertificate?.subject, { CN: 'stranger' });
      await sClient(server.port, ['-brief']);
      const none = (await server.outcome(1)).info;
      assert.equal(none?.authorized, false);
      assert.equal(typeof none?.authorizationError, 'string');
      assert.equal(none?.peerCertificate, null);
      await sClient(server.port, ['-brief', '-cert', certs.client.certPath, '-key', certs.client.keyPath]);
      assert.equal((await server.outcome(2)).info?.authorized, true);
    });

    it('refuses a client that offers only versions below minVersion', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await serve(t, base({ minVersion: 'TLSv1.3' }));
      const run = await sClient(server.port, ['-brief', '-tls1_2']);
      assert.match(run.output, /alert protocol version/);
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_PROTOCOL_VERSION', 'protocol-version', 'ERR_SSL_UNSUPPORTED_PROTOCOL');
    });

    it('serves on ::1 with the SAN for it', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      if (!hostHasIPv6()) return t.skip('SKIPPED LOUDLY: this host has no IPv6');
      const server = await serve(t, base(), { host: '::1' });
      const run = await runPeer('openssl', ['s_client', '-connect', `[::1]:${server.port}`, '-ign_eof', '-brief', '-CAfile', certs.ca.certPath, '-verify_ip', '::1', '-verify_return_error']);
      assert.match(run.output, /^hello$/m);
      assert.equal((await server.outcome(0)).info?.protocol, 'TLSv1.3');
    });
  });

  describe('with gnutls-cli (a second TLS stack)', () => {
    it('negotiates ALPN and SNI and presents a client certificate', async (t) => {
      if (skipWithout(t, 'gnutls-cli')) return;
      const server = await serve(t, base({ requestCert: true, ALPNProtocols: ['x-sb', 'h2'] }));
      const args = ['--x509cafile', certs.ca.certPath, '--alpn', 'x-sb', '--sni-hostname', 'b.test', '--verify-hostname', 'b.test',
        '--x509certfile', certs.client.certPath, '--x509keyfile', certs.client.keyPath, '-p', String(server.port), '127.0.0.1'];
      const run = await runPeer('gnutls-cli', args);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /^hello$/m);
      assert.match(run.output, /Application protocol: x-sb/);
      assert.match(run.output, /subject `CN=b\.test'/);
      const { info } = await server.outcome(0);
      assert.equal(info?.alpn, 'x-sb');
      assert.equal(info?.serverName, 'b.test');
      assert.equal(info?.authorized, true);
      assert.deepEqual(info?.peerCertificate?.subject, { CN: 'client' });
      assert.match(run.output, new RegExp(`\\(${info!.protocol.replace('v', '')}-`), 'gnutls reports the same protocol version');
    });

    it('is refused without a shared ALPN protocol', async (t) => {
      if (skipWithout(t, 'gnutls-cli')) return;
      const server = await serve(t, base({ ALPNProtocols: ['x-sb'] }));
      const run = await runPeer('gnutls-cli', ['--x509cafile', certs.ca.certPath, '--alpn', 'foo', '-p', String(server.port), 'localhost']);
      assert.notEqual(run.code, 0);
      assert.match(run.output, /No supported application protocol could be negotiated|no_application_protocol/i);
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_NO_APPLICATION_PROTOCOL', 'no-application-protocol');
    });
  });

  describe('failures close the connection', () => {
    it('closes plaintext HTTP sent to the TLS port', async (t) => {
      const server = await serve(t, base());
      const { socket, closed } = await rawClient(server.port);
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await within(closed, 'the server to close the plaintext connection');
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_NOT_TLS', 'not-tls', 'ERR_SSL_HTTP_REQUEST');
    });

    it('closes garbage that is no TLS record', async (t) => {
      const server = await serve(t, base());
      const { socket, closed } = await rawClient(server.port);
      socket.write(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
      await within(closed, 'the server to close');
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_NOT_TLS', 'not-tls', 'ERR_SSL_WRONG_VERSION_NUMBER');
    });

    it('closes a client that sends nothing when the deadline passes, really closing the socket', async (t) => {
      const server = await serve(t, base(), { timeout: 300 });
      const { closed } = await rawClient(server.port);
      await within(closed, 'the server to close a silent connection', 3000);
      const outcome = await server.outcome(0);
      assertFailed(outcome, 'SWB_ERR_TLS_HANDSHAKE_TIMEOUT', 'handshake-timeout');
      assert.match(outcome.error!.message, /no complete handshake within 300 ms/);
      assert.ok(outcome.elapsedMs >= 300, `settled after ${outcome.elapsedMs} ms`);
      assert.equal(establishedOn(server.port), 0);
    });

    it('closes a partial ClientHello at the deadline', async (t) => {
      const hello = await partialClientHello(t, 50);
      const server = await serve(t, base(), { timeout: 300 });
      const { socket, closed } = await rawClient(server.port);
      socket.write(hello);
      await within(closed, 'the server to close a partial ClientHello', 3000);
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_HANDSHAKE_TIMEOUT', 'handshake-timeout');
    });

    it('closes 1,000 connections that never finish a ClientHello, none left ESTABLISHED', async (t) => {
      const hello = await partialClientHello(t, 50);
      const timeout = 500;
      const server = await serve(t, base(), { timeout });
      const clients = await Promise.all(Array.from({ length: 1000 }, async (_, index) => {
        const client = await rawClient(server.port);
        if (index % 2 === 1) client.socket.write(hello);
        return client;
      }));
      await within(Promise.all(clients.map((client) => client.closed)), 'every stalled connection to be closed', timeout + 10_000);
      const outcomes = await Promise.all(clients.map((_, index) => server.outcome(index)));
      assert.deepEqual(new Set(outcomes.map((outcome) => outcome.error?.code)), new Set(['SWB_ERR_TLS_HANDSHAKE_TIMEOUT']));
      assert.ok(outcomes.every((outcome) => outcome.rawCloses() === 1));
      assert.equal(establishedOn(server.port), 0);
    });

    it('reports a reset mid-handshake', async (t) => {
      const hello = await partialClientHello(t, 50);
      const server = await serve(t, base());
      const { socket, closed } = await rawClient(server.port);
      socket.write(hello, () => socket.resetAndDestroy());
      await closed;
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_PEER_CLOSED', 'peer-closed', 'ECONNRESET');
    });

    it('reports a peer that half-closes mid-handshake', async (t) => {
      const hello = await partialClientHello(t, 50);
      const server = await serve(t, base());
      const { socket, closed } = await rawClient(server.port);
      socket.end(hello);
      await within(closed, 'the server to close');
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_PEER_CLOSED', 'peer-closed');
    });

    it('closes the connection when its signal aborts, or at once when it already has', async (t) => {
      const contexts = new TlsContexts(base());
      const controller = new AbortController();
      const server = await listenHandshakes(t, (socket) => handshake(socket, contexts, { signal: server.accepted() > 1 ? AbortSignal.abort('gone') : controller.signal }));
      const first = await rawClient(server.port);
      await within(new Promise<void>((resolve) => setImmediate(resolve)), 'a turn');
      controller.abort(new Error('server closing'));
      await within(first.closed, 'the aborted connection to close');
      const aborted = await server.outcome(0);
      assertFailed(aborted, 'SWB_ERR_TLS_HANDSHAKE_ABORTED', 'aborted');
      assert.equal((aborted.error!.cause as Error).message, 'server closing');
      const second = await rawClient(server.port);
      await within(second.closed, 'the pre-aborted connection to close');
      assertFailed(await server.outcome(1), 'SWB_ERR_TLS_HANDSHAKE_ABORTED', 'aborted');
    });

    it('fails the handshake, not the process, when the SNI or ALPN callback throws', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const sni = await serve(t, base({ sniCallback: () => { throw new Error('store down'); } }));
      await sClient(sni.port, ['-brief', '-servername', 'dyn.test']);
      const sniFailure = await sni.outcome(0);
      assertFailed(sniFailure, 'SWB_ERR_TLS_HANDSHAKE_FAILED', 'handshake-failed');
      assert.match(sniFailure.error!.message, /SNI callback failed for "dyn\.test": store down/);
      const alpn = await serve(t, { ...pemPair(certs.server), ALPNCallback: ({ protocols }) => { if (protocols.includes('boom')) throw new Error('alpn boom'); return protocols.includes('h2') ? 'h2' : undefined; } });
      await sClient(alpn.port, ['-brief', '-alpn', 'boom']);
      assertFailed(await alpn.outcome(0), 'SWB_ERR_TLS_HANDSHAKE_FAILED', 'handshake-failed');
      await sClient(alpn.port, ['-brief', '-alpn', 'foo']);
      assertFailed(await alpn.outcome(1), 'SWB_ERR_TLS_NO_APPLICATION_PROTOCOL', 'no-application-protocol');
      await sClient(alpn.port, ['-brief', '-alpn', 'foo,h2']);
      assert.equal((await alpn.outcome(2)).info?.alpn, 'h2');
    });

    it('closes at the deadline while the SNI callback is still looking, and survives its late answer', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const late = Promise.withResolvers<TlsOptions | undefined>();
      const answered = Promise.withResolvers<void>();
      const server = await serve(t, base({ sniCallback: () => late.promise.finally(() => setImmediate(answered.resolve)) }), { timeout: 200 });
      const run = sClient(server.port, ['-brief', '-servername', 'slow.test']);
      assertFailed(await server.outcome(0), 'SWB_ERR_TLS_HANDSHAKE_TIMEOUT', 'handshake-timeout');
      await run;
      late.resolve(pemPair(certs.a));
      await within(answered.promise, 'the late SNI answer to be handled');
    });

    it('rejects a socket that is already closed, and leaves the socket alone on a bad timeout', async (t) => {
      const contexts = new TlsContexts(base());
      const server = await listenHandshakes(t, (socket) => {
        socket.destroy();
        return handshake(socket, contexts);
      });
      await rawClient(server.port);
      const closed = await server.outcome(0);
      // The caller destroyed it: its close may come after the rejection, but exactly once.
      await within(new Promise((resolve) => (closed.raw.closed && closed.rawCloses() === 1 ? resolve(undefined) : closed.raw.once('close', resolve))), 'the close');
      assertFailed(closed, 'SWB_ERR_TLS_PEER_CLOSED', 'peer-closed');
      const untouched = await listenHandshakes(t, (socket) => {
        assert.throws(() => handshake(socket, contexts, { timeout: 0 }), InvalidOptionError);
        assert.equal(socket.destroyed, false);
        socket.destroy();
        return Promise.reject(new Error('checked'));
      });
      await rawClient(untouched.port);
      assert.equal((await untouched.outcome(0)).error?.message, 'checked');
    });

    it('leaves no network handle behind once each failure has settled', async (t) => {
      const hello = await partialClientHello(t, 50);
      const server = await serve(t, base(), { timeout: 200 });
      const baseline = openNetworkHandles();
      const clients = await Promise.all([0, 1, 2, 3].map(() => rawClient(server.port)));
      clients[1]!.socket.write('GET / HTTP/1.0\r\n\r\n');
      clients[2]!.socket.write(hello, () => clients[2]!.socket.resetAndDestroy());
      clients[3]!.socket.end(hello);
      await within(Promise.all(clients.map((client) => client.closed)), 'every connection to close', 3000);
      const reasons = await Promise.all(clients.map((_, index) => server.outcome(index).then((outcome) => outcome.error?.reason)));
      assert.deepEqual(reasons.sort(), ['handshake-timeout', 'not-tls', 'peer-closed', 'peer-closed']);
      await assertNoLeakedHandles(baseline);
    });
  });

  describe('reload', () => {
    it('gives the next handshake the new certificate while an open connection keeps exchanging data', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const contexts = new TlsContexts(base());
      let served = 0;
      const server = await serve(t, contexts, {
        onSecure: (secure) => (served++ === 0 ? secure.on('data', (chunk) => secure.write(chunk)) : secure.end('hello\n')),
      });
      const open = tlsConnect({ port: server.port, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost' });
      open.on('error', () => {});
      await within(new Promise((resolve) => open.once('secureConnect', resolve)), 'the long-lived connection');
      t.after(() => open.destroy());
      const echo = (text: string): Promise<void> => assertEchoes(open, text);
      await echo('before');
      contexts.replace({ ...pemPair(certs.b), ca: certs.ca.cert });
      await echo('after');
      const run = await sClient(server.port, ['-brief', '-noservername']);
      assert.equal(briefField(run.output, 'Peer certificate'), 'CN = b.test');
      assert.throws(() => contexts.replace({ key: certs.strayKey, cert: certs.a.cert }), { code: 'SWB_ERR_TLS_RELOAD_FAILED' });
      const kept = await sClient(server.port, ['-brief', '-noservername']);
      assert.equal(briefField(kept.output, 'Peer certificate'), 'CN = b.test', 'a bad reload keeps the certificate in use');
      await echo('still');
      assert.equal(describeTls(open) !== null, true);
    });

    it('loses no handshake when the contexts are replaced under a handshake loop', async (t) => {
      const contexts = new TlsContexts(base());
      const server = await serve(t, contexts);
      const subjects = new Set<string>();
      let failures = 0;
      let stop = false;
      const reloads = (async () => {
        let flip = false;
        while (!stop) {
          contexts.replace({ ...pemPair(flip ? certs.server : certs.b), ca: certs.ca.cert });
          flip = !flip;
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const one = (): Promise<void> => new Promise((resolve) => {
        const client = tlsConnect({ port: server.port, host: '127.0.0.1', ca: certs.ca.cert, checkServerIdentity: () => undefined });
        client.on('secureConnect', () => subjects.add(client.getPeerX509Certificate()!.subject));
        client.on('error', () => failures++);
        client.on('data', () => {});
        client.on('close', () => resolve());
      });
      for (let round = 0; round < 10; round++) await within(Promise.all(Array.from({ length: 10 }, one)), 'a round of handshakes');
      stop = true;
      await reloads;
      assert.equal(failures, 0);
      assert.deepEqual([...subjects].sort(), ['CN=b.test', 'CN=localhost']);
      const outcomes = await Promise.all(Array.from({ length: 100 }, (_, index) => server.outcome(index)));
      assert.equal(outcomes.filter((outcome) => outcome.error !== undefined).length, 0);
    });
  });
});
