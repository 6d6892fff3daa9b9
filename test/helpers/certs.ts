/**
 * Test certificates made at test time with `openssl req` / `openssl x509` in a temporary
 * directory (none are committed): a CA, server certificates for loopback and two SNI names,
 * client certificates from that CA and from a stranger CA, an expired and a soon-expiring
 * certificate, and a key that matches none of them. EC P-256 keys, so making them all takes
 * a few tens of milliseconds.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A key and its certificate, as PEM text and as files (for `openssl s_client -cert/-key`). */
export interface TestCertificate {
  readonly key: string;
  readonly cert: string;
  readonly keyPath: string;
  readonly certPath: string;
}

/** Everything {@link createTestCertificates} makes. */
export interface TestCertificates {
  readonly dir: string;
  /** The test CA; every certificate below but `strangerClient` is signed by it. */
  readonly ca: TestCertificate;
  /** A second, unrelated CA. */
  readonly strangerCa: TestCertificate;
  /** CN localhost, SANs localhost, 127.0.0.1 and ::1; valid 30 days. */
  readonly server: TestCertificate;
  /** CN and SAN a.test (an SNI name). */
  readonly a: TestCertificate;
  /** CN and SAN b.test (an SNI name). */
  readonly b: TestCertificate;
  /** CN client, clientAuth, signed by `ca`. */
  readonly client: TestCertificate;
  /** CN stranger, clientAuth, signed by `strangerCa`. */
  readonly strangerClient: TestCertificate;
  /** CN expired.test, `notAfter` a day in the past. */
  readonly expired: TestCertificate;
  /** CN soon.test, valid for one more day. */
  readonly soon: TestCertificate;
  /** A key (PEM) and its path that belong to none of the certificates above. */
  readonly strayKey: string;
  readonly strayKeyPath: string;
  /** Deletes the directory (also done by the `after` hook when one was given). */
  remove(): Promise<void>;
}

const CONFIG = '[req]\ndistinguished_name=dn\nprompt=no\n[dn]\n';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Makes the test PKI; pass the test (or anything with `after`) to have it removed afterwards.
 * @example
 * const certs = await createTestCertificates(t);
 * createSecureContext({ key: certs.server.key, cert: certs.server.cert });
 */
export async function createTestCertificates(t?: { after(fn: () => Promise<void>): void }): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'swb-certs-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  t?.after(remove);
  try {
    const config = join(dir, 'openssl.cnf');
    await writeFile(config, CONFIG);
    const paths = (name: string): { keyPath: string; certPath: string } => ({ keyPath: join(dir, `${name}.key`), certPath: join(dir, `${name}.pem`) });
    const load = async (name: string): Promise<TestCertificate> => {
      const { keyPath, certPath } = paths(name);
      return { keyPath, certPath, key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8') };
    };
    const selfSigned = async (name: string, cn: string): Promise<TestCertificate> => {
      const { keyPath, certPath } = paths(name);
      await run('openssl', ['req', '-x509', '-new', '-config', config, ...EC_KEY, '-keyout', keyPath, '-out', certPath, '-days', '30', '-subj', `/CN=${cn}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
      return load(name);
    };
    const signed = async (name: string, cn: string, issuer: TestCertificate, extensions: string[], days = 30): Promise<TestCertificate> => {
      const { keyPath, certPath } = paths(name);
      await run('openssl', ['req', '-x509', '-new', '-config', config, ...EC_KEY, '-keyout', keyPath, '-out', certPath, '-days', String(days), '-subj', `/CN=${cn}`,
        '-CA', issuer.certPath, '-CAkey', issuer.keyPath, '-addext', 'basicConstraints=critical,CA:FALSE', ...extensions.flatMap((ext) => ['-addext', ext])]);
      return load(name);
    };
    const serverAuth = (...names: string[]): string[] => ['extendedKeyUsage=serverAuth', `subjectAltName=${names.join(',')}`];
    const clientAuth = ['extendedKeyUsage=clientAuth'];

    const [ca, strangerCa] = await Promise.all([selfSigned('ca', 'Switchboard Test CA'), selfSigned('stranger-ca', 'Stranger CA')]);
    const [server, a, b, client, strangerClient, soon] = await Promise.all([
      signed('server', 'localhost', ca, serverAuth('DNS:localhost', 'IP:127.0.0.1', 'IP:::1')),
      signed('a', 'a.test', ca, serverAuth('DNS:a.test')),
      signed('b', 'b.test', ca, serverAuth('DNS:b.test')),
      signed('client', 'client', ca, clientAuth),
      signed('stranger-client', 'stranger', strangerCa, clientAuth),
      signed('soon', 'soon.test', ca, serverAuth('DNS:soon.test'), 1),
    ]);
    // `req` refuses a negative validity; `x509 -req -days -1` gives notAfter a day before now.
    const expiredPaths = paths('expired');
    const csr = join(dir, 'expired.csr');
    await run('openssl', ['req', '-new', '-config', config, ...EC_KEY, '-keyout', expiredPaths.keyPath, '-out', csr, '-subj', '/CN=expired.test']);
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', '7', '-days', '-1', '-out', expiredPaths.certPath]);
    const expired = await load('expired');
    const strayKeyPath = join(dir, 'stray.key');
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', strayKeyPath]);
    const strayKey = await readFile(strayKeyPath, 'utf8');
    return { dir, ca, strangerCa, server, a, b, client, strangerClient, expired, soon, strayKey, strayKeyPath, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** Just the PEM key and certificate, as the `tls` option takes them (it refuses unknown keys). */
export function pemPair(certificate: TestCertificate): { key: string; cert: string } {
  return { key: certificate.key, cert: certificate.cert };
}
