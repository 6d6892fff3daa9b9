// Lifecycle guarantees of the native-transport prototype (issue 17), on loopback, port 0, every
// wait bounded. Run by experiments/native-transport/run.sh, never by `npm test`.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, test } from 'node:test';
import '../../../test/helpers/leak-check.ts';
import { connectClient, deferred, until, within, type TestClient } from '../../../test/helpers/net.ts';
import type { CloseReason } from '../../../src/tcp/close-reason.ts';
import { listenNative, nativeBatchStats, nativeOpenConnections, type NativeEventHandler, type NativeListenOptions, type NativeServer, type NativeSession } from '../lib/native-server.ts';

const openFds = (): number => readdirSync('/proc/self/fd').length;

let current: NativeServer | undefined;
afterEach(async () => {
  await current?.destroy();
  current = undefined;
  await until(() => nativeOpenConnections() === 0, 'the addon to hold no connection');
});

/** A server whose every open and close is recorded, so exactly-once can be asserted. */
async function recordingServer(handler: NativeEventHandler, options: NativeListenOptions = {}) {
  const opens: NativeSession[] = [];
  const closes: { session: NativeSession; reason: CloseReason }[] = [];
  const closeWaiters: (() => void)[] = [];
  const server = await listenNative({ host: '127.0.0.1', port: 0, ...options }, {
    ...handler,
    open(session) {
      opens.push(session);
      handler.open?.(session);
    },
    close(session, reason) {
      closes.push({ session, reason });
      handler.close?.(session, reason);
      for (const wake of closeWaiters.splice(0)) wake();
    },
  });
  current = server;
  const closedCount = (n: number) => until(() => closes.length >= n, `${n} session close(s)`);
  return { server, port: server.addresses[0]!.port, opens, closes, closedCount };
}

const echo: NativeEventHandler = {
  data(session, chunk) {
    session.write(chunk);
  },
};

function assertOnceEach(opens: NativeSession[], closes: { session: NativeSession }[]): void {
  assert.equal(new Set(opens).size, opens.length, 'open at most once per session');
  assert.equal(closes.length, opens.length, 'one close per opened session');
  assert.deepEqual(new Set(closes.map((c) => c.session)), new Set(opens), 'each opened session closed exactly once');
}

test('echoes 1 MiB in order and closes once with peer-end when the client ends', async (t) => {
  const { port, opens, closes, closedCount } = await recordingServer(echo);
  const fdsBefore = openFds(); // the listening and epoll fds included
  const client = await connectClient(t, port);
  const payload = Buffer.alloc(1 << 20);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 8)) & 255;
  client.send(payload);
  const localPort = client.socket.localPort;
  const received = await client.waitForBytes(payload.length);
  assert.ok(received.equals(payload), 'the echo matches byte for byte');
  client.socket.end();
  await closedCount(1);
  await within(client.closed, 'the client to see the close');
  assertOnceEach(opens, closes);
  assert.equal(closes[0]!.reason.cause, 'peer-end');
  assert.equal(opens[0]!.remoteAddress, '127.0.0.1');
  assert.equal(opens[0]!.remotePort, localPort);
  await until(() => openFds() === fdsBefore, 'the fds of the session and the client to be closed');
});

test('a peer reset closes the session once with peer-reset', async (t) => {
  const { port, opens, closes, closedCount } = await recordingServer(echo);
  const client = await connectClient(t, port);
  client.send('x');
  await client.waitForBytes(1);
  client.socket.resetAndDestroy();
  await closedCount(1);
  assertOnceEach(opens, closes);
  assert.equal(closes[0]!.reason.cause, 'peer-reset');
  assert.equal(closes[0]!.reason.error?.code, 'SWB_ERR_CONNECTION_RESET');
});

test('a throwing data handler closes only its own session (handler-error); another keeps echoing', async (t) => {
  const { port, opens, closes, closedCount } = await recordingServer({
    data(session, chunk) {
      if (chunk.toString().includes('boom')) throw new Error('boom');
      session.write(chunk);
    },
  });
  const good = await connectClient(t, port);
  const bad = await connectClient(t, port);
  bad.send('boom');
  await closedCount(1);
  await within(bad.closed, 'the failing session to close');
  good.send('still here');
  assert.equal((await good.waitForText('still here')).toString(), 'still here');
  assert.equal(closes.length, 1);
  assert.equal(closes[0]!.reason.cause, 'handler-error');
  assert.equal(closes[0]!.reason.error?.code, 'SWB_ERR_HANDLER_FAILED');
  good.socket.end();
  await closedCount(2);
  assertOnceEach(opens, closes);
});

test('write() returns false above the high watermark and drain follows once the peer reads', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const drained = deferred();
  let written = 0;
  let drains = 0;
  let falseWrites = 0;
  const { port } = await recordingServer(
    {
      open(session) {
        // Bounded: at most 512 chunks (32 MiB) before the socket buffers fill and write() says stop.
        for (let i = 0; i < 512; i++) {
          written += chunk.length;
          if (!session.write(chunk)) {
            falseWrites++;
            return;
          }
        }
      },
      drain() {
        drains++;
        drained.resolve();
      },
    },
    { highWaterMark: 64 * 1024, maxBufferedOutput: 0 },
  );
  const client = await connectClient(t, port);
  client.socket.pause();
  await until(() => falseWrites === 1, 'write() to return false');
  assert.equal(drains, 0, 'no drain while the peer does not read');
  client.socket.resume();
  await within(drained.promise, 'drain');
  await client.waitForBytes(written);
  assert.equal(client.received.length, written);
  assert.equal(drains, 1);
});

test('writing with more than maxBufferedOutput queued closes the session with SWB_ERR_OUTPUT_OVERFLOW', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 1);
  let refusedAfter = -1;
  const { port, opens, closes, closedCount } = await recordingServer(
    {
      open(session) {
        for (let i = 0; i < 2000; i++) {
          session.write(chunk);
          if (!session.isOpen) {
            refusedAfter = i;
            return;
          }
        }
      },
    },
    { maxBufferedOutput: 256 * 1024 },
  );
  // A peer that never reads; the server may reset it before Node reports the connect, so no
  // connectClient (which waits for 'connect').
  const socket = connect({ port, host: '127.0.0.1' });
  socket.pause();
  socket.on('error', () => {});
  const gone = new Promise((resolve) => socket.once('close', resolve));
  t.after(() => socket.destroy());
  await closedCount(1);
  assert.ok(refusedAfter > 0, 'the cap closed the session inside the bounded loop');
  assert.equal(closes[0]!.reason.cause, 'limit');
  assert.equal(closes[0]!.reason.error?.code, 'SWB_ERR_OUTPUT_OVERFLOW');
  assertOnceEach(opens, closes);
  socket.resume();
  await within(gone, 'the client to see the connection go');
});

test('end() with output queued sends all of it, then the FIN; the session closes once with local-end', async (t) => {
  const total = 8 * 1024 * 1024;
  const { port, opens, closes, closedCount } = await recordingServer(
    {
      open(session) {
        session.write(Buffer.alloc(total, 3));
        session.end();
      },
    },
    { maxBufferedOutput: 0 },
  );
  const client = await connectClient(t, port);
  await within(client.ended, 'the FIN after the queued output', 10_000);
  assert.equal(client.received.length, total);
  await closedCount(1);
  assert.equal(closes[0]!.reason.cause, 'local-end');
  assertOnceEach(opens, closes);
});

test('server.close() ends every session gracefully (server-close), refuses new connections, leaks nothing', async (t) => {
  const fdsBefore = openFds();
  const { server, port, opens, closes } = await recordingServer(echo);
  const clients: TestClient[] = [];
  for (let i = 0; i < 4; i++) clients.push(await connectClient(t, port));
  for (const client of clients) client.send('hi');
  for (const client of clients) await client.waitForBytes(2);
  assert.equal(opens.length, 4);
  await within(server.close({ timeout: 2000 }), 'server.close()');
  assertOnceEach(opens, closes);
  assert.deepEqual(closes.map((c) => c.reason.cause), Array(4).fill('server-close'));
  for (const client of clients) await within(client.ended, 'each client to see the FIN');
  const refused = deferred<string>();
  const probe = connect({ port, host: '127.0.0.1' });
  probe.once('error', (error: NodeJS.ErrnoException) => refused.resolve(error.code ?? ''));
  probe.once('connect', () => {
    probe.destroy();
    refused.resolve('connected');
  });
  assert.equal(await within(refused.promise, 'the probe connection'), 'ECONNREFUSED');
  assert.equal(nativeOpenConnections(), 0);
  await until(() => openFds() <= fdsBefore, 'the fds of the server and its sessions to be closed');
});

test('server.close() past its timeout destroys a session whose peer does not read; the reason stays server-close', async (t) => {
  const { server, port, opens, closes } = await recordingServer(
    {
      open(session) {
        session.write(Buffer.alloc(16 * 1024 * 1024, 9));
      },
    },
    { maxBufferedOutput: 0 },
  );
  const client = await connectClient(t, port);
  client.socket.pause();
  await until(() => opens.length === 1, 'the session to open');
  await within(server.close({ timeout: 200 }), 'server.close() with a deadline');
  assertOnceEach(opens, closes);
  assert.equal(closes[0]!.reason.cause, 'server-close');
  client.socket.resume();
  await within(client.closed, 'the client to see the connection go');
});

test('pause() stops data events and resume() delivers what arrived meanwhile', async (t) => {
  let paused: NativeSession | undefined;
  const seen: string[] = [];
  const { port } = await recordingServer({
    data(session, chunk) {
      if (chunk.toString() === 'marker') {
        session.write(chunk);
        return;
      }
      seen.push(chunk.toString());
      if (seen.length === 1) {
        session.pause();
        paused = session;
      }
    },
  });
  const client = await connectClient(t, port);
  const marker = await connectClient(t, port);
  client.send('one');
  await until(() => paused !== undefined, 'the first chunk');
  client.send('two');
  // On loopback 'two' is in the server's receive queue once the write returns: the marker's
  // echo coming back proves the loop turned with it there, and it was not delivered.
  marker.send('marker');
  await marker.waitForText('marker');
  assert.deepEqual(seen, ['one']);
  paused!.resume();
  await until(() => seen.join('') === 'onetwo', 'the held-back bytes after resume()');
});

test('one call into JavaScript carries several sessions\' reads when they arrive together', async (t) => {
  const { port } = await recordingServer(echo);
  const clients: TestClient[] = [];
  for (let i = 0; i < 8; i++) clients.push(await connectClient(t, port));
  // Several rounds: in at least one, two or more sessions' data share a batch.
  const start = nativeBatchStats();
  for (let round = 0; round < 50; round++) {
    for (const client of clients) client.send('ping');
    for (const client of clients) await client.waitForBytes((round + 1) * 4);
  }
  const end = nativeBatchStats();
  assert.ok(end.maxDataPerBatch >= 2, `some batch carried ≥ 2 sessions' data (max ${end.maxDataPerBatch})`);
  assert.ok(end.batches - start.batches < 400, `fewer calls into JavaScript (${end.batches - start.batches}) than the 400 reads`);
});

test('with copyChunks, chunks kept past their handler stay intact across later batches', async (t) => {
  const kept: Buffer[] = [];
  const { port } = await recordingServer(
    {
      data(session, chunk) {
        kept.push(chunk);
        session.write('.');
      },
    },
    { copyChunks: true },
  );
  const client = await connectClient(t, port);
  const parts: Buffer[] = [];
  for (let i = 0; i < 20; i++) {
    const part = Buffer.alloc(1000, 65 + i);
    parts.push(part);
    client.send(part);
    await client.waitForBytes(kept.length + 1); // one '.' per chunk; the next part goes in a later batch
  }
  await until(() => Buffer.concat(kept).length === 20_000, 'all 20 parts to arrive');
  assert.ok(Buffer.concat(kept).equals(Buffer.concat(parts)), 'what was kept was not overwritten by later reads');
});
