/**
 * HAProxy as the real PROXY sender: a raw `node:net` backend captures what HAProxy writes in
 * front of the client's bytes, and the parser must read from it exactly what the client really
 * did — its address and port, over IPv4 and IPv6; for a TLS frontend the ALPN and SNI it asked
 * for, the TLS version and cipher it got, its certificate's CN — with a CRC32C that checks out
 * when recomputed here from the captured bytes.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { connect as connectTls } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { ProxyHeaderParser, crc32c } from '../../src/index.ts';
import type { ProxyHeader } from '../../src/index.ts';
import { HAPROXY_CLIENT_CN, haproxyVersion, startHaproxy } from '../helpers/haproxy.ts';
import type { Haproxy, HaproxyFrontendInit } from '../helpers/haproxy.ts';
import { connectClient, within } from '../helpers/net.ts';
import { NONE, inet, relayed } from './wire.ts';

const version = haproxyVersion();
const skip = version === undefined && 'SKIPPED LOUDLY: haproxy is not installed (.ci/run installs it)';

/** What the backend got on one connection: the header's bytes, the parsed header, the payload after it. */
interface Capture {
  raw: Buffer;
  header: ProxyHeader;
  payload: Buffer;
}

/**
 * A backend on 127.0.0.1 that parses the PROXY header of each connection HAProxy opens, reads
 * `payloadBytes` after it, and closes the connection.
 */
async function captureBackend(t: TestContext, payloadBytes: number): Promise<{ port: number; next(): Promise<Capture> }> {
  const captures: Promise<Capture>[] = [];
  const arrivals: ((capture: Promise<Capture>) => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const capture = captureOne(socket, payloadBytes);
    capture.catch(() => {}); // reported to the test that awaits it, never as an unhandled rejection
    const waiting = arrivals.shift();
    if (waiting) waiting(capture);
    else captures.push(capture);
  });
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve())), 'the backend to listen');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    next: () => within(captures.shift() ?? new Promise<Capture>((resolve) => arrivals.push(resolve)), 'HAProxy to connect to the backend and send its header and the payload'),
  };
}

function captureOne(socket: Socket, payloadBytes: number): Promise<Capture> {
  return new Promise((resolve, reject) => {
    const parser = new ProxyHeaderParser();
    const headerChunks: Buffer[] = [];
    let header: ProxyHeader | undefined;
    let raw = Buffer.alloc(0);
    let payload = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`the connection ended after ${payload.length} of ${payloadBytes} payload bytes${header ? '' : ', before the header was complete'}`)));
    socket.on('data', (chunk: Buffer) => {
      if (header === undefined) {
        const result = parser.push(chunk);
        if (result.state === 'failed') return reject(result.error);
        if (result.state === 'partial') return void headerChunks.push(chunk);
        headerChunks.push(chunk.subarray(0, result.consumed));
        raw = Buffer.concat(headerChunks);
        header = result.header;
        chunk = result.rest;
      }
      payload = Buffer.concat([payload, chunk]);
      if (payload.length >= payloadBytes) {
        resolve({ raw, header, payload });
        socket.destroy();
      }
    });
  });
}

/** Recomputes the CRC32C of a captured v2 header from its bytes: the TLV 0x03's value, against the header with that value zeroed. */
function checkCrc32c(raw: Buffer): void {
  const family = raw[13]! >> 4;
  let at = 16 + (family === 1 ? 12 : family === 2 ? 36 : 216);
  while (at + 3 <= raw.length && raw[at] !== 0x03) at += 3 + raw.readUInt16BE(at + 1);
  assert.ok(at + 7 <= raw.length && raw.readUInt16BE(at + 1) === 4, 'the header carries a 4-byte CRC32C TLV');
  const sent = raw.readUInt32BE(at + 3);
  const zeroed = Buffer.from(raw);
  zeroed.writeUInt32BE(0, at + 3);
  assert.equal(crc32c(zeroed), sent, 'the CRC32C HAProxy sent is that of the header');
}

/** Starts HAProxy with one frontend forwarding to a fresh capturing backend. */
async function haproxyInFront(t: TestContext, frontend: Omit<HaproxyFrontendInit, 'backend' | 'name'>, payloadBytes: number) {
  const backend = await captureBackend(t, payloadBytes);
  const haproxy = await startHaproxy(t, [{ name: 'front', ...frontend, backend: { host: '127.0.0.1', port: backend.port } }]);
  return { haproxy, backend, front: haproxy.address('front') };
}

/** A TLS client of HAProxy's TLS frontend, trusting the test CA; resolves once the handshake is done. */
async function tlsClient(t: TestContext, haproxy: Haproxy, options: ConnectionOptions): Promise<TLSSocket> {
  const { host, port } = haproxy.address('front');
  const socket = connectTls({ host, port, ca: haproxy.certificates.ca.cert, ...options });
  t.after(() => void socket.destroy());
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    }),
    `a TLS handshake with HAProxy on ${host}:${port}`,
  );
  return socket;
}

describe(`HAProxy as the PROXY sender (${version ?? 'not installed'})`, { skip }, () => {
  describe('send-proxy (v1)', () => {
    for (const host of ['127.0.0.1', '::1'] as const) {
      it(`names the client's real address and port, over ${host === '::1' ? 'IPv6' : 'IPv4'}`, async (t) => {
        const sent = 'hello through haproxy\n';
        const { backend, front } = await haproxyInFront(t, { host, proxy: 'v1' }, sent.length);
        const client = await connectClient(t, front.port, host);
        client.send(sent);
        const { raw, header, payload } = await backend.next();
        const { localAddress, localPort } = client.socket;
        assert.equal(raw.toString('latin1'), `PROXY TCP${host === '::1' ? 6 : 4} ${localAddress} ${host} ${localPort} ${front.port}\r\n`);
        assert.deepEqual(header, relayed(1, inet(localAddress!, localPort!), inet(host, front.port)));
        assert.equal(payload.toString(), sent);
      });
    }
  });

  describe(`send-proxy-v2 with every TLV, behind an HAProxy TLS frontend`, () => {
    const clients = [
      {
        what: 'a client certificate, ALPN h2, SNI sb.test, TLS 1.3',
        servername: 'sb.test',
        options: { ALPNProtocols: ['h2', 'http/1.1'], maxVersion: 'TLSv1.3' },
        certificate: true,
      },
      {
        what: 'no client certificate, ALPN http/1.1, SNI api.sb.test, TLS 1.2',
        servername: 'api.sb.test',
        options: { ALPNProtocols: ['http/1.1'], maxVersion: 'TLSv1.2' },
        certificate: false,
      },
    ] as const;
    for (const host of ['127.0.0.1', '::1'] as const) {
      for (const { what, servername, options, certificate } of clients) {
        it(`reports what HAProxy knew over ${host === '::1' ? 'IPv6' : 'IPv4'}: ${what}`, async (t) => {
          const sent = 'hello over tls\n';
          const { haproxy, backend, front } = await haproxyInFront(t, { host, proxy: 'v2', tls: true }, sent.length);
          const { client: clientCertificate } = haproxy.certificates;
          const client = await tlsClient(t, haproxy, { servername, ...options, ...(certificate ? { cert: clientCertificate.cert, key: clientCertificate.key } : {}) });
          client.write(sent);
          const { raw, header, payload } = await backend.next();
          checkCrc32c(raw);
          assert.equal(payload.toString(), sent);

          // What the client really used and got, read from its own socket.
          const family = host === '::1' ? 'IPv6' : 'IPv4';
          assert.deepEqual(
            { version: header.version, command: header.command, family: header.family, transport: header.transport, source: header.source, destination: header.destination },
            { version: 2, command: 'proxy', family, transport: 'stream', source: inet(client.localAddress!, client.localPort!), destination: inet(host, front.port) },
          );
          const { tlvs } = header;
          assert.equal(tlvs.alpn, client.alpnProtocol);
          assert.equal(tlvs.alpn, options.ALPNProtocols[0]);
          assert.equal(tlvs.authority, servername);
          assert.equal(tlvs.crc32c, true);
          assert.ok(tlvs.uniqueId?.toString().startsWith(`${client.localAddress}:${client.localPort}_${host}:${front.port}_`), `unique id ${tlvs.uniqueId?.toString()}`);
          assert.equal(tlvs.netns, undefined);
          assert.deepEqual(tlvs.unknown, []);
          const ssl = tlvs.ssl;
          assert.ok(ssl !== undefined, 'an SSL TLV');
          assert.equal(ssl.version, client.getProtocol());
          assert.equal(ssl.version, options.maxVersion);
          assert.equal(ssl.cipher, client.getCipher().name);
          // cert-sig and cert-key describe HAProxy's own certificate (EC P-256, ECDSA-SHA256), not the client's (P-384, SHA-384).
          assert.equal(ssl.sigAlg, 'ecdsa-with-SHA256');
          assert.equal(ssl.keyAlg, 'EC256');
          // PP2_CLIENT_SSL, plus PP2_CLIENT_CERT_CONN and _CERT_SESS when the client sent a certificate.
          assert.equal(ssl.client, certificate ? 0x07 : 0x01);
          assert.equal(ssl.tls, true);
          assert.equal(ssl.verify, 0);
          assert.equal(ssl.cn, certificate ? HAPROXY_CLIENT_CN : undefined);
          assert.equal(ssl.certificateOnConnection, certificate);
          assert.equal(ssl.verified, certificate);
          assert.deepEqual(ssl.unknown, []);
        });
      }
    }
  });

  it('send-proxy-v2 from a plain frontend: CRC32C, UNIQUE_ID and an SSL TLV that says "no TLS"', async (t) => {
    const sent = 'plain\n';
    const { backend, front } = await haproxyInFront(t, { host: '127.0.0.1', proxy: 'v2' }, sent.length);
    const client = await connectClient(t, front.port);
    client.send(sent);
    const { raw, header, payload } = await backend.next();
    checkCrc32c(raw);
    const { localAddress, localPort } = client.socket;
    const uniqueId = header.tlvs.uniqueId;
    assert.ok(uniqueId?.toString().startsWith(`${localAddress}:${localPort}_127.0.0.1:${front.port}_`), `unique id ${uniqueId?.toString()}`);
    const ssl = { client: 0, verify: 0, tls: false, certificateOnConnection: false, certificateInSession: false, verified: false, version: undefined, cn: undefined, cipher: undefined, sigAlg: undefined, keyAlg: undefined, unknown: [] };
    assert.deepEqual(header, relayed(2, inet(localAddress!, localPort!), inet('127.0.0.1', front.port), { tlvs: { ...NONE, crc32c: true, uniqueId, ssl } }));
    assert.equal(raw.length, 16 + 12 + 7 + (3 + uniqueId!.length) + 8, 'CRC32C, UNIQUE_ID and a bare SSL TLV, nothing else');
    assert.equal(payload.toString(), sent);
  });
});
