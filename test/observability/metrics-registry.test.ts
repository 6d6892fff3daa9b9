/**
 * MetricsRegistry: the Prometheus text passes promtool under load (TCP, TLS and UDP series), and
 * the ledger identities hold in every scrape taken during and after a chaotic run.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { CloseCause, MetricsRegistry, RejectCause, listenUdp, type TcpServer, type UdpServer } from '../../src/index.ts';
import { encodeProxyHeader } from '../../src/index.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';
import { listenLocal, until, within } from '../helpers/net.ts';
import { createSeededRandom } from '../helpers/seeded-random.ts';
import { parseSamples, promtoolCheck, total } from './scrape.ts';

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

const echo = { data(session: { write(chunk: Buffer): unknown }, chunk: Buffer) { session.write(chunk); } };

async function listenUdpEcho(t: TestContext): Promise<UdpServer> {
  const server = await listenUdp({ host: '127.0.0.1', port: 0 }, (datagram) => void datagram.reply(datagram.data));
  t.after(() => server.destroy());
  return server;
}

/** One TCP (or TLS) exchange: send, read the echo, end. */
function exchange(port: number, payload: Buffer, secure: boolean): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      const socket: Socket = secure ? tlsConnect({ port, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost' }) : connect(port, '127.0.0.1');
      let got = 0;
      socket.once(secure ? 'secureConnect' : 'connect', () => socket.write(payload));
      socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= payload.length) socket.end();
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    }),
    'an echo exchange',
  );
}

/** Writes `bytes` and the FIN on one connection, reads whatever comes back, resolves at its close. */
function sendAndClose(port: number, bytes: Buffer): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
      socket.on('error', () => {});
      socket.on('close', () => resolve());
      socket.resume();
    }),
    'a connection to close',
  );
}

/** UDP datagrams sent to `port`, resolving when `replies` echoes came back. */
async function udpExchange(t: TestContext, port: number, count: number): Promise<void> {
  const client = createSocket('udp4');
  t.after(() => new Promise<void>((resolve) => client.close(() => resolve())));
  let replies = 0;
  const done = new Promise<void>((resolve) => client.on('message', () => ++replies === count && resolve()));
  for (let i = 0; i < count; i++) client.send(`ping ${i}`, port, '127.0.0.1');
  await within(done, `${count} UDP echoes`);
}

/** The ledger identities, checked in one scrape. */
function assertLedger(text: string, service: string): Map<string, number> {
  const samples = parseSamples(text);
  const match = { service };
  const opened = total(samples, 'switchboard_sessions_opened_total', match);
  const closed = total(samples, 'switchboard_sessions_closed_total', match);
  const active = total(samples, 'switchboard_sessions_active', match);
  const accepted = total(samples, 'switchboard_connections_accepted_total', match);
  const rejected = total(samples, 'switchboard_connections_rejected_total', match);
  const waiting = total(samples, 'switchboard_connections_waiting', match);
  assert.equal(opened - closed, active, `${service}: opened_total − closed_total == sessions_active`);
  assert.equal(accepted, opened + rejected + waiting, `${service}: accepted == opened + rejected + waiting`);
  return samples;
}

describe('MetricsRegistry', () => {
  describe('#metrics', () => {
    it('passes promtool check metrics under load, with TCP, TLS and UDP series', async (t) => {
      const plain = await listenLocal(t, {}, echo);
      const secure = await listenLocal(t, { tls: pemPair(certs.server) }, echo);
      const udp = await listenUdpEcho(t);
      const registry = new MetricsRegistry().add(plain, { service: 'echo' }).add(secure, { service: 'echo-tls' }).add(udp, { service: 'echo' });
      t.after(() => registry.clear());
      const load = Promise.all([
        ...Array.from({ length: 20 }, (_, i) => exchange(plain.addresses[0]!.port, Buffer.alloc(2000 + i, 'x'), false)),
        ...Array.from({ length: 10 }, (_, i) => exchange(secure.addresses[0]!.port, Buffer.alloc(500 + i, 'y'), true)),
        udpExchange(t, udp.addresses[0]!.port, 20),
      ]);
      // A scrape while the load runs, then one after it.
      await until(() => plain.stats().opened > 0 && secure.stats().tls!.inProgress + secure.stats().opened > 0, 'the load to start');
      const during = registry.metrics();
      await load;
      await until(() => plain.stats().sessions === 0 && secure.stats().sessions === 0, 'the sessions to close');
      const afterLoad = registry.metrics();
      for (const text of [during, afterLoad]) {
        const verdict = promtoolCheck(text);
        if (verdict === undefined) {
          t.diagnostic('SKIPPED the promtool half: promtool is not installed (Debian package prometheus)');
          break;
        }
        assert.equal(verdict.status, 0, `promtool check metrics:\n${verdict.output}\n${text}`);
      }
      const samples = parseSamples(afterLoad);
      assert.equal(total(samples, 'switchboard_sessions_opened_total', { service: 'echo' }), 20);
      assert.equal(total(samples, 'switchboard_tls_handshakes_total', { service: 'echo-tls' }), 10);
      assert.equal(total(samples, 'switchboard_tls_handshake_duration_seconds_count', { service: 'echo-tls' }), 10);
      assert.equal(total(samples, 'switchboard_session_duration_seconds_count', { service: 'echo' }), 20);
      assert.equal(total(samples, 'switchboard_udp_datagrams_received_total', { service: 'echo' }), 20);
      assert.equal(total(samples, 'switchboard_udp_datagrams_sent_total', { service: 'echo' }), 20);
      assert.equal(total(samples, 'switchboard_bytes_received_total', { service: 'echo', transport: 'tcp' }), Array.from({ length: 20 }, (_, i) => 2000 + i).reduce((a, b) => a + b));
      assert.ok(afterLoad.endsWith('\n'));
      assert.match(afterLoad, new RegExp(`switchboard_sessions_closed_total\\{service="echo",transport="tcp",listener="127\\.0\\.0\\.1:${plain.addresses[0]!.port}",reason="peer-end"\\} 20\\n`));
    });

    it('passes promtool check metrics with PROXY series of TCP and UDP servers, every code and action from the start', async (t) => {
      const relayed = await listenLocal(t, { proxyProtocol: { from: ['127.0.0.0/8'] } }, echo);
      const edge = await listenLocal(t, { proxyProtocol: { from: ['198.18.0.0/15'], untrusted: 'direct' } }, echo);
      const udp = await listenUdp({ host: '127.0.0.1', port: 0, proxyProtocol: { from: ['127.0.0.0/8'] } }, (datagram) => void datagram.reply(datagram.data));
      t.after(() => udp.destroy());
      const registry = new MetricsRegistry().add(relayed, { service: 'relayed' }).add(edge, { service: 'edge' }).add(udp, { service: 'relayed' });
      t.after(() => registry.clear());
      const fresh = parseSamples(registry.metrics());
      assert.equal(fresh.get(`switchboard_proxy_failures_total{service="relayed",transport="tcp",listener="127.0.0.1:${relayed.addresses[0]!.port}",reason="SWB_ERR_PROXY_TIMEOUT"}`), 0, 'a code is written before it happens');
      const client = { address: '198.51.100.7', port: 40_001 };
      const front = { address: '192.0.2.80', port: 443 };
      const port = relayed.addresses[0]!.port;
      await sendAndClose(port, Buffer.concat([encodeProxyHeader({ version: 1, source: client, destination: front }), Buffer.from('v1 payload')]));
      await sendAndClose(port, Buffer.concat([encodeProxyHeader({ version: 2, source: client, destination: front }), Buffer.from('v2 payload')]));
      await sendAndClose(port, Buffer.concat([encodeProxyHeader({ version: 2, command: 'local' }), Buffer.from('health')]));
      await sendAndClose(port, Buffer.from('GET / HTTP/1.0\r\n\r\n')); // refused: no header
      await sendAndClose(edge.addresses[0]!.port, Buffer.from('served direct'));
      const sender = createSocket('udp4');
      t.after(() => new Promise<void>((resolve) => sender.close(() => resolve())));
      const replied = new Promise<void>((resolve) => sender.once('message', () => resolve()));
      sender.send(Buffer.concat([encodeProxyHeader({ version: 2, source: client, destination: front, transport: 'dgram' }), Buffer.from('ping')]), udp.addresses[0]!.port, '127.0.0.1');
      sender.send('no header', udp.addresses[0]!.port, '127.0.0.1');
      await within(replied, 'the relayed datagram echoed');
      await until(() => udp.stats().datagramsIn === 2 && relayed.stats().pending + relayed.stats().sessions + edge.stats().sessions === 0, 'the exchanges to settle');
      const text = registry.metrics();
      const verdict = promtoolCheck(text);
      if (verdict === undefined) t.diagnostic('SKIPPED the promtool half: promtool is not installed (Debian package prometheus)');
      else assert.equal(verdict.status, 0, `promtool check metrics:\n${verdict.output}\n${text}`);
      const samples = parseSamples(text);
      const tcp = { service: 'relayed', transport: 'tcp' };
      assert.equal(total(samples, 'switchboard_proxy_headers_total', { ...tcp, version: '1' }), 1);
      assert.equal(total(samples, 'switchboard_proxy_headers_total', { ...tcp, version: '2' }), 2);
      assert.equal(total(samples, 'switchboard_proxy_local_total', tcp), 1);
      assert.equal(total(samples, 'switchboard_proxy_failures_total', { ...tcp, reason: 'SWB_ERR_PROXY_HEADER_MISSING' }), 1);
      assert.equal(total(samples, 'switchboard_proxy_failures_total', tcp), 1);
      assert.equal(total(samples, 'switchboard_proxy_untrusted_total', { service: 'edge', action: 'direct' }), 1);
      assert.equal(total(samples, 'switchboard_proxy_untrusted_total', { service: 'edge', action: 'refused' }), 0);
      const dgram = { service: 'relayed', transport: 'udp' };
      assert.equal(total(samples, 'switchboard_proxy_headers_total', { ...dgram, version: '2' }), 1);
      assert.equal(total(samples, 'switchboard_proxy_failures_total', dgram), 1);
      assert.equal(text.match(/^# TYPE switchboard_proxy_failures_total counter$/gm)?.length, 1);
      assert.doesNotMatch(registry.metrics().split('\n').filter((line) => line.includes('service="echo"')).join('\n'), /switchboard_proxy_/);
    });

    it('escapes label values and keeps one HELP and TYPE per family over several servers', async (t) => {
      const a = await listenLocal(t, {}, echo);
      const b = await listenLocal(t, {}, echo);
      const registry = new MetricsRegistry().add(a, { service: 'quote"back\\slash\nline' }).add(b, { service: 'plain' });
      t.after(() => registry.clear());
      const text = registry.metrics();
      assert.match(text, /service="quote\\"back\\\\slash\\nline"/);
      assert.equal(text.match(/^# TYPE switchboard_sessions_active gauge$/gm)?.length, 1);
      assert.equal(text.match(/^switchboard_sessions_active\{/gm)?.length, 2);
      const verdict = promtoolCheck(text);
      if (verdict !== undefined) assert.equal(verdict.status, 0, verdict.output);
    });

    it('leaves out the histograms when told, and subscribes to nothing then', async (t) => {
      const server = await listenLocal(t, {}, echo);
      const registry = new MetricsRegistry({ histograms: false }).add(server);
      t.after(() => registry.clear());
      await exchange(server.addresses[0]!.port, Buffer.from('hi'), false);
      await until(() => server.stats().sessions === 0, 'the session to close');
      const text = registry.metrics();
      assert.doesNotMatch(text, /switchboard_session_duration_seconds/);
      assert.match(text, /switchboard_sessions_opened_total\{service="tcp",transport="tcp",listener="127\.0\.0\.1:\d+"\} 1\n/);
    });

    it('refuses bad options with SWB_ERR_INVALID_OPTION', () => {
      assert.throws(() => new MetricsRegistry({ histograms: 'yes' as unknown as boolean }), { code: 'SWB_ERR_INVALID_OPTION', message: /`histograms` must be a boolean/ });
      assert.throws(() => new MetricsRegistry({ sessionDurationBuckets: [1, 0.5] }), { code: 'SWB_ERR_INVALID_OPTION', message: /`sessionDurationBuckets` must be a non-empty array of ascending/ });
      assert.throws(() => new MetricsRegistry({ histogram: true } as never), { code: 'SWB_ERR_INVALID_OPTION', message: /unknown option "histogram" \(did you mean "histograms"\?\)/ });
      assert.throws(() => new MetricsRegistry().add({} as TcpServer), { code: 'SWB_ERR_INVALID_OPTION', message: /`server` must be a TcpServer or a UdpServer/ });
    });
  });

  describe('ledger identities', () => {
    it('hold in every scrape during and after a chaotic run (resets, silences, refusals, bad TLS)', async (t) => {
      const random = createSeededRandom(0x5eed13);
      const plain = await listenLocal(t, { maxConnections: 6, idleTimeout: 150 }, echo);
      const secure = await listenLocal(t, { maxConnections: 6, idleTimeout: 150, tls: pemPair(certs.server) }, echo);
      const registry = new MetricsRegistry().add(plain, { service: 'plain' }).add(secure, { service: 'secure' });
      t.after(() => registry.clear());
      let scrapes = 0;
      let running = true;
      const scraper = (async () => {
        while (running) {
          const text = registry.metrics();
          assertLedger(text, 'plain');
          assertLedger(text, 'secure');
          scrapes++;
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const client = (i: number): Promise<void> => {
        const secureOne = random.next() < 0.5;
        const port = (secureOne ? secure : plain).addresses[0]!.port;
        const action = random.pick(['echo', 'reset', 'silent', 'garbage'] as const);
        return within(
          new Promise<void>((resolve) => {
            const socket = action === 'garbage' || !secureOne ? connect(port, '127.0.0.1') : tlsConnect({ port, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost' });
            socket.on('error', () => {});
            socket.on('close', () => resolve());
            socket.once(secureOne && action !== 'garbage' ? 'secureConnect' : 'connect', () => {
              if (action === 'echo') socket.end(`hello ${i}\n`);
              else if (action === 'reset') secureOne ? socket.destroy() : socket.resetAndDestroy();
              else if (action === 'garbage') socket.write('this is not a TLS ClientHello\r\n');
              // silent: the idle timeout (or the TLS deadline) ends it.
            });
            socket.resume();
          }),
          `chaos client ${i} (${action})`,
        );
      };
      await Promise.all(Array.from({ length: 60 }, (_, i) => client(i)));
      await until(() => plain.stats().pending + plain.stats().sessions + secure.stats().pending + secure.stats().sessions === 0, 'every connection to close');
      running = false;
      await scraper;
      assert.ok(scrapes > 10, `only ${scrapes} scrapes during the run`);
      for (const service of ['plain', 'secure']) {
        const samples = assertLedger(registry.metrics(), service);
        assert.equal(total(samples, 'switchboard_sessions_active', { service }), 0);
        assert.equal(total(samples, 'switchboard_connections_waiting', { service }), 0);
        const opened = total(samples, 'switchboard_sessions_opened_total', { service });
        assert.equal(total(samples, 'switchboard_connections_accepted_total', { service }), opened + total(samples, 'switchboard_connections_rejected_total', { service }), `${service}: accepted == opened + rejected at rest`);
      }
      const end = parseSamples(registry.metrics());
      assert.ok(total(end, 'switchboard_sessions_closed_total', { reason: CloseCause.IDLE_TIMEOUT }) + total(end, 'switchboard_connections_rejected_total', { reason: RejectCause.MAX_CONNECTIONS }) > 0);
    });
  });
});
