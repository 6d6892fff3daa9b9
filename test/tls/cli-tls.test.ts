/**
 * The CLI's TLS flags, by spawning `switchboard`: serve with implicit TLS and a SIGHUP reload,
 * exec passing ucspi-ssl's environment, client certificates required, run with the STARTTLS
 * example, and the flags' usage errors.
 */
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { CliProcess, runCliToExit, startCli } from '../cli/cli-process.ts';
import { createTestCertificates, type TestCertificates } from '../helpers/certs.ts';
import { briefField, rawClient, runPeer, sClient, skipWithout } from './peers.ts';

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

/** Copies of the server certificate and key that a test may overwrite before a SIGHUP. */
async function certificateFiles(name: string): Promise<{ cert: string; key: string }> {
  const cert = join(certs.dir, `${name}-live.pem`);
  const key = join(certs.dir, `${name}-live.key`);
  await copyFile(certs.server.certPath, cert);
  await copyFile(certs.server.keyPath, key);
  return { cert, key };
}

async function started(t: TestContext, args: readonly string[]): Promise<{ cli: CliProcess; port: number }> {
  const cli = startCli(t, args);
  const [listening] = await cli.listening(1);
  return { cli, port: listening!.port };
}

describe('switchboard with --tls-cert and --tls-key', () => {
  it('serve: speaks TLS on the services named, and SIGHUP re-reads the files (a bad file keeps the old)', async (t) => {
    if (skipWithout(t, 'openssl')) return;
    const files = await certificateFiles('serve');
    // daytime answers and closes: s_client (-ign_eof) ends when the server does.
    const { cli, port } = await started(t, ['serve', 'daytime', '--listen', '127.0.0.1:0', '--tls-cert', files.cert, '--tls-key', files.key]);
    const first = await sClient(port, ['-brief', '-CAfile', certs.ca.certPath, '-verify_return_error']);
    assert.match(first.stdout, /^\w{3}, \d\d \w{3} \d{4} /m, 'the date, over TLS');
    assert.equal(briefField(first.output, 'Peer certificate'), 'CN = localhost');

    await copyFile(certs.a.certPath, files.cert);
    await copyFile(certs.a.keyPath, files.key);
    cli.signal('SIGHUP');
    await cli.stdout.waitFor(/^tls-reloaded|SIGHUP: TLS certificates re-read/, 'the reload line');
    assert.equal(briefField((await sClient(port, ['-brief'])).output, 'Peer certificate'), 'CN = a.test');

    await writeFile(files.key, 'not a key\n');
    cli.signal('SIGHUP');
    const failed = await cli.stderr.waitFor(/SIGHUP: TLS reload failed, the certificates in use are kept/, 'the failed reload line');
    assert.match(failed, /`tls.key` is not a PEM private key/);
    assert.equal(briefField((await sClient(port, ['-brief'])).output, 'Peer certificate'), 'CN = a.test', 'the old certificate is kept');
    assert.equal((await cli.stop()).code, 0);
  });

  it('serve: plaintext to the TLS port is summarised in one warning line, not a line per connection', async (t) => {
    const { cli, port } = await started(t, ['serve', 'echo', '--listen', '127.0.0.1:0', '--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath]);
    const clients = await Promise.all(Array.from({ length: 5 }, () => rawClient(port)));
    for (const client of clients) client.socket.write('GET / HTTP/1.0\r\n\r\n');
    await Promise.all(clients.map((client) => client.closed));
    const line = await cli.stderr.waitFor(/TLS handshakes? failed/, 'the summary line');
    assert.match(line, /echo: 5 TLS handshakes failed in \d+ ms: not-tls 5/);
    assert.equal((await cli.stop()).code, 0);
    assert.equal(cli.stderr.lines.filter((l) => /TLS handshake|refused/.test(l)).length, 1, cli.stderr.text);
  });

  it('exec: gives PROGRAM ucspi-ssl\'s environment, with the client certificate', async (t) => {
    if (skipWithout(t, 'openssl')) return;
    const { cli, port } = await started(t, ['exec', '--listen', '127.0.0.1:0', '--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath,
      '--tls-ca', certs.ca.certPath, '--tls-client-cert', 'optional', '--', 'env']);
    const run = await sClient(port, ['-brief', '-servername', 'localhost', '-cert', certs.client.certPath, '-key', certs.client.keyPath]);
    const env = Object.fromEntries(run.stdout.split('\n').filter((line) => /^(PROTO|TCP|SSL)/.test(line)).map((line) => line.split(/=(.*)/s).slice(0, 2)));
    assert.equal(env.PROTO, 'SSL');
    assert.equal(env.SSLREMOTEIP, '127.0.0.1');
    assert.equal(env.TCPREMOTEIP, '127.0.0.1');
    assert.equal(env.SSL_PROTOCOL, briefField(run.output, 'Protocol version'));
    assert.equal(env.SSL_CIPHER, briefField(run.output, 'Ciphersuite'));
    assert.equal(env.SSL_TLS_SNI, 'localhost');
    assert.equal(env.SSL_CLIENT_S_DN, '/CN=client');
    assert.equal(env.SSL_CLIENT_S_DN_CN, 'client');
    assert.equal(env.SSL_CLIENT_I_DN, '/CN=Switchboard Test CA');
    assert.equal(env.SSL_CLIENT_VERIFY, 'SUCCESS');
    assert.match(env.SSL_CLIENT_V_END ?? '', /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$/);
    const stranger = await sClient(port, ['-brief', '-cert', certs.strangerClient.certPath, '-key', certs.strangerClient.keyPath]);
    assert.match(stranger.stdout, /^SSL_CLIENT_VERIFY=FAILED:UNABLE_TO_VERIFY_LEAF_SIGNATURE$/m);
    const none = await sClient(port, ['-brief']);
    assert.match(none.stdout, /^SSL_CLIENT_VERIFY=NONE$/m);
    assert.doesNotMatch(none.stdout, /^SSL_CLIENT_S_DN=/m);
    assert.equal((await cli.stop()).code, 0);
  });

  it('exec: --tls-client-cert required refuses a client without a certificate', async (t) => {
    if (skipWithout(t, 'openssl')) return;
    const { cli, port } = await started(t, ['exec', '--listen', '127.0.0.1:0', '--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath,
      '--tls-ca', certs.ca.certPath, '--tls-client-cert', 'required', '--', 'echo', 'served']);
    const refused = await sClient(port, ['-brief']);
    assert.match(refused.output, /alert certificate required/);
    assert.doesNotMatch(refused.stdout, /^served$/m);
    const served = await sClient(port, ['-brief', '-cert', certs.client.certPath, '-key', certs.client.keyPath]);
    assert.match(served.stdout, /^served$/m);
    assert.equal((await cli.stop()).code, 0);
  });

  it('run: serves examples/starttls-smtp.ts to openssl s_client -starttls smtp and gnutls-cli', async (t) => {
    if (skipWithout(t, 'openssl') || skipWithout(t, 'gnutls-cli')) return;
    const { cli, port } = await started(t, ['run', 'examples/starttls-smtp.ts', '--listen', '127.0.0.1:0', '--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath]);
    const mail = 'EHLO client\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n';
    const openssl = await runPeer('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-starttls', 'smtp', '-brief', '-ign_eof', '-CAfile', certs.ca.certPath, '-verify_return_error'], { input: mail });
    assert.match(openssl.output, /^250 8BITMIME/m, 'EHLO over TLS no longer offers STARTTLS');
    assert.match(openssl.output, /^250 2\.0\.0 would deliver 22 bytes from <a@example.test> to 1 recipient\(s\) \(TLSv1\.3, TLS_AES_256_GCM_SHA384\)/m);
    assert.match(openssl.output, /^221 2\.0\.0/m);
    const gnutls = await runPeer('gnutls-cli', ['--starttls-proto=smtp', '--x509cafile', certs.ca.certPath, '-p', String(port), 'localhost'], { input: 'EHLO client\r\nQUIT\r\n' });
    assert.equal(gnutls.code, 0, gnutls.output);
    assert.match(gnutls.output, /221 2\.0\.0/);
    const plain = await runPeer('socat', ['-t', '2', '-', `TCP:127.0.0.1:${port}`], { input: 'EHLO x\r\nMAIL FROM:<a@example.test>\r\nQUIT\r\n' });
    assert.match(plain.stdout, /^530 5\.7\.0 Must issue a STARTTLS command first/m);
    assert.equal((await cli.stop()).code, 0);
  });

  it('refuses flags without their partner, a bad --tls-client-cert, and an unreadable file, as usage errors', async (t) => {
    const cases: [string[], RegExp][] = [
      [['--tls-cert', certs.server.certPath], /--tls-cert needs --tls-key/],
      [['--tls-key', certs.server.keyPath], /--tls-key needs --tls-cert/],
      [['--tls-ca', certs.ca.certPath], /--tls-ca needs --tls-cert and --tls-key/],
      [['--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath, '--tls-client-cert', 'maybe'], /--tls-client-cert "maybe": must be required or optional/],
      [['--tls-cert', join(certs.dir, 'missing.pem'), '--tls-key', certs.server.keyPath], /--tls-cert ".*missing\.pem": no such file/],
    ];
    for (const [flags, message] of cases) {
      const exit = await runCliToExit(t, ['serve', 'echo', '--listen', '127.0.0.1:0', ...flags]);
      assert.equal(exit.code, 2, exit.stderr);
      assert.match(exit.stderr, message);
    }
    const mismatched = await runCliToExit(t, ['exec', '--listen', '127.0.0.1:0', '--tls-cert', certs.a.certPath, '--tls-key', certs.server.keyPath, '--', 'true']);
    assert.equal(mismatched.code, 1, mismatched.stderr);
    assert.match(mismatched.stderr, /`tls.key` does not match its certificate \(CN=a.test\)/);
  });
});
