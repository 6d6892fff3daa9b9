import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, OpError, SwitchboardError, type Datagram, type UdpDropSummary } from '../../src/index.ts';
import { deferred, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { echo, listenUdpLocal, roundTrip, udpClient, until, UdpTestClient } from './helpers/udp.ts';

/** Collects a server's `error` events. */
function collectErrors(server: { on(event: 'error', listener: (error: SwitchboardError) => void): unknown }): SwitchboardError[] {
  const errors: SwitchboardError[] = [];
  server.on('error', (error) => errors.push(error));
  return errors;
}

describe('UdpServer limits', () => {
  describe('maxDatagramSize', () => {
    it('drops a datagram larger than the limit unread and serves the next one', async (t) => {
      const seen: number[] = [];
      const server = await listenUdpLocal(t, { maxDatagramSize: 100 }, (datagram) => {
        seen.push(datagram.data.length);
        datagram.reply(datagram.data);
      });
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      await client.send(Buffer.alloc(101, 1), port, '127.0.0.1');
      // Loopback keeps order: once the next reply is back, the oversize one was handled.
      const reply = await roundTrip(client, Buffer.alloc(100, 2), port, '127.0.0.1');
      assert.equal(reply.data.length, 100);
      assert.deepEqual(seen, [100]);
      const stats = server.stats();
      assert.equal(stats.dropped['too-large'], 1);
      assert.deepEqual([stats.datagramsIn, stats.bytesIn, stats.accepted], [2, 201, 1]);
      assert.equal(client.pending, 0);
    });

    it('takes datagrams up to 65507 bytes when raised to the maximum', async (t) => {
      const server = await listenUdpLocal(t, { maxDatagramSize: 65535, rateLimit: { bytes: 1 << 20 } }, echo);
      const reply = await roundTrip(await udpClient(t), Buffer.alloc(65507, 7), server.addresses[0]!.port, '127.0.0.1');
      assert.equal(reply.data.length, 65507);
    });
  });

  describe('rate limit', () => {
    it("drops a source's datagrams beyond its budget without touching other sources", async (t) => {
      const server = await listenUdpLocal(t, { host: ['127.0.0.1'], rateLimit: { datagrams: 1 } }, echo);
      const port = server.addresses[0]!.port;
      const greedy = await udpClient(t);
      for (let i = 0; i < 10; i++) await greedy.send(`g${i}`, port, '127.0.0.1');
      await until(() => server.stats().datagramsIn === 10, 'ten datagrams to arrive');
      const { accepted, dropped } = server.stats();
      // A bucket holds one second's worth (1 datagram) and refills by 0.1 every 100 ms.
      assert.ok(accepted >= 1 && accepted <= 2, `accepted ${accepted}`);
      assert.equal(accepted + dropped['rate-limit'], 10);
      assert.equal((await greedy.next()).data.toString(), 'g0');

      const other = new UdpTestClient('udp4');
      t.after(() => other.close());
      await within(new Promise<void>((resolve) => other.socket.bind(0, '127.0.0.2', resolve)), 'binding 127.0.0.2');
      const reply = await roundTrip(other, 'fresh source', port, '127.0.0.1');
      assert.equal(reply.data.toString(), 'fresh source');
      assert.equal(server.stats().sources, 2);
    });

    it('limits bytes per second as well as datagrams', async (t) => {
      const server = await listenUdpLocal(t, { rateLimit: { datagrams: 0, bytes: 8192 } }, echo);
      const port = server.addresses[0]!.port;
      const client = await udpClient(t);
      await client.send(Buffer.alloc(8000), port, '127.0.0.1');
      await client.send(Buffer.alloc(8000), port, '127.0.0.1');
      await until(() => server.stats().datagramsIn === 2, 'two datagrams to arrive');
      assert.equal((await client.next()).data.length, 8000);
      assert.ok(server.stats().dropped['rate-limit'] <= 1);
      assert.equal(server.stats().accepted + server.stats().dropped['rate-limit'], 2);
    });

    it('applies no limit with rateLimit: false', async (t) => {
      const server = await listenUdpLocal(t, { rateLimit: false }, echo);
      const client = await udpClient(t);
      for (let i = 0; i < 50; i++) assert.equal((await roundTrip(client, `${i}`, server.addresses[0]!.port, '127.0.0.1')).data.toString(), `${i}`);
      assert.equal(server.stats().dropped['rate-limit'], 0);
      assert.equal(server.stats().sources, 0);
    });
  });

  describe('amplification', () => {
    it('refuses by default a reply larger than its request, and allows an equal one', async (t) => {
      const results: boolean[] = [];
      const server = await listenUdpLocal(t, {}, (datagram) => {
        results.push(datagram.reply(Buffer.concat([datagram.data, Buffer.from('!')])));
        results.push(datagram.reply(datagram.data));
      });
      const errors = collectErrors(server);
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      const reply = await roundTrip(client, 'abc', port, '127.0.0.1');
      assert.equal(reply.data.toString(), 'abc');
      assert.deepEqual(results, [false, true]);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof OpError);
      assert.equal(errors[0]!.code, ErrorCode.AMPLIFICATION_REFUSED);
      const clientPort = client.socket.address().port;
      assert.equal(
        errors[0]!.message,
        `send udp 127.0.0.1:${clientPort}: reply of 4 bytes refused: 3 more bytes allowed for a 3-byte request (maxAmplification, amplificationAllowance)`,
      );
      const stats = server.stats();
      assert.equal(stats.dropped.amplification, 1);
      await until(() => server.stats().datagramsOut === 1, 'the reply to complete');
      assert.equal(server.stats().bytesOut, 3);
    });

    it('counts every reply to one request against its limit', async (t) => {
      const results: boolean[] = [];
      const budgets: number[] = [];
      const server = await listenUdpLocal(t, {}, (datagram) => {
        budgets.push(datagram.replyBudget);
        results.push(datagram.reply(datagram.data.subarray(0, 2)));
        budgets.push(datagram.replyBudget);
        results.push(datagram.reply(datagram.data.subarray(0, 2)));
        results.push(datagram.reply(datagram.data.subarray(0, 1)));
      });
      collectErrors(server);
      const client = await udpClient(t);
      await client.send('abc', server.addresses[0]!.port, '127.0.0.1');
      assert.equal((await client.next()).data.toString(), 'ab');
      assert.equal((await client.next()).data.toString(), 'a');
      assert.deepEqual(results, [true, false, true]);
      assert.deepEqual(budgets, [3, 1]);
    });

    it('allows replies up to amplificationAllowance bytes, even to an empty request', async (t) => {
      const results: [number, boolean][] = [];
      const server = await listenUdpLocal(t, { amplificationAllowance: 512 }, (datagram) => {
        const size = Number(datagram.data.toString() || '512');
        results.push([size, datagram.reply(Buffer.alloc(size, 0x41))]);
      });
      collectErrors(server);
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      assert.equal((await roundTrip(client, '', port, '127.0.0.1')).data.length, 512);
      await client.send('513', port, '127.0.0.1');
      assert.equal((await roundTrip(client, '100', port, '127.0.0.1')).data.length, 100);
      assert.deepEqual(results, [[512, true], [513, false], [100, true]]);
    });

    it('scales the limit with maxAmplification, and Infinity turns the guard off', async (t) => {
      const triple = await listenUdpLocal(t, { maxAmplification: 3 }, (datagram) => {
        datagram.reply(Buffer.alloc(31));
        datagram.reply(Buffer.alloc(30));
      });
      collectErrors(triple);
      const client = await udpClient(t);
      assert.equal((await roundTrip(client, Buffer.alloc(10), triple.addresses[0]!.port, '127.0.0.1')).data.length, 30);
      assert.equal(triple.stats().dropped.amplification, 1);

      const open = await listenUdpLocal(t, { maxAmplification: Infinity }, (datagram) => void datagram.reply(Buffer.alloc(1000)));
      assert.equal((await roundTrip(client, '', open.addresses[0]!.port, '127.0.0.1')).data.length, 1000);
    });
  });

  describe('failures', () => {
    it('reports a send the kernel refuses (EMSGSIZE) for that reply only', async (t) => {
      const server = await listenUdpLocal(t, { maxAmplification: Infinity }, (datagram) => {
        datagram.reply(datagram.data.toString() === 'big' ? Buffer.alloc(70_000) : datagram.data);
      });
      const failed = deferred<SwitchboardError>();
      server.on('error', (error) => failed.resolve(error));
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      await client.send('big', port, '127.0.0.1');
      const error = await within(failed.promise, 'the send failure');
      assert.equal(error.code, ErrorCode.SEND_FAILED);
      assert.equal(error.message, `send udp 127.0.0.1:${client.socket.address().port}: message too long (EMSGSIZE)`);
      assert.equal((error as OpError).syscallCode, 'EMSGSIZE');
      assert.equal((await roundTrip(client, 'small', port, '127.0.0.1')).data.toString(), 'small');
      assert.equal(server.stats().dropped['send-failed'], 1);
    });

    it('drops only the datagram whose handler throws or rejects', async (t) => {
      const server = await listenUdpLocal(t, {}, async (datagram) => {
        const text = datagram.data.toString();
        if (text === 'throw') throw new Error('boom');
        if (text === 'reject') {
          await Promise.resolve();
          throw new Error('async boom');
        }
        datagram.reply(datagram.data);
      });
      const errors = collectErrors(server);
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      await client.send('throw', port, '127.0.0.1');
      await client.send('reject', port, '127.0.0.1');
      assert.equal((await roundTrip(client, 'fine', port, '127.0.0.1')).data.toString(), 'fine');
      await until(() => errors.length === 2, 'both failures to be reported');
      const from = `127.0.0.1:${client.socket.address().port}`;
      assert.deepEqual(
        errors.map((error) => [error.code, error.message, (error.cause as Error).message]),
        [
          [ErrorCode.HANDLER_FAILED, `udp message handler failed for a datagram from ${from}: boom`, 'boom'],
          [ErrorCode.HANDLER_FAILED, `udp message handler failed for a datagram from ${from}: async boom`, 'async boom'],
        ],
      );
      assert.equal(server.stats().dropped['handler-failed'], 2);
      assert.equal(server.state, 'listening');
    });

    it('drops a synchronous throw of a non-async handler too', async (t) => {
      const server = await listenUdpLocal(t, {}, {
        message(datagram: Datagram) {
          if (datagram.data.toString() === 'bad') throw new TypeError('bad input');
          datagram.reply(datagram.data);
        },
      });
      const errors = collectErrors(server);
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      await client.send('bad', port, '127.0.0.1');
      assert.equal((await roundTrip(client, 'good', port, '127.0.0.1')).data.toString(), 'good');
      assert.equal(errors.length, 1);
      assert.ok(errors[0]!.cause instanceof TypeError);
    });

    it('turns failures into at most one process warning per interval when nobody listens for error', async (t) => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning);
      process.on('warning', onWarning);
      t.after(() => process.off('warning', onWarning));
      const server = await listenUdpLocal(t, { dropReportInterval: 60_000 }, (datagram) => {
        if (datagram.data.toString() === 'x') throw new Error('nobody listens');
        datagram.reply(datagram.data);
      });
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      for (let i = 0; i < 3; i++) await client.send('x', port, '127.0.0.1');
      assert.equal((await roundTrip(client, 'ok', port, '127.0.0.1')).data.toString(), 'ok');
      // process.emitWarning delivers on the next tick.
      await until(() => warnings.length > 0, 'the warning');
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]!.message, `udp message handler failed for a datagram from 127.0.0.1:${client.socket.address().port}: nobody listens`);
      assert.equal(server.stats().dropped['handler-failed'], 3);
    });
  });

  describe('async style queue', () => {
    it('keeps at most maxQueuedDatagrams waiting and drops the rest as queue-full; close drops the unread', async (t) => {
      const server = await listenUdpLocal(t, { maxQueuedDatagrams: 2 });
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      for (let i = 0; i < 5; i++) await client.send(`${i}`, port, '127.0.0.1');
      await until(() => server.stats().datagramsIn === 5, 'five datagrams to arrive');
      assert.deepEqual(
        (({ accepted, queued, dropped }) => [accepted, queued, dropped['queue-full']])(server.stats()),
        [2, 2, 3],
      );
      const iterator = server[Symbol.asyncIterator]();
      const first = await within(iterator.next(), 'the first datagram');
      assert.equal((first.value as Datagram).data.toString(), '0');
      await server.close();
      const stats = server.stats();
      assert.deepEqual([stats.queued, stats.dropped.unread], [0, 1]);
      assert.deepEqual(await iterator.next(), { done: true, value: undefined });
    });
  });

  describe('drop report', () => {
    it('summarises drops in one event per interval, and flushes what is pending at close', async (t) => {
      const server = await listenUdpLocal(t, { maxDatagramSize: 10, dropReportInterval: 60_000 }, echo);
      const summaries: UdpDropSummary[] = [];
      const order: string[] = [];
      server.on('drop', (summary) => {
        summaries.push(summary);
        order.push('drop');
      });
      server.on('close', () => order.push('close'));
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      for (let i = 0; i < 3; i++) await client.send(Buffer.alloc(11), port, '127.0.0.1');
      await until(() => server.stats().datagramsIn === 3, 'three datagrams to arrive');
      assert.equal(summaries.length, 0, 'no summary before the interval ends');
      await server.close();
      assert.equal(summaries.length, 1);
      assert.equal(summaries[0]!.total, 3);
      assert.deepEqual(summaries[0]!.reasons, { 'too-large': 3 });
      assert.ok(summaries[0]!.durationMs >= 0);
      assert.deepEqual(order, ['drop', 'close']);
    });

    it('emits the summary when the interval ends', async (t) => {
      const server = await listenUdpLocal(t, { maxDatagramSize: 10, dropReportInterval: 20 }, echo);
      const summary = deferred<UdpDropSummary>();
      server.once('drop', (s) => summary.resolve(s));
      const client = await udpClient(t);
      await client.send(Buffer.alloc(11), server.addresses[0]!.port, '127.0.0.1');
      const first = await within(summary.promise, 'the drop summary');
      assert.deepEqual([first.total, first.reasons], [1, { 'too-large': 1 }]);
    });
  });

  describe('#stats', () => {
    it('keeps the ledger balanced across every outcome', async (t) => {
      const server = await listenUdpLocal(t, { maxDatagramSize: 20, rateLimit: { datagrams: 4, bytes: 1 << 16 } }, (datagram) => {
        if (datagram.data.toString() === 'throw') throw new Error('x');
        datagram.reply(datagram.data);
      });
      collectErrors(server);
      const client = await udpClient(t);
      const port = server.addresses[0]!.port;
      await client.send(Buffer.alloc(21), port, '127.0.0.1'); // too large, costs no token
      await client.send('throw', port, '127.0.0.1');
      await roundTrip(client, 'one', port, '127.0.0.1');
      await roundTrip(client, 'two', port, '127.0.0.1');
      for (let i = 0; i < 6; i++) await client.send('flood', port, '127.0.0.1');
      await until(() => server.stats().datagramsIn === 10, 'ten datagrams to arrive');
      await until(() => server.stats().pendingReplies === 0, 'replies to complete');
      await server.close();
      const stats = server.stats();
      assert.equal(stats.sockets, 0);
      assert.equal(stats.dropped['too-large'], 1);
      assert.equal(stats.dropped['handler-failed'], 1);
      assert.equal(stats.datagramsIn, stats.accepted + stats.dropped['too-large'] + stats.dropped['rate-limit'] + stats.dropped['queue-full']);
      assert.equal(stats.datagramsOut, stats.accepted - stats.dropped['handler-failed']);
      assert.equal(stats.bytesIn, 21 + 5 + 3 + 3 + 6 * 5);
      assert.ok(stats.dropped['rate-limit'] >= 1);
    });
  });
});
