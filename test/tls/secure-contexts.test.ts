import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createSecureContext, type SecureContext } from 'node:tls';
import { SwitchboardError } from '../../src/core/errors.ts';
import { expiringCertificates } from '../../src/tls/certificates.ts';
import { TlsContexts } from '../../src/tls/secure-contexts.ts';
import type { TlsOptions } from '../../src/tls/tls-options.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

function credentialsFailure(options: () => TlsOptions, message: RegExp): void {
  assert.throws(
    () => new TlsContexts(options()),
    (error: unknown) => {
      assert.ok(error instanceof SwitchboardError, String(error));
      assert.equal(error.code, 'SWB_ERR_TLS_CREDENTIALS');
      assert.match(error.message, message);
      return true;
    },
  );
}

/** The subject CN of the certificate a context serves, read back from the context itself. */
function servedCN(context: SecureContext): string {
  const pem = (context.context as { getCertificate(): Buffer | null }).getCertificate();
  return new X509Certificate(pem!).subject.replace(/^CN=/, '');
}

describe('TlsContexts', () => {
  describe('construction', () => {
    it('builds the default and every SNI context up front', () => {
      const contexts = new TlsContexts({ key: certs.server.key, cert: certs.server.cert, sni: { 'a.test': pemPair(certs.a), 'b.test': pemPair(certs.b) } });
      const set = contexts.current;
      assert.equal(servedCN(set.defaultContext), 'localhost');
      assert.equal(servedCN(set.select('a.test') as SecureContext), 'a.test');
      assert.equal(servedCN(set.select('b.test') as SecureContext), 'b.test');
      assert.deepEqual(set.certificates.map((c) => [c.option, c.servername, c.subject]), [
        ['tls', null, 'CN=localhost'],
        ['tls.sni["a.test"]', 'a.test', 'CN=a.test'],
        ['tls.sni["b.test"]', 'b.test', 'CN=b.test'],
      ]);
    });

    it('refuses a key that does not match its certificate, naming the option', () => {
      credentialsFailure(() => ({ key: certs.strayKey, cert: certs.server.cert }), /^`tls\.key` does not match its certificate \(CN=localhost\)$/);
      credentialsFailure(() => ({ ...pemPair(certs.server), sni: { 'a.test': { key: certs.b.key, cert: certs.a.cert } } }), /^`tls\.sni\["a\.test"\]\.key` does not match its certificate \(CN=a\.test\)$/);
    });

    it('refuses PEM that does not load: garbage key, no certificate, a corrupt certificate, a garbage CA', () => {
      credentialsFailure(() => ({ key: 'garbage', cert: certs.server.cert }), /^`tls\.key` is not a PEM private key \(or is encrypted and no `passphrase` was given\) \(ERR_OSSL_UNSUPPORTED\)$/);
      credentialsFailure(() => ({ key: certs.server.key, cert: 'garbage' }), /^`tls\.cert` holds no PEM certificate/);
      const corrupt = certs.server.cert.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
      credentialsFailure(() => ({ key: certs.server.key, cert: corrupt }), /^`tls\.cert` has a certificate that does not parse \(number 1\)/);
      // tls.createSecureContext() itself accepts this CA and would fail every client certificate later.
      assert.doesNotThrow(() => createSecureContext({ ...pemPair(certs.server), ca: 'garbage' }));
      credentialsFailure(() => ({ ...pemPair(certs.server), ca: 'garbage' }), /^`tls\.ca` holds no PEM certificate/);
      credentialsFailure(() => ({ ...pemPair(certs.server), ca: [certs.ca.cert, 'garbage'] }), /^`tls\.ca` holds no PEM certificate/);
    });

    it('decrypts an encrypted key with `passphrase`, and says so when it is missing or wrong', () => {
      const encrypted = createPrivateKey(certs.server.key).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'open sesame' }) as string;
      assert.equal(servedCN(new TlsContexts({ key: encrypted, cert: certs.server.cert, passphrase: 'open sesame' }).current.defaultContext), 'localhost');
      credentialsFailure(() => ({ key: encrypted, cert: certs.server.cert }), /^`tls\.key` is not a PEM private key \(or is encrypted and no `passphrase` was given\)/);
      credentialsFailure(() => ({ key: encrypted, cert: certs.server.cert, passphrase: 'wrong' }), /^`tls\.key` is not a PEM private key, or `passphrase` does not decrypt it/);
    });

    it('keeps the OpenSSL error as the cause', () => {
      try {
        new TlsContexts({ key: 'garbage', cert: certs.server.cert });
        assert.fail('no error');
      } catch (error) {
        assert.equal((error as { cause?: { code?: string } }).cause?.code, 'ERR_OSSL_UNSUPPORTED');
      }
    });

    it('uses a caller-built SecureContext as is', () => {
      const secureContext = createSecureContext({ key: certs.a.key, cert: certs.a.cert });
      const set = new TlsContexts({ secureContext, sni: { 'b.test': pemPair(certs.b) } }).current;
      assert.equal(set.defaultContext, secureContext);
      assert.deepEqual(set.certificates.map((c) => c.servername), ['b.test']);
    });
  });

  describe('#select', () => {
    it('matches exact names case-insensitively and without a trailing dot, then wildcards one label deep, then the default', () => {
      const set = new TlsContexts({ ...pemPair(certs.server), sni: { 'a.test': pemPair(certs.a), '*.b.test': pemPair(certs.b) } }).current;
      assert.equal(servedCN(set.select('A.TEST.') as SecureContext), 'a.test');
      assert.equal(servedCN(set.select('www.b.test') as SecureContext), 'b.test');
      assert.equal(set.select('b.test'), set.defaultContext, 'a wildcard does not match its own suffix');
      assert.equal(set.select('x.www.b.test'), set.defaultContext, 'a wildcard matches one label only');
      assert.equal(set.select('unknown.test'), set.defaultContext);
      assert.equal(set.select(undefined), set.defaultContext);
      assert.equal(set.select(''), set.defaultContext);
    });

    it('asks the callback for other names, sync or async, building returned material once per object with the shared CA', async () => {
      const asked: string[] = [];
      const store = new Map([['dyn.test', { key: certs.a.key, cert: certs.a.cert }]]);
      const ready = createSecureContext({ key: certs.b.key, cert: certs.b.cert });
      const set = new TlsContexts({
        ...pemPair(certs.server),
        ca: certs.ca.cert,
        sni: { 'b.test': pemPair(certs.b) },
        sniCallback: (name) => {
          asked.push(name);
          if (name === 'ready.test') return ready;
          if (name === 'later.test') return Promise.resolve(store.get('dyn.test'));
          return store.get(name);
        },
      }).current;
      const first = set.select('Dyn.Test') as SecureContext;
      assert.equal(servedCN(first), 'a.test');
      assert.equal(set.select('dyn.test'), first, 'built once for the same returned object');
      assert.equal(await set.select('later.test'), first);
      assert.equal(set.select('ready.test'), ready);
      assert.equal(set.select('nobody.test'), set.defaultContext);
      set.select('b.test');
      assert.deepEqual(asked, ['dyn.test', 'dyn.test', 'later.test', 'ready.test', 'nobody.test'], 'names in `sni` never reach the callback');
    });

    it('reports what the callback returns that does not load, naming it', async () => {
      const set = new TlsContexts({ ...pemPair(certs.server), sniCallback: (name) => (name === 'bad.test' ? { key: certs.strayKey, cert: certs.a.cert } : Promise.resolve({ cert: certs.a.cert })) }).current;
      assert.throws(() => set.select('bad.test'), { code: 'SWB_ERR_TLS_CREDENTIALS', message: /^`tls\.sniCallback\("bad\.test"\)\.key` does not match/ });
      await assert.rejects(async () => set.select('other.test'), { code: 'SWB_ERR_INVALID_OPTION', message: /^`tls\.sniCallback\("other\.test"\)\.key` is required/ });
    });
  });

  describe('#socketOptions', () => {
    it('installs an SNI callback only when there are names to choose among, and sends ALPN in wire format', () => {
      const plain = new TlsContexts({ ...pemPair(certs.server), ALPNProtocols: ['h2', 'x-sb'] }).current.socketOptions;
      assert.equal(plain.SNICallback, undefined);
      assert.deepEqual(plain.ALPNProtocols, Buffer.from('\x02h2\x04x-sb', 'latin1'));
      assert.equal(plain.isServer, true);
      const named = new TlsContexts({ ...pemPair(certs.server), sni: { 'a.test': pemPair(certs.a) } }).current.socketOptions;
      assert.equal(typeof named.SNICallback, 'function');
    });
  });

  describe('#replace', () => {
    it('swaps the whole set at once when the new material loads', () => {
      const contexts = new TlsContexts({ ...pemPair(certs.server), sni: { 'a.test': pemPair(certs.a) } });
      const before = contexts.current;
      contexts.replace({ ...pemPair(certs.b), ALPNProtocols: ['h2'] });
      assert.notEqual(contexts.current, before);
      assert.equal(servedCN(contexts.current.defaultContext), 'b.test');
      assert.equal(contexts.current.select('a.test'), contexts.current.defaultContext, 'the old SNI names are gone');
      assert.equal(servedCN(before.defaultContext), 'localhost', 'the old set itself is unchanged');
    });

    it('keeps the set in use when the new material or options fail, with SWB_ERR_TLS_RELOAD_FAILED', () => {
      const contexts = new TlsContexts({ ...pemPair(certs.server) });
      const before = contexts.current;
      for (const [options, cause] of [
        [{ key: certs.strayKey, cert: certs.a.cert }, 'SWB_ERR_TLS_CREDENTIALS'],
        [{ key: 'garbage', cert: certs.a.cert }, 'SWB_ERR_TLS_CREDENTIALS'],
        [{ ...pemPair(certs.a), minVersion: 'SSLv3' }, 'SWB_ERR_INVALID_OPTION'],
      ] as const) {
        assert.throws(
          () => contexts.replace(options as TlsOptions),
          (error: unknown) => {
            assert.ok(error instanceof SwitchboardError);
            assert.equal(error.code, 'SWB_ERR_TLS_RELOAD_FAILED');
            assert.match(error.message, /^TLS reload failed, the certificates in use are kept: `tls\./);
            assert.equal((error.cause as SwitchboardError).code, cause);
            return true;
          },
        );
        assert.equal(contexts.current, before);
      }
    });
  });

  describe('#expiringCertificates', () => {
    it('lists the certificates expiring within the window, soonest first, expired ones included', () => {
      const now = Date.now();
      const set = new TlsContexts({ ...pemPair(certs.server), sni: { 'soon.test': pemPair(certs.soon), 'expired.test': pemPair(certs.expired), 'a.test': pemPair(certs.a) } }).current;
      const expiring = set.expiringCertificates(now);
      assert.deepEqual(expiring.map((c) => c.servername), ['expired.test', 'soon.test']);
      assert.ok(expiring[0]!.expiresInMs < 0);
      assert.ok(expiring[1]!.expiresInMs > 0 && expiring[1]!.expiresInMs <= 24 * 3600 * 1000);
      assert.equal(expiring[1]!.fingerprint256, new X509Certificate(certs.soon.cert).fingerprint256);
      assert.deepEqual(expiringCertificates(set.certificates, 31 * 24 * 3600 * 1000, now).length, 4, 'a 31-day window holds the 30-day ones too');
      assert.deepEqual(new TlsContexts({ ...pemPair(certs.soon), expiryWarning: 0 }).current.expiringCertificates(now), [], '0 disables the warning');
    });
  });
});
