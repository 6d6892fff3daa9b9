/**
 * listenMetrics: the endpoints, /healthz against a blocked event loop, and bad requests to the
 * metrics port refused without disturbing the sessions the servers serve.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE, listenMetrics, type MetricsServerOptions, type StatusDocument, type TcpServer } from '../../src/index.ts';
import { connectClient, listenLocal, until, within } from '../helpers/net.ts';
import { httpRequest, promtoolCheck } from './scrape.ts';

const echo = { data(session: { write(chunk: Buffer): unknown }, chunk: Buffer) { session.write(chunk); } };

async function serveMetrics(t: TestContext, servers: readonly TcpServer[], options: MetricsServerOptions = {}) {
  const registry = new MetricsRegistry();
  for (const server of servers) registry.add(server, { service: 'echo' });
  const metrics = await listenMetrics(registry, { port: 0, ...options });
  t.after(async () => {
    await metrics.close();
    registry.clear();
  });
  return { registry, metrics, port: metrics.address.port };
}

/** Writes `text` on a raw connection and reads until the server closes it (bounded). */
function rawExchange(port: number, text: string, ms = 5000): Promise<{ response: string; socket: Socket }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  socket.once('connect', () => socket.write(text));
  return within(new Promise((resolve) => socket.once('close', () => resolve({ response: Buffer.concat(chunks).toString(), socket }))), `the metrics port to answer and close (${JSON.stringify(text.slice(0, 30))})`, ms);
}

/** Blocks this thread (and so the event loop) for `ms`. */
function blockLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('listenMetrics', () => {
  it('serves /metrics, /healthz, /readyz, /status and /status.json', async (t) => {
    const server = await listenLocal(t, {}, echo);
    const { port } = await serveMetrics(t, [server]);
    const metrics = await httpRequest(port, '/metrics?x=1');
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers['content-type'], PROMETHEUS_CONTENT_TYPE);
    assert.match(metrics.body, /^switchboard_event_loop_delay_seconds [\d.e-]+$/m);
    const verdict = promtoolCheck(metrics.body);
    if (verdict !== undefined) assert.equal(verdict.status, 0, verdict.output);
    assert.equal((await httpRequest(port, '/healthz')).status, 200);
    const ready = await httpRequest(port, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    assert.match(ready.body, /^ready: tcp 127\.0\.0\.1:\d+ echo: listening$/m);
    const page = await httpRequest(port, '/status');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.match(page.body, /<script src="\/status\.js" defer><\/script>/);
    assert.equal((await httpRequest(port, '/status.js')).headers['content-type'], 'text/javascript; charset=utf-8');
    const json = JSON.parse((await httpRequest(port, '/status.json')).body) as StatusDocument;
    assert.equal(json.servers.length, 1);
    assert.equal(json.servers[0]!.service, 'echo');
    assert.equal(json.ready, true);
    assert.ok(json.history.length >= 1);
    const head = await httpRequest(port, '/metrics', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('answers /readyz 503 while a server is suspended or closing, or when there is none', async (t) => {
    const server = await listenLocal(t, {}, echo);
    const { port, registry } = await serveMetrics(t, [server]);
    server.suspend();
    const suspended = await httpRequest(port, '/readyz');
    assert.equal(suspended.status, 503);
    assert.match(suspended.body, /not ready: tcp .* echo: suspended/);
    server.resume();
    assert.equal((await httpRequest(port, '/readyz')).status, 200);
    registry.beginDrain();
    const draining = await httpRequest(port, '/readyz');
    assert.equal(draining.status, 503);
    assert.match(draining.body, /not ready: draining/);
    registry.clear();
    assert.match((await httpRequest(port, '/readyz')).body, /not ready: no servers/);
  });

  it('fails /healthz after the event loop was blocked beyond the threshold, then recovers', async (t) => {
    const server = await listenLocal(t, {}, echo);
    const { port } = await serveMetrics(t, [server], { loopDelayThreshold: 100, healthWindow: 600 });
    assert.equal((await httpRequest(port, '/healthz')).status, 200);
    blockLoop(300);
    const blocked = await httpRequest(port, '/healthz');
    assert.equal(blocked.status, 503, blocked.body);
    assert.match(blocked.body, /^unhealthy: event loop delay \d+ ms/);
    let recovered = 0;
    const deadline = performance.now() + 4000;
    while (performance.now() < deadline && (recovered = (await httpRequest(port, '/healthz')).status) !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(recovered, 200, 'healthy again once the window passed');
  });

  it('refuses huge headers, slowloris, POST, bodies, path traversal and connections over its cap, leaving served sessions alone', async (t) => {
    const server = await listenLocal(t, {}, echo);
    const { port } = await serveMetrics(t, [server], { maxHeaderSize: 1024, headersTimeout: 300, maxConnections: 3 });
    const session = await connectClient(t, server.addresses[0]!.port);
    session.send('before\n');
    await session.waitForText('before\n');

    const huge = await rawExchange(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
    assert.match(huge.response, /^HTTP\/1\.1 431 /);
    const started = performance.now();
    const slow = await rawExchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n', 3000);
    assert.match(slow.response, /^(HTTP\/1\.1 408 |$)/, 'a timeout answer, or just the close');
    assert.ok(performance.now() - started >= 250, 'not before the header deadline');
    const post = await httpRequest(port, '/metrics', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const body = await rawExchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    assert.match(body.response, /^HTTP\/1\.1 400 /);
    for (const path of ['/../../etc/passwd', '/status/../metrics', '/%2e%2e/%2e%2e/etc/passwd', '//etc/passwd', '/metrics/', '/METRICS', 'http://evil/metrics']) {
      const result = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(result.response, /^HTTP\/1\.1 (404|400) /, path);
      assert.doesNotMatch(result.response, /root:|switchboard_/, path);
    }
    // The cap: three idle connections held, a fourth is closed at once.
    const held = await Promise.all([0, 1, 2].map(async () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await within(new Promise((resolve) => socket.once('connect', resolve)), 'a held connection');
      t.after(() => void socket.destroy());
      return socket;
    }));
    const over = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(over.response, '', 'closed without an answer');
    for (const socket of held) socket.destroy();
    await until(() => held.every((socket) => socket.destroyed), 'the held connections to close');

    session.send('after\n');
    await session.waitForText('after\n');
    const stats = server.stats();
    assert.equal(stats.sessions, 1);
    assert.equal(stats.rejected, 0);
    assert.equal(stats.opened, 1);
  });

  it('refuses bad options with SWB_ERR_INVALID_OPTION', () => {
    const registry = new MetricsRegistry();
    assert.throws(() => listenMetrics(registry, { maxConnections: 0 }), { code: 'SWB_ERR_INVALID_OPTION', message: /`maxConnections` must be an integer from 1 to 1024/ });
    assert.throws(() => listenMetrics(registry, { port: 70000 }), { code: 'SWB_ERR_INVALID_OPTION' });
    assert.throws(() => listenMetrics(registry, { hots: '::1' } as never), { code: 'SWB_ERR_INVALID_OPTION', message: /did you mean "host"/ });
  });

  it('rejects with SWB_ERR_ADDRESS_IN_USE when the port is taken', async (t) => {
    const registry = new MetricsRegistry();
    const first = await listenMetrics(registry, { port: 0 });
    t.after(() => first.close());
    await assert.rejects(listenMetrics(registry, { port: first.address.port }), { code: 'SWB_ERR_ADDRESS_IN_USE', message: /^listen tcp 127\.0\.0\.1:\d+: address already in use/ });
  });
});
