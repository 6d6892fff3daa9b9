import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { createLineCodec } from '../../src/codecs/index.ts';
import { CloseCause, framed, type CloseReason, type SwitchboardError } from '../../src/index.ts';
import { assertNoLeakedHandles, connectClient, listenLocal, openNetworkHandles, within, type TestClient } from '../helpers/net.ts';
import { pickPeer, seededRandom, type Target } from './peers.ts';

const CHAOS_MS = 3000;
const WORKERS = 16;
const SEED = Number(process.env.CHAOS_SEED ?? 0x5eed);
/** Headroom for the server, the clients, and the buffers of the flood peers, all in this process. */
const RSS_BUDGET = 256 * 1024 * 1024;

/** Sends numbered lines in small batches and checks every echo, byte for byte, until `until`. */
async function wellBehaved(client: TestClient, until: number): Promise<{ rounds: number; bytes: number }> {
  let expected = '';
  let rounds = 0;
  for (let line = 0; performance.now() < until; rounds++) {
    let batch = '';
    for (let i = 0; i < 8; i++, line++) batch += `good client line ${line} ${'.'.repeat(line % 97)}\n`;
    expected += batch;
    client.send(batch);
    const received = await client.waitForBytes(Buffer.byteLength(expected));
    assert.equal(received.toString(), expected, `round ${rounds}: the well-behaved client got exactly its lines back`);
  }
  return { rounds, bytes: Buffer.byteLength(expected) };
}

describe('TcpServer under hostile peers', () => {
  it('keeps serving a well-behaved client correct bytes, closes every session exactly once, and leaks nothing', { timeout: 60_000 }, async (t) => {
    t.diagnostic(`seed ${SEED}`);
    const before = openNetworkHandles();
    const closes = new Map<number, CloseReason[]>();
    const errors: SwitchboardError[] = [];
    let opened = 0;
    const server = await listenLocal(
      t,
      { maxConnections: 100, maxConnectionsPerAddress: 90, maxBufferedOutput: 64 * 1024, firstByteTimeout: 1000 },
      framed(() => createLineCodec({ maxLineLength: 1024 }), {
        open: () => void opened++,
        frame: (session, line) => void session.send(line),
        close(session, reason) {
          const list = closes.get(session.id) ?? [];
          list.push(reason);
          closes.set(session.id, list);
        },
      }, { partialFrameTimeout: 200 }),
    );
    server.on('error', (error) => errors.push(error));
    const rejections = new Map<string, number>();
    server.on('rejected', ({ cause }) => rejections.set(cause, (rejections.get(cause) ?? 0) + 1));
    const port = server.addresses[0]!.port;

    const rssStart = process.memoryUsage().rss;
    let rssPeak = rssStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    t.after(() => clearInterval(sampler));

    // The well-behaved client comes from its own address, so per-address limits never touch it.
    const good = await connectClient(t, port, '127.0.0.1', { localAddress: '127.0.0.2' });
    const until = performance.now() + CHAOS_MS;
    let episodes = 0;
    const worker = async (index: number): Promise<void> => {
      const target: Target = { port, random: seededRandom(SEED * 31 + index), episodeLimit: 3000 };
      while (performance.now() < until) {
        episodes++;
        await pickPeer(target.random)(target);
      }
    };
    const [served] = await Promise.all([
      wellBehaved(good, until),
      ...Array.from({ length: WORKERS }, (_, index) => worker(index)),
    ]);
    clearInterval(sampler);
    t.diagnostic(`${episodes} hostile episodes; the good client made ${served.rounds} round trips (${served.bytes} bytes)`);
    t.diagnostic(`rejections: ${JSON.stringify(Object.fromEntries(rejections))}`);
    const causes = new Map<string, number>();
    for (const [reason] of closes.values()) {
      const key = `${reason!.cause}${reason!.error ? `/${reason!.error.code}` : ''}`;
      causes.set(key, (causes.get(key) ?? 0) + 1);
    }
    t.diagnostic(`close reasons: ${JSON.stringify(Object.fromEntries(causes))}`);

    // The server is alive: the good client is still served, and a newcomer is too.
    assert.ok(served.rounds >= 10, `the good client was served throughout (${served.rounds} rounds)`);
    good.send('after the storm\n');
    await good.waitForText('after the storm\n');
    const newcomer = await connectClient(t, port, '127.0.0.1', { localAddress: '127.0.0.3' });
    newcomer.send('hello\n');
    await newcomer.waitForText('hello\n');
    assert.equal(server.state, 'listening');

    // The limits did their work.
    assert.ok((causes.get(`${CloseCause.LIMIT}/SWB_ERR_FRAME_TOO_LARGE`) ?? 0) > 0, 'oversized lines were refused');
    assert.ok((causes.get(`${CloseCause.LIMIT}/SWB_ERR_DEADLINE_EXCEEDED`) ?? 0) > 0, 'slow peers were cut off');
    assert.deepEqual(errors, [], 'no handler failed');

    // Every session that opened closes exactly once; the ledger balances; nothing leaks.
    await good.close();
    await newcomer.close();
    await within(server.close({ timeout: 2000 }), 'server close');
    const stats = server.stats();
    assert.equal(stats.sessions, 0);
    assert.equal(stats.accepted, stats.closed, 'accepted = closed');
    assert.equal(stats.accepted, opened + stats.rejected);
    assert.equal(closes.size, opened);
    for (const [id, list] of closes) assert.equal(list.length, 1, `session ${id} closed ${list.length} times`);
    await assertNoLeakedHandles(before);
    const grown = rssPeak - rssStart;
    t.diagnostic(`RSS grew at most ${Math.round(grown / 1024 / 1024)} MiB`);
    assert.ok(grown < RSS_BUDGET, `RSS grew ${grown} bytes, over the ${RSS_BUDGET}-byte budget`);
  });
});
