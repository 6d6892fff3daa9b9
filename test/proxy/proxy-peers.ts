/**
 * Peers for the `proxyProtocol` listener tests: a client that plays the balancer (its first write
 * is a PROXY header the encoder built), and a TLS client whose ClientHello leaves in the same
 * write — one segment — as the header before it.
 */
import { connect as netConnect } from 'node:net';
import { Duplex } from 'node:stream';
import type { TestContext } from 'node:test';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { encodeProxyHeader, type ProxyHeaderInit } from '../../src/index.ts';
import type { RejectedConnection, TcpServer } from '../../src/index.ts';
import { connectClient, deferred, within, type TestClient } from '../helpers/net.ts';

/** A v1 or v2 header from `source` (the client) to `destination`. */
export function headerFrom(version: 1 | 2, source: { address: string; port: number }, destination: { address: string; port: number }, extra: Partial<ProxyHeaderInit> = {}): Buffer {
  return encodeProxyHeader({ version, source, destination, ...extra });
}

/**
 * Connects to 127.0.0.1:`port` (or from `localAddress`) and writes `header` and `payload` in one
 * write; the client is closed after the test.
 */
export async function balancerClient(t: TestContext, port: number, header: Uint8Array, payload: string | Uint8Array = '', options: { host?: string; localAddress?: string } = {}): Promise<TestClient> {
  const client = await connectClient(t, port, options.host ?? '127.0.0.1', options.localAddress ? { localAddress: options.localAddress } : {});
  client.socket.on('error', () => {});
  client.send(Buffer.concat([header, typeof payload === 'string' ? Buffer.from(payload) : payload]));
  return client;
}

/**
 * A TLS client of 127.0.0.1:`port` whose first write — its ClientHello — goes out with `prefix`
 * in front, as one write: the server gets the header and the ClientHello in one segment.
 * Resolves once the handshake is done; destroyed after the test.
 */
export async function prefixedTlsClient(t: TestContext, port: number, prefix: Uint8Array, options: ConnectionOptions = {}): Promise<{ tls: TLSSocket; firstWrite: Promise<Buffer> }> {
  const raw = netConnect({ port, host: '127.0.0.1' });
  raw.on('error', () => {});
  await within(new Promise<void>((resolve, reject) => raw.once('connect', resolve).once('error', reject)), `a connection to 127.0.0.1:${port}`);
  const first = deferred<Buffer>();
  let pending: Buffer | undefined = Buffer.from(prefix);
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      const bytes = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      if (pending !== undefined) first.resolve(bytes);
      pending = undefined;
      raw.write(bytes, callback);
    },
    read() {},
    final(callback) {
      raw.end();
      callback();
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on('data', (chunk: Buffer) => duplex.push(chunk));
  raw.on('end', () => duplex.push(null));
  raw.on('close', () => duplex.destroy());
  const tls = tlsConnect({ socket: duplex, ...options });
  t.after(() => {
    tls.destroy();
    raw.destroy();
  });
  await within(new Promise<void>((resolve, reject) => tls.once('secureConnect', resolve).once('error', reject)), 'a TLS handshake after the PROXY header');
  tls.on('error', () => {});
  return { tls, firstWrite: first.promise };
}

/** The next `rejected` event of `server`, bounded. */
export function nextRejection(server: TcpServer, ms?: number): Promise<RejectedConnection> {
  return within(new Promise((resolve) => server.once('rejected', resolve)), 'a rejected connection', ms);
}
