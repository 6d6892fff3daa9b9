/**
 * HAProxy as a real peer: {@link startHaproxy} writes a config to a temporary directory, runs
 * Debian's `haproxy` in the foreground (`-db`: no daemon, no master-worker) with TCP-mode
 * frontends on loopback ports it picks, each forwarding to a backend the test gives — with
 * `send-proxy` (v1), `send-proxy-v2` and every TLV HAProxy can add, or no header — and stops it
 * after the test. A frontend may terminate TLS with a certificate made at test time
 * ({@link createHaproxyCertificates}; none is committed).
 *
 * HAProxy cannot listen on port 0, so ports are picked by binding node sockets to port 0 and
 * closing them; if another process takes one in between, HAProxy fails to bind and the start is
 * retried with new ports (a bounded number of times).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { within } from './net.ts';

const execFileAsync = promisify(execFile);

/** The TLVs HAProxy adds behind `send-proxy-v2`: all of `proxy-v2-options`. */
export const HAPROXY_V2_OPTIONS = 'ssl,cert-cn,ssl-cipher,cert-sig,cert-key,authority,crc32c,unique-id';

/**
 * The UNIQUE_ID HAProxy sends: client address and port, frontend address and port, then the
 * accept time, a request counter and HAProxy's pid (the example format of HAProxy's manual).
 */
export const HAPROXY_UNIQUE_ID_FORMAT = '%ci:%cp_%fi:%fp_%Ts_%rt:%pid';

/** The ALPN protocols a TLS frontend offers, in its order of preference. */
export const HAPROXY_ALPN = ['h2', 'http/1.1'] as const;

/** How long HAProxy may take to start, and to stop on SIGTERM. */
const START_MS = 10_000;
const STOP_MS = 3000;
/** Starts retried when a picked port was taken before HAProxy bound it. */
const START_ATTEMPTS = 5;

/** One frontend: where HAProxy listens, what it writes to the backend, and where that is. */
export interface HaproxyFrontendInit {
  /** Names it in the config and in {@link Haproxy.address}; letters, digits, `-` and `_`. */
  name: string;
  /** The loopback address it binds. */
  host: '127.0.0.1' | '::1';
  /** `v1`: `send-proxy`; `v2`: `send-proxy-v2` with {@link HAPROXY_V2_OPTIONS}; `none`: plain TCP forwarding. */
  proxy: 'v1' | 'v2' | 'none';
  /**
   * Terminate TLS here: the certificate of {@link HaproxyCertificates.server}, ALPN
   * {@link HAPROXY_ALPN}, client certificates asked for and verified against the test CA
   * (`verify optional`: a client without one is served too).
   * @default false
   */
  tls?: boolean;
  /** Where it forwards every connection. */
  backend: { host: string; port: number };
}

/** A key and certificate as PEM, and their files. */
export interface HaproxyCertificate {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

/** The test PKI of the TLS frontends. */
export interface HaproxyCertificates {
  /** The CA that signed the other two (CN `switchboard-test-ca`). */
  ca: HaproxyCertificate;
  /**
   * HAProxy's own certificate: CN `sb.test`, SANs `sb.test`, `*.sb.test`, 127.0.0.1 and ::1; an
   * EC P-256 key signed with ECDSA-SHA256 (so HAProxy's cert-key and cert-sig TLVs say `EC256` and
   * `ecdsa-with-SHA256`).
   */
  server: HaproxyCertificate;
  /** A client certificate: CN {@link HAPROXY_CLIENT_CN}, an EC P-384 key signed with ECDSA-SHA384 (unlike the server's, to tell them apart). */
  client: HaproxyCertificate;
}

/** The CN of {@link HaproxyCertificates.client}. */
export const HAPROXY_CLIENT_CN = 'proxy-client.test';

/** A running HAProxy. */
export interface Haproxy {
  /** The address a frontend listens on. @throws Error for a name no frontend has. */
  address(name: string): { host: string; port: number };
  /** The certificates its TLS frontends use. */
  certificates: HaproxyCertificates;
  /** The config it runs. */
  config: string;
  /** Its process id. */
  pid: number;
  /** Everything it wrote to stderr (alerts and warnings) so far. */
  stderr(): string;
  /** Stops it (SIGTERM, SIGKILL after a bound) and removes its directory; also done after the test. */
  stop(): Promise<void>;
}

let found: { binary: string; version: string } | null | undefined;

/** The HAProxy binary and its version line: on the PATH, or where Debian puts it (a PATH without sbin misses it). */
function findHaproxy(): { binary: string; version: string } | undefined {
  if (found !== undefined) return found ?? undefined;
  found = null;
  for (const binary of ['haproxy', '/usr/sbin/haproxy']) {
    const probe = spawnSync(binary, ['-v'], { encoding: 'utf8', timeout: 5000 });
    if (probe.error === undefined && probe.status === 0) {
      found = { binary, version: probe.stdout.split('\n')[0]!.trim() };
      break;
    }
  }
  return found ?? undefined;
}

/** HAProxy's version line (`HAProxy version 2.6.12-1+deb12u4 …`), or undefined when it is not installed. */
export function haproxyVersion(): string | undefined {
  return findHaproxy()?.version;
}

/**
 * Starts HAProxy with `frontends` and stops it after the test.
 * @throws Error when it cannot start within the bound, with its stderr.
 * @example
 * const haproxy = await startHaproxy(t, [{ name: 'v1', host: '127.0.0.1', proxy: 'v1', backend }]);
 * const { host, port } = haproxy.address('v1');
 */
export async function startHaproxy(t: Pick<TestContext, 'after'>, frontends: readonly HaproxyFrontendInit[]): Promise<Haproxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchboard-haproxy-'));
  let stop = (): Promise<void> => rm(dir, { recursive: true, force: true });
  t.after(() => stop());
  const certificates = await createHaproxyCertificates(dir);
  const bundle = path.join(dir, 'server-bundle.pem');
  await writeFile(bundle, certificates.server.cert + certificates.server.key);
  const files = { bundle, ca: certificates.ca.certPath, stats: path.join(dir, 'admin.sock') };
  const failures: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const ports = await pickFreePorts(frontends.map((frontend) => frontend.host));
    const config = haproxyConfig(frontends, ports, files);
    const configPath = path.join(dir, 'haproxy.cfg');
    await writeFile(configPath, config);
    const started = await runHaproxy(configPath, files.stats);
    if ('failure' in started) {
      failures.push(`attempt ${attempt}: ${started.failure}`);
      if (/cannot bind|address already in use/i.test(started.failure)) continue;
      break;
    }
    const { child, stderr } = started;
    stop = async () => {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    };
    const addresses = new Map(frontends.map((frontend, index) => [frontend.name, { host: frontend.host, port: ports[index]! }]));
    return {
      address(name) {
        const address = addresses.get(name);
        if (address === undefined) throw new Error(`no HAProxy frontend is called ${name}`);
        return address;
      },
      certificates,
      config,
      pid: child.pid!,
      stderr,
      stop: () => stop(),
    };
  }
  throw new Error(`HAProxy did not start:\n${failures.join('\n')}`);
}

/** The config: TCP mode everywhere, a stats socket to tell when it is up, one backend per frontend. */
function haproxyConfig(frontends: readonly HaproxyFrontendInit[], ports: readonly number[], files: { bundle: string; ca: string; stats: string }): string {
  const lines = [
    'global',
    `  stats socket ${files.stats} level user`,
    '  maxconn 256',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    `  unique-id-format ${HAPROXY_UNIQUE_ID_FORMAT.replaceAll(' ', '\\ ')}`,
  ];
  for (const [index, frontend] of frontends.entries()) {
    if (!/^[A-Za-z0-9_-]+$/.test(frontend.name)) throw new Error(`bad HAProxy frontend name ${JSON.stringify(frontend.name)}`);
    const bind = `${frontend.host.includes(':') ? `[${frontend.host}]` : frontend.host}:${ports[index]}`;
    const tls = frontend.tls === true ? ` ssl crt ${files.bundle} ca-file ${files.ca} verify optional alpn ${HAPROXY_ALPN.join(',')}` : '';
    const send = { v1: ' send-proxy', v2: ` send-proxy-v2 proxy-v2-options ${HAPROXY_V2_OPTIONS}`, none: '' }[frontend.proxy];
    const backend = frontend.backend.host.includes(':') ? `[${frontend.backend.host}]:${frontend.backend.port}` : `${frontend.backend.host}:${frontend.backend.port}`;
    lines.push(
      `frontend fe_${frontend.name}`,
      `  bind ${bind}${tls}`,
      `  default_backend be_${frontend.name}`,
      `backend be_${frontend.name}`,
      `  server s1 ${backend}${send}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Ports free on each host just now: sockets bound to port 0, all held until every one is bound
 * (so no two are the same), then closed.
 */
async function pickFreePorts(hosts: readonly string[]): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (const host of hosts) {
      const server = createServer();
      servers.push(server);
      await within(
        new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, host, () => resolve());
        }),
        `a free port on ${host}`,
      );
      ports.push((server.address() as { port: number }).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

/**
 * Spawns HAProxy and waits until its stats socket answers `show info` with its own pid: every
 * listener is bound by then (HAProxy binds them all before serving any, and exits if one fails).
 */
async function runHaproxy(configPath: string, statsPath: string): Promise<{ child: ChildProcess; stderr: () => string } | { failure: string }> {
  const child = spawn(findHaproxy()?.binary ?? 'haproxy', ['-db', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`could not run haproxy: ${error.message}`));
    child.once('exit', (code, signal) => resolve(`haproxy exited (code ${code}, signal ${signal}) before it was ready`));
  });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const deadline = performance.now() + START_MS;
  let ready = false;
  let stillStarting = true;
  void exited.then(() => (stillStarting = false));
  while (stillStarting && performance.now() < deadline) {
    const info = await askStats(statsPath, 'show info');
    if (info !== undefined && new RegExp(`^Pid: ${child.pid}$`, 'm').test(info)) {
      ready = true;
      break;
    }
    // Not up yet: wait for the next try, or for the exit that ends the wait at once.
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20))]);
  }
  if (ready && stillStarting) return { child, stderr: () => stderr };
  await stopProcess(child);
  const why = stillStarting ? `haproxy was not ready within ${START_MS} ms` : await exited;
  return { failure: `${why}\n${stderr.trim()}` };
}

/** The stats socket's answer to `command`, or undefined when it does not answer (yet). */
async function askStats(statsPath: string, command: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(statsPath);
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (text: string) => (answer += text));
    socket.on('error', () => {});
    socket.on('close', (hadError) => resolve(hadError || answer === '' ? undefined : answer));
  });
}

/** SIGTERM, then SIGKILL if it has not exited within the bound. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  try {
    await within(exited, 'haproxy to exit on SIGTERM', STOP_MS);
  } catch {
    child.kill('SIGKILL');
    await within(exited, 'haproxy to exit on SIGKILL', STOP_MS);
  }
}

/** The extensions of each certificate; nothing from the system's openssl.cnf. */
const OPENSSL_CONFIG = `[req]
distinguished_name = subject
[subject]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign
[server]
basicConstraints = CA:FALSE
subjectAltName = DNS:sb.test,DNS:*.sb.test,IP:127.0.0.1,IP:::1
extendedKeyUsage = serverAuth
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
`;

/**
 * Makes the CA, HAProxy's certificate and a client certificate in `dir` with `openssl req`
 * (a few tens of milliseconds; EC keys).
 */
export async function createHaproxyCertificates(dir: string): Promise<HaproxyCertificates> {
  const configPath = path.join(dir, 'openssl.cnf');
  await writeFile(configPath, OPENSSL_CONFIG);
  const make = async (name: string, subject: string, curve: string, digest: string, signer?: HaproxyCertificate): Promise<HaproxyCertificate> => {
    const [certPath, keyPath] = [path.join(dir, `${name}.pem`), path.join(dir, `${name}.key`)];
    const issuer = signer === undefined ? [] : ['-CA', signer.certPath, '-CAkey', signer.keyPath];
    await execFileAsync('openssl', [
      'req', '-config', configPath, '-x509', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', `-${digest}`,
      '-keyout', keyPath, '-out', certPath, '-subj', `/CN=${subject}`, '-days', '2', '-extensions', name, ...issuer,
    ], { timeout: 10_000 });
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return { cert, key, certPath, keyPath };
  };
  const ca = await make('ca', 'switchboard-test-ca', 'prime256v1', 'sha256');
  const [server, client] = await Promise.all([
    make('server', 'sb.test', 'prime256v1', 'sha256', ca),
    make('client', HAPROXY_CLIENT_CN, 'secp384r1', 'sha384', ca),
  ]);
  return { ca, server, client };
}
