import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { InvalidOptionError } from '../../src/core/errors.ts';
import { TlsHandshakeError } from '../../src/tls/handshake-error.ts';
import { TlsContexts } from '../../src/tls/secure-contexts.ts';
import { upgradeToTls, type UpgradeToTlsOptions } from '../../src/tls/starttls.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';
import { TestClient, within } from '../helpers/net.ts';
import { listenHandshakes, runPeer, skipWithout, type HandshakeServer } from './peers.ts';

let certs: TestCertificates;
let contexts: TlsContexts;
before(async () => {
  certs = await createTestCertificates();
  contexts = new TlsContexts({ ...pemPair(certs.server), ca: certs.ca.cert });
});
after(() => certs.remove());

const GO_AHEAD = '220 2.0.0 Ready to start TLS\r\n';

/**
 * A tiny SMTP-like session written by hand: a banner, EHLO advertising STARTTLS, and STARTTLS,
 * which detaches the line reader and hands what it holds after the command to upgradeToTls.
 * `leftover: 'unshift'` puts those bytes back into the socket instead, as some parsers do.
 */
function smtpSession(socket: Socket, options: { leftover?: 'pass' | 'unshift'; upgrade?: Omit<UpgradeToTlsOptions, 'buffered' | 'goAhead'> } = {}): Promise<TLSSocket> {
  socket.write('220 switchboard.test ESMTP\r\n');
  let pending = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf(0x0a); end >= 0; end = pending.indexOf(0x0a)) {
        const line = pending.subarray(0, end).toString('latin1').replace(/\r$/, '');
        pending = pending.subarray(end + 1);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') {
          socket.write('250-switchboard.test\r\n250 STARTTLS\r\n');
        } else if (verb === 'STARTTLS') {
          socket.off('data', onData);
          let buffered: Buffer = pending;
          if (options.leftover === 'unshift' && pending.length > 0) {
            socket.unshift(pending);
            buffered = Buffer.alloc(0);
          }
          upgradeToTls(socket, contexts, { ...options.upgrade, buffered, goAhead: GO_AHEAD }).then(resolve, reject);
          return;
        } else {
          socket.write('502 5.5.2 not here\r\n');
        }
      }
    };
    socket.on('data', onData);
  });
}

function smtpServer(t: TestContext, options: Parameters<typeof smtpSession>[1] = {}): Promise<HandshakeServer> {
  return listenHandshakes(t, (socket) => smtpSession(socket, options), { onSecure: (secure) => secure.end('250 2.0.0 secure now\r\n') });
}

async function rawClient(port: number): Promise<TestClient> {
  const client = new TestClient(netConnect({ port, host: '127.0.0.1' }));
  await within(new Promise((resolve) => client.socket.once('connect', resolve)), 'a connection');
  await client.waitForText('220 switchboard.test');
  return client;
}

describe('upgradeToTls', () => {
  describe('with real STARTTLS clients', () => {
    it('upgrades for `openssl s_client -starttls smtp`', async (t) => {
      if (skipWithout(t, 'openssl')) return;
      const server = await smtpServer(t);
      const run = await runPeer('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-starttls', 'smtp', '-brief', '-ign_eof', '-CAfile', certs.ca.certPath, '-verify_return_error']);
      assert.match(run.output, /^250 2\.0\.0 secure now/m);
      const { info } = await server.outcome(0);
      assert.equal(/^Protocol version: (.*)$/m.exec(run.output)?.[1], info?.protocol);
      assert.equal(/^Ciphersuite: (.*)$/m.exec(run.output)?.[1], info?.cipher.standardName);
    });

    it('upgrades for `gnutls-cli --starttls-proto=smtp`', async (t) => {
      if (skipWithout(t, 'gnutls-cli')) return;
      const server = await smtpServer(t);
      const run = await runPeer('gnutls-cli', ['--starttls-proto=smtp', '--x509cafile', certs.ca.certPath, '-p', String(server.port), 'localhost']);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /250 2\.0\.0 secure now/);
      assert.equal((await server.outcome(0)).info?.protocol, 'TLSv1.3');
    });
  });

  describe('plaintext after the command', () => {
    for (const leftover of ['pass', 'unshift'] as const) {
      it(`closes the connection when bytes are pipelined after STARTTLS (parser ${leftover === 'pass' ? 'passes its rest' : 'unshifts its rest'})`, async (t) => {
        const server = await smtpServer(t, { leftover });
        const client = await rawClient(server.port);
        client.send('EHLO attacker\r\nSTARTTLS\r\nRCPT TO:<victim@example.test>\r\n');
        await within(client.closed, 'the server to close the connection');
        const outcome = await server.outcome(0);
        assert.ok(outcome.error instanceof TlsHandshakeError);
        assert.equal(outcome.error.code, 'SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS');
        assert.equal(outcome.error.reason, 'plaintext-after-starttls');
        assert.match(outcome.error.message, /^TLS handshake failed: 31 bytes of plaintext followed the STARTTLS command/);
        assert.equal(outcome.rawCloses(), 1);
        assert.doesNotMatch(client.received.toString(), /Ready to start TLS/, 'no go-ahead is sent');
      });
    }

    it('closes the connection for the socat one-liner of the attack', async (t) => {
      if (skipWithout(t, 'socat')) return;
      const server = await smtpServer(t);
      const run = await runPeer('socat', ['-t', '2', '-', `TCP:127.0.0.1:${server.port}`], { input: 'EHLO x\r\nSTARTTLS\r\nRCPT TO:<victim@example.test>\r\n' });
      assert.match(run.stdout, /^250 STARTTLS\r$/m);
      assert.doesNotMatch(run.stdout, /Ready to start TLS/);
      assert.equal((await server.outcome(0)).error?.code, 'SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS');
    });

    it('feeds plaintext sent after the go-ahead to TLS, which refuses it: it never reaches the application', async (t) => {
      const server = await smtpServer(t);
      const client = await rawClient(server.port);
      client.send('STARTTLS\r\n');
      await client.waitForText('Ready to start TLS');
      client.send('RCPT TO:<victim@example.test>\r\n');
      await within(client.closed, 'the server to close the connection');
      const outcome = await server.outcome(0);
      assert.equal(outcome.error?.code, 'SWB_ERR_TLS_NOT_TLS');
      assert.equal(outcome.rawCloses(), 1);
    });
  });

  describe('deadline', () => {
    it('closes a client that stalls after the go-ahead', async (t) => {
      const server = await smtpServer(t, { upgrade: { timeout: 300 } });
      const client = await rawClient(server.port);
      client.send('STARTTLS\r\n');
      await client.waitForText('Ready to start TLS');
      await within(client.closed, 'the server to close a stalled STARTTLS', 3000);
      const outcome = await server.outcome(0);
      assert.equal(outcome.error?.code, 'SWB_ERR_TLS_HANDSHAKE_TIMEOUT');
      assert.equal(outcome.rawCloses(), 1);
    });
  });

  describe('misuse', () => {
    it('refuses a socket whose plaintext reader is still attached, leaving it open', async (t) => {
      const refused = Promise.withResolvers<unknown>();
      const server = await listenHandshakes(t, (socket) => {
        socket.on('data', () => {});
        upgradeToTls(socket, contexts).then(refused.resolve, refused.resolve);
        return new Promise<never>(() => {});
      });
      const client = await within(new Promise<TestClient>((resolve) => {
        const socket = netConnect({ port: server.port, host: '127.0.0.1' }, () => resolve(client));
        const client = new TestClient(socket);
      }), 'a connection');
      t.after(() => client.close());
      const error = await within(refused.promise, 'the refusal');
      assert.equal((error as { code?: string }).code, 'SWB_ERR_TLS_INVALID_STATE');
      assert.match((error as Error).message, /^STARTTLS refused: the plaintext reader is still attached/);
      assert.equal(client.socket.destroyed, false);
    });

    it('refuses a socket that is already TLS (a second STARTTLS), leaving it working', async (t) => {
      let second: Promise<unknown> | undefined;
      const server = await listenHandshakes(t, (socket) => smtpSession(socket), {
        onSecure: (secure) => {
          second = upgradeToTls(secure, contexts).catch((error: unknown) => error);
          secure.end('250 still here\r\n');
        },
      });
      const client = await rawClient(server.port);
      client.send('STARTTLS\r\n');
      await client.waitForText('Ready to start TLS');
      const secure = tlsConnect({ socket: client.socket, ca: certs.ca.cert, servername: 'localhost' });
      const text = await within(new Promise<string>((resolve, reject) => {
        let received = '';
        secure.on('data', (chunk: Buffer) => (received += chunk.toString()));
        secure.on('end', () => resolve(received));
        secure.on('error', reject);
      }), 'the reply over TLS');
      secure.destroy();
      assert.equal(text, '250 still here\r\n');
      const error = await second;
      assert.equal((error as { code?: string }).code, 'SWB_ERR_TLS_INVALID_STATE');
      assert.match((error as Error).message, /already TLS/);
    });

    it('refuses a closed socket, and throws for malformed options before touching the socket', async (t) => {
      const checked = Promise.withResolvers<void>();
      const server = await listenHandshakes(t, (socket) => {
        const flowing = socket.readableFlowing;
        assert.throws(() => upgradeToTls(socket, contexts, { buffered: -1 }), InvalidOptionError);
        assert.throws(() => upgradeToTls(socket, contexts, { goAhead: 220 as unknown as string }), InvalidOptionError);
        assert.throws(() => upgradeToTls(socket, contexts, { timeout: -5 }), InvalidOptionError);
        assert.equal(socket.destroyed, false);
        assert.equal(socket.readableFlowing, flowing, 'nothing was done to the socket');
        socket.destroy();
        upgradeToTls(socket, contexts).then(
          () => checked.reject(new Error('upgraded a closed socket')),
          (error: { code?: string }) => (error.code === 'SWB_ERR_TLS_INVALID_STATE' ? checked.resolve() : checked.reject(error)),
        );
        return new Promise<never>(() => {});
      });
      const socket = netConnect({ port: server.port, host: '127.0.0.1' });
      socket.on('error', () => {});
      t.after(() => socket.destroy());
      await within(checked.promise, 'the checks');
    });
  });
});
