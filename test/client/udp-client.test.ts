import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, OpError, UdpClient, connectUdp, type Datagram } from '../../src/index.ts';
import { closedPort } from './peers.ts';
import { listenLocalUdp } from '../../src/testing/index.ts';
import { within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

const FAMILIES = [
  { name: 'IPv4', host: '127.0.0.1', shown: '127.0.0.1', connected: true },
  { name: 'IPv6', host: '::1', shown: '[::1]', connected: false },
] as const;

describe('connectUdp', () => {
  for (const family of FAMILIES) {
    describe(`over ${family.name}`, () => {
      it(`request() resolves with the server's reply (${family.connected ? 'a connected socket' : 'an unconnected socket with a source check'})`, async (t) => {
        const server = await listenLocalUdp(t, { host: family.host }, { message(datagram) { datagram.reply(`re: ${datagram.data}`); } });
        await using client = await connectUdp({ host: family.host, port: server.addresses[0]!.port });
        assert.ok(client instanceof UdpClient);
        assert.equal(client.connected, family.connected);
        assert.equal(client.remoteFamily, family.name);
        assert.equal((await client.request('one')).toString(), 're: one');
        assert.equal((await client.request(Buffer.from('two'))).toString(), 're: two');
        assert.deepEqual(client.stats(), { requests: 2, datagramsOut: 2, replies: 2, ignored: 0 });
      });

      it('retries on an exponential back-off until a reply comes', async (t) => {
        const arrivals: number[] = [];
        const server = await listenLocalUdp(t, { host: family.host }, {
          message(datagram: Datagram) {
            arrivals.push(performance.now());
            if (arrivals.length === 3) datagram.reply('at last'); // the first two attempts go unanswered
          },
        });
        await using client = await connectUdp({ host: family.host, port: server.addresses[0]!.port });
        const reply = await client.request('hello?', { timeout: 40, retries: 3 });
        assert.equal(reply.toString(), 'at last');
        assert.equal(arrivals.length, 3);
        // The schedule itself (40, 80, 160 ms…) is what the no-reply test's message totals; timing gates nothing here.
        assert.deepEqual(client.stats(), { requests: 1, datagramsOut: 3, replies: 1, ignored: 0 });
      });

      it(`no reply at all: request udp ${family.shown}:PORT: no reply after 3 attempts, SWB_ERR_REQUEST_TIMEOUT`, async (t) => {
        const server = await listenLocalUdp(t, { host: family.host }, { message() {} });
        const port = server.addresses[0]!.port;
        await using client = await connectUdp({ host: family.host, port });
        await assert.rejects(client.request('anyone?', { timeout: 20, retries: 2, backoff: 1.5 }), (error: unknown) => {
          assert.ok(error instanceof OpError);
          assert.equal(error.code, ErrorCode.REQUEST_TIMEOUT);
          assert.equal(error.message, `request udp ${family.shown}:${port}: no reply after 3 attempts (95 ms)`);
          return true;
        });
        assert.equal(client.stats().datagramsOut, 3);
      });
    });
  }

  it('IPv4, connected: the ICMP port unreachable of a closed port rejects at once with SWB_ERR_CONNECTION_REFUSED', async () => {
    const port = await closedPort('udp', '127.0.0.1');
    await using client = await connectUdp({ host: '127.0.0.1', port });
    await assert.rejects(within(client.request('x', { timeout: 5000 }), 'the refusal', 2000), {
      code: ErrorCode.CONNECTION_REFUSED,
      message: `request udp 127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    });
  });

  it('a reply `match` refuses is ignored (counted), and a later matching one resolves', async (t) => {
    const server = await listenLocalUdp(t, {}, { message(datagram) { datagram.reply('stale'); datagram.reply(`id=${datagram.data}`); } });
    await using client = await connectUdp({ host: '127.0.0.1', port: server.addresses[0]!.port });
    const reply = await client.request('7', { match: (answer, request) => answer.toString() === `id=${request}` });
    assert.equal(reply.toString(), 'id=7');
    assert.equal(client.stats().ignored, 1);
  });

  it('requests queue: each gets its own reply, in order', async (t) => {
    const server = await listenLocalUdp(t, {}, { message(datagram) { datagram.reply(datagram.data.toString().toUpperCase()); } });
    await using client = await connectUdp({ host: '127.0.0.1', port: server.addresses[0]!.port });
    const replies = await Promise.all(['a', 'b', 'c'].map((text) => client.request(text)));
    assert.deepEqual(replies.map(String), ['A', 'B', 'C']);
  });

  it('close() rejects the request waiting, and later ones, with SWB_ERR_SESSION_CLOSED; abort rejects one request only', async (t) => {
    const server = await listenLocalUdp(t, {}, { message() {} });
    const client = await connectUdp({ host: '127.0.0.1', port: server.addresses[0]!.port });
    const controller = new AbortController();
    const aborted = client.request('x', { timeout: 5000, signal: controller.signal });
    controller.abort(new Error('enough'));
    await assert.rejects(aborted, { message: 'enough' });
    const waiting = client.request('y', { timeout: 5000 });
    await client.close();
    await assert.rejects(waiting, { code: ErrorCode.SESSION_CLOSED });
    await assert.rejects(client.request('z'), { code: ErrorCode.SESSION_CLOSED });
    await client.close(); // idempotent
  });

  it('checks its options', async () => {
    assert.throws(() => connectUdp({ port: 70000 }), { code: ErrorCode.INVALID_OPTION, message: '`port` must be an integer from 1 to 65535, got 70000' });
    assert.throws(() => connectUdp({ port: 7, conect: false } as never), { code: ErrorCode.INVALID_OPTION, message: 'unknown option "conect" (did you mean "connect"?)' });
    await using client = await connectUdp({ host: '127.0.0.1', port: 9 });
    await assert.rejects(client.request('x', { timeout: 0 }), { code: ErrorCode.INVALID_OPTION });
    await assert.rejects(client.request('x', { retries: -1 }), { code: ErrorCode.INVALID_OPTION });
  });
});
