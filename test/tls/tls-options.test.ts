import assert from 'node:assert/strict';
import { createSecureContext } from 'node:tls';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/core/errors.ts';
import { normalizeServerName, normalizeTlsOptions, TLS_DEFAULTS, type TlsOptions } from '../../src/tls/tls-options.ts';

// Shapes only: whether the PEM loads is the contexts' concern (secure-contexts.test.ts).
const key = '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n';
const cert = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n';

function rejects(options: unknown, option: string, message: RegExp): void {
  assert.throws(
    () => normalizeTlsOptions(options as TlsOptions),
    (error: unknown) => {
      assert.ok(error instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(error)}`);
      assert.equal(error.code, 'SWB_ERR_INVALID_OPTION');
      assert.equal(error.option, option);
      assert.match(error.message, message);
      return true;
    },
  );
}

describe('normalizeTlsOptions', () => {
  it('applies the defaults: implicit TLS 1.2 to 1.3, no client certificate, a 10 s handshake deadline, a 14-day expiry warning', () => {
    const options = normalizeTlsOptions({ key, cert });
    assert.equal(options.mode, 'implicit');
    assert.equal(normalizeTlsOptions({ key, cert, mode: 'starttls' }).mode, 'starttls');
    assert.equal(options.minVersion, 'TLSv1.2');
    assert.equal(options.maxVersion, 'TLSv1.3');
    assert.equal(options.requestCert, false);
    assert.equal(options.rejectUnauthorized, true);
    assert.equal(options.handshakeTimeout, 10_000);
    assert.equal(options.expiryWarning, 14 * 24 * 3600 * 1000);
    assert.equal(TLS_DEFAULTS.handshakeTimeout, 10_000);
    assert.equal(options.ALPNProtocols, undefined);
    assert.equal(options.sni.size, 0);
    assert.deepEqual(options.credentials, { option: 'tls', key: [key], cert: [cert], passphrase: undefined, secureContext: undefined });
  });

  it('takes PEM as strings or Buffers, alone or in lists, and a SecureContext instead', () => {
    const options = normalizeTlsOptions({ key: [Buffer.from(key), key], cert: [cert, Buffer.from(cert)], ca: Buffer.from(cert), passphrase: 'secret' });
    assert.equal(options.credentials.key.length, 2);
    assert.ok(Buffer.isBuffer(options.credentials.key[0]));
    assert.deepEqual(options.ca, [Buffer.from(cert)]);
    assert.equal(options.credentials.passphrase, 'secret');
    const secureContext = createSecureContext({});
    assert.equal(normalizeTlsOptions({ secureContext }).credentials.secureContext, secureContext);
  });

  it('rejects unknown keys, naming them', () => {
    rejects({ key, cert, pfx: 'x' }, 'tls.pfx', /^`tls\.pfx` is not a TLS option \(known: key, cert, passphrase, secureContext, ca, /);
    rejects({ key, cert, ciphers: 'HIGH' }, 'tls.ciphers', /is not a TLS option/);
    rejects({ key, cert, sni: { 'a.test': { key, cert, ca: cert } } }, 'tls.sni["a.test"].ca', /is not a TLS option \(known: key, cert, passphrase, secureContext\)/);
  });

  it('names the option and its constraint for every malformed value', () => {
    rejects(undefined, 'tls', /must be an object/);
    rejects('cert.pem', 'tls', /must be an object/);
    rejects({ cert }, 'tls.key', /is required \(or `secureContext`\)/);
    rejects({ key }, 'tls.cert', /is required/);
    rejects({ key: '', cert }, 'tls.key', /must be PEM text/);
    rejects({ key, cert, mode: 'explicit' as never }, 'tls.mode', /must be one of "implicit", "starttls", got "explicit"/);
    rejects({ key: [], cert }, 'tls.key', /must not be an empty list/);
    rejects({ key: 42, cert }, 'tls.key', /must be PEM text.*got 42$/);
    rejects({ key: [key, key], cert }, 'tls.key', /one key per certificate \(1\)/);
    rejects({ key, cert, passphrase: 1 }, 'tls.passphrase', /must be a string/);
    rejects({ secureContext: {} }, 'tls.secureContext', /must be a SecureContext/);
    rejects({ secureContext: createSecureContext({}), key }, 'tls.key', /not be given together with `secureContext`/);
    rejects({ key, cert, ca: 7 }, 'tls.ca', /must be PEM text/);
    rejects({ key, cert, requestCert: 'yes' }, 'tls.requestCert', /must be a boolean/);
    rejects({ key, cert, rejectUnauthorized: 0 }, 'tls.rejectUnauthorized', /must be a boolean/);
    rejects({ key, cert, minVersion: 'TLSv1.4' }, 'tls.minVersion', /must be one of "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"/);
    rejects({ key, cert, maxVersion: 'SSLv3' }, 'tls.maxVersion', /must be one of/);
    rejects({ key, cert, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }, 'tls.minVersion', /must not be above `maxVersion` \(TLSv1.2\)/);
    rejects({ key, cert, handshakeTimeout: 0 }, 'tls.handshakeTimeout', /must be an integer from 1 to 2147483647/);
    rejects({ key, cert, handshakeTimeout: 1.5 }, 'tls.handshakeTimeout', /must be an integer/);
    rejects({ key, cert, expiryWarning: -1 }, 'tls.expiryWarning', /non-negative number of milliseconds/);
    rejects({ key, cert, sniCallback: 'x' }, 'tls.sniCallback', /must be a function/);
  });

  it('checks ALPN: a non-empty list of 1..255-byte names, or a callback, not both', () => {
    assert.deepEqual(normalizeTlsOptions({ key, cert, ALPNProtocols: ['h2', 'http/1.1'] }).ALPNProtocols, ['h2', 'http/1.1']);
    rejects({ key, cert, ALPNProtocols: [] }, 'tls.ALPNProtocols', /non-empty array/);
    rejects({ key, cert, ALPNProtocols: 'h2' }, 'tls.ALPNProtocols', /non-empty array/);
    rejects({ key, cert, ALPNProtocols: [''] }, 'tls.ALPNProtocols', /1 to 255 bytes/);
    rejects({ key, cert, ALPNProtocols: ['x'.repeat(256)] }, 'tls.ALPNProtocols', /1 to 255 bytes/);
    rejects({ key, cert, ALPNCallback: 'h2' }, 'tls.ALPNCallback', /must be a function/);
    rejects({ key, cert, ALPNProtocols: ['h2'], ALPNCallback: () => 'h2' }, 'tls.ALPNCallback', /not be given together with `ALPNProtocols`/);
  });

  it('refuses `ca` next to a SecureContext, which Node would not apply it to', () => {
    const secureContext = createSecureContext({});
    rejects({ secureContext, ca: cert }, 'tls.secureContext', /cannot be combined with `ca`/);
    rejects({ key, cert, ca: cert, sni: { 'a.test': { secureContext } } }, 'tls.sni["a.test"].secureContext', /cannot be combined with `ca`/);
    assert.equal(normalizeTlsOptions({ key, cert, sni: { 'a.test': { secureContext } } }).sni.get('a.test')?.secureContext, secureContext);
  });

  it('normalises SNI names (case, trailing dot), accepts a Map and `*.` wildcards, and refuses duplicates and non-names', () => {
    const sni = normalizeTlsOptions({ key, cert, sni: { 'A.Test.': { key, cert }, '*.b.test': { key, cert } } }).sni;
    assert.deepEqual([...sni.keys()], ['a.test', '*.b.test']);
    assert.equal(sni.get('a.test')?.option, 'tls.sni["A.Test."]');
    assert.deepEqual([...normalizeTlsOptions({ key, cert, sni: new Map([['c.test', { key, cert }]]) }).sni.keys()], ['c.test']);
    rejects({ key, cert, sni: { 'a.test': { key, cert }, 'A.TEST': { key, cert } } }, 'tls.sni["A.TEST"]', /names the same server as another entry \(a\.test\)/);
    rejects({ key, cert, sni: { 'a b': { key, cert } } }, 'tls.sni', /must have DNS names as keys/);
    rejects({ key, cert, sni: { 'a.*.test': { key, cert } } }, 'tls.sni', /must have DNS names as keys/);
    rejects({ key, cert, sni: { '': { key, cert } } }, 'tls.sni', /must have DNS names/);
    rejects({ key, cert, sni: { 'a.test': 'a.pem' } }, 'tls.sni["a.test"]', /must be an object/);
    rejects({ key, cert, sni: { 'a.test': { key } } }, 'tls.sni["a.test"].cert', /is required/);
    rejects({ key, cert, sni: [] }, 'tls.sni', /must be an object/);
  });

  it('names options under the prefix it is given', () => {
    assert.throws(() => normalizeTlsOptions({ key } as TlsOptions, 'services.echo.tls'), { option: 'services.echo.tls.cert' });
  });
});

describe('normalizeServerName', () => {
  it('lower-cases and drops one trailing dot', () => {
    assert.equal(normalizeServerName('A.Test.'), 'a.test');
    assert.equal(normalizeServerName('b.test'), 'b.test');
  });
});
