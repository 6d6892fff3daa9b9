import assert from 'node:assert/strict';
import { AssertionError } from 'node:assert';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { CloseCause, ErrorCode, InvalidOptionError, createLengthFieldCodec, createLineCodec, framed, TcpServer, type CloseReason } from '../../src/index.ts';
import {
  assertLedgerBalanced,
  assertNoLeakedHandles,
  assertServerClean,
  listenLocal,
  listenLocalUdp,
  openNetworkHandles,
  registerCleanup,
  scriptedClient,
  type Cleanup,
} from '../../src/testing/index.ts';
import { deferred, until, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** A line server: `upper X` → `X` upper-cased, `bye` → `goodbye` then close, `flood N` → N lines. */
function lineServer(t: Parameters<typeof listenLocal>[0], closes?: CloseReason[]): Promise<TcpServer> {
  return listenLocal(t, {}, framed(() => createLineCodec({ maxLineLength: 64 }), {
    open(session) { session.send('hello'); },
    frame(session, line) {
      const [verb, ...rest] = line.split(' ');
      if (verb === 'upper') session.send(rest.join(' ').toUpperCase());
      else if (verb === 'bye') { session.send('goodbye'); session.end(); }
      else if (verb === 'flood') for (let i = 0; i < Number(rest[0]); i++) session.send(`line ${i} ${'x'.repeat(200)}`);
      else session.send(`? ${line}`);
    },
    close(_session, reason) { closes?.push(reason); },
  }, { onCodecError: () => 'too long' }));
}

/** A runner's context that only records what is registered, to call it by hand. */
function recorder(): { hooks: Cleanup[]; run(): Promise<void> } {
  const hooks: Cleanup[] = [];
  return { hooks, run: async () => { for (const hook of hooks.splice(0)) await hook(); } };
}

describe('switchboard/testing', () => {
  describe('registerCleanup', () => {
    it('takes node:test\'s t.after, a Vitest-style context (onTestFinished) and a registering function (afterEach)', () => {
      const seen: string[] = [];
      registerCleanup({ after: (fn: Cleanup) => { seen.push('after'); void fn; } }, () => {});
      registerCleanup({ onTestFinished: (fn: Cleanup) => { seen.push('onTestFinished'); void fn; } }, () => {});
      registerCleanup((fn: Cleanup) => { seen.push('function'); void fn; }, () => {});
      assert.deepEqual(seen, ['after', 'onTestFinished', 'function']);
    });

    it('refuses anything else with SWB_ERR_INVALID_OPTION', () => {
      assert.throws(() => registerCleanup({} as never, () => {}), (error: unknown) => error instanceof InvalidOptionError && error.code === ErrorCode.INVALID_OPTION && /onTestFinished/.test(error.message));
    });
  });

  describe('listenLocal', () => {
    it('listens on 127.0.0.1 port 0 and destroys the server when the context\'s cleanup runs (Vitest onTestFinished shape)', async () => {
      const context = recorder();
      const server = await listenLocal({ onTestFinished: (fn: Cleanup) => context.hooks.push(fn) }, {}, { data(session, chunk) { session.write(chunk); } });
      assert.equal(server.addresses[0]!.address, '127.0.0.1');
      assert.notEqual(server.addresses[0]!.port, 0);
      assert.equal(context.hooks.length, 1);
      await context.run();
      assert.equal(server.state, 'closed');
    });

    it('listens on ::1 when asked, and UDP too (listenLocalUdp)', async (t) => {
      const server = await listenLocal(t, { host: '::1' });
      assert.equal(server.addresses[0]!.address, '::1');
      const udp = await listenLocalUdp(t, {}, { message(datagram) { datagram.reply(datagram.data); } });
      assert.equal(udp.addresses[0]!.address, '127.0.0.1');
    });
  });

  describe('scriptedClient', () => {
    it('sends and expects lines (text or RegExp) and the close', async (t) => {
      const server = await lineServer(t);
      const client = await scriptedClient(t, server);
      await client.expect('hello');
      client.send('upper shout', 'upper again');
      await client.expect('SHOUT');
      await client.expect(/^AG/);
      client.send('bye');
      await client.expect('goodbye');
      const reason = await client.expectClose(CloseCause.PEER_END);
      assert.equal(reason.error, undefined);
    });

    it('a failing expect says which frame arrived instead, and what followed', async (t) => {
      const server = await lineServer(t);
      const client = await scriptedClient(t, server);
      client.send('upper one', 'upper two');
      await client.expect('hello');
      await until(() => client.unread.length === 2, 'both replies');
      await assert.rejects(client.expect('TWO'), (error: unknown) => {
        assert.ok(error instanceof AssertionError);
        assert.equal(error.message, "expected 'TWO', but received 'ONE', then 'TWO'");
        return true;
      });
    });

    it('a failing expect reports nothing arrived within the timeout, with the bytes of an unfinished frame', async (t) => {
      const server = await listenLocal(t, {}, { data(session) { session.write('partial'); } });
      const client = await scriptedClient(t, server, { expectTimeout: 100 });
      client.sendRaw('go');
      await until(() => client.session.codec.pendingBytes === 7, 'the partial line to arrive');
      await assert.rejects(client.expect('partial'), { name: 'AssertionError', message: "expected 'partial', but nothing arrived within 100 ms; 7 bytes of an unfinished frame arrived" });
    });

    it('a failing expect reports the close and its reason', async (t) => {
      const server = await listenLocal(t, {}, { open(session) { session.write('last\n'); session.end(); } });
      const client = await scriptedClient(t, server);
      await client.expect('last');
      await assert.rejects(client.expect('more'), { name: 'AssertionError', message: "expected 'more', but the connection closed (peer-end) with nothing more received" });
    });

    it('expectClose fails naming the actual reason and the frames never expected, or that it is still open', async (t) => {
      const server = await lineServer(t);
      const open = await scriptedClient(t, server, { expectTimeout: 50 });
      await open.expect('hello');
      open.send('upper x');
      await until(() => open.unread.length === 1, 'the reply');
      await assert.rejects(open.expectClose('peer-end'), { message: "expected the connection to close (peer-end), but it is still open after 50 ms; received instead: 'X'" });
      const reset = await scriptedClient(t, await listenLocal(t, {}, { open(session) { session.write('hi\n'); setImmediate(() => session.destroy()); } }));
      await until(() => reset.unread.length === 1, 'the greeting');
      await assert.rejects(reset.expectClose({ cause: 'local-end' }), (error: unknown) => {
        assert.ok(error instanceof AssertionError);
        assert.match(error.message, /^expected the connection to close \(local-end\), but it closed \(peer-(end|reset)[^)]*\); received and never expected: 'hi'$/);
        return true;
      });
    });

    it('speaks length-field protocols: Buffers in and out, compared by bytes', async (t) => {
      const server = await listenLocal(t, {}, framed(() => createLengthFieldCodec(), {
        frame(session, payload) { session.send(Buffer.from(payload).reverse()); },
      }));
      const client = await scriptedClient(t, server, { codec: 'length' });
      client.send(Buffer.from('abc'));
      const reply = await client.expect(Buffer.from('cba'));
      assert.ok(Buffer.isBuffer(reply));
      client.send(Buffer.from('xyz'));
      await assert.rejects(client.expect(Buffer.from('xyz')), { message: 'expected <3 bytes 78797a>, but received <3 bytes 7a7978>' });
    });
  });

  describe('fault injection', () => {
    it('sendInSplits: the server gets every frame whole, however the bytes were cut (seed reported, replayable)', async (t) => {
      const frames: string[] = [];
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), { frame(session, line) { frames.push(line); session.send(`ok ${line}`); } }));
      const client = await scriptedClient(t, server);
      const lines = ['first line', 'zweite Zeile — ünïcode', 'third'];
      const split = await client.sendInSplits(lines, { seed: 7, maxPieces: 12 });
      assert.equal(split.seed, 7);
      assert.ok(split.pieces.length > 1, `cut into pieces: ${split.pieces}`);
      assert.equal(split.pieces.reduce((a, b) => a + b, 0), Buffer.byteLength(lines.join('\n') + '\n'));
      for (const line of lines) await client.expect(`ok ${line}`);
      assert.deepEqual(frames, lines);
      const again = await (await scriptedClient(t, server)).sendInSplits(lines, { seed: 7, maxPieces: 12 });
      assert.deepEqual(again.pieces, split.pieces, 'the same seed cuts the same way');
    });

    it('reset: the server\'s session closes with peer-reset', async (t) => {
      const closed = deferred<CloseReason>();
      const server = await listenLocal(t, {}, { open(session) { session.write('hi\n'); }, close(_session, reason) { closed.resolve(reason); } });
      const client = await scriptedClient(t, server);
      await client.expect('hi');
      assert.equal((await client.reset()).cause, CloseCause.LOCAL_DESTROY);
      const reason = await within(closed.promise, 'the server session to close');
      assert.equal(reason.cause, CloseCause.PEER_RESET);
      assert.equal(reason.error?.code, ErrorCode.CONNECTION_RESET);
    });

    it('halfClose: the server sees end of input and can still answer before closing', async (t) => {
      const server = await listenLocal(t, {}, framed(() => createLineCodec(), {
        frame(session, line) { session.send(`got ${line}`); },
        end(session) { session.send('bye'); session.end(); },
      }));
      const client = await scriptedClient(t, server);
      client.send('a').halfClose();
      await client.expect('got a');
      await client.expect('bye');
      await client.expectClose(CloseCause.LOCAL_END);
    });

    it('stall: output backs up on the server until its maxBufferedOutput closes the session; resume reads again', async (t) => {
      const closes: CloseReason[] = [];
      const server = await listenLocal(t, { maxBufferedOutput: 64 * 1024 }, framed(() => createLineCodec(), {
        frame(session) { for (let i = 0; i < 64 && session.state === 'open'; i++) session.write(Buffer.alloc(1 << 20, 'y')); },
        close(_session, reason) { closes.push(reason); },
      }));
      const client = await scriptedClient(t, server);
      client.stall().send('go');
      await until(() => closes.length === 1, 'the server to give up on the stalled reader');
      assert.equal(closes[0]!.error?.code, ErrorCode.OUTPUT_OVERFLOW);
      client.resume();
      await client.expectClose();
    });

    it('slowRead: at most one read per interval, so a burst takes several intervals to arrive', async (t) => {
      const server = await lineServer(t);
      const client = await scriptedClient(t, server, { expectTimeout: 5000 });
      await client.expect('hello');
      client.slowRead({ interval: 40 });
      const started = performance.now();
      client.send('upper a');
      await client.expect('A');
      client.send('upper b');
      await client.expect('B');
      client.send('upper c');
      await client.expect('C');
      assert.ok(performance.now() - started >= 80, 'each read after the first waited an interval');
      client.resume();
    });
  });

  describe('ledger and leaks', () => {
    it('assertServerClean passes after a closed server whose connections all closed', async (t) => {
      const baseline = openNetworkHandles();
      const server = await lineServer(t);
      const client = await scriptedClient(t, server);
      client.send('bye');
      await client.expect('hello');
      await client.expect('goodbye');
      await client.expectClose('peer-end');
      assertLedgerBalanced(server);
      await server.close();
      await assertServerClean(server, baseline);
    });

    it('assertServerClean refuses a server still listening, and assertNoLeakedHandles names what stayed open', async (t) => {
      const baseline = openNetworkHandles();
      const server = await lineServer(t);
      await assert.rejects(assertServerClean(server, baseline), { name: 'AssertionError', message: 'the server is listening, not closed: close it before checking it left nothing behind' });
      const stray = connect({ host: '127.0.0.1', port: server.addresses[0]!.port });
      t.after(() => void stray.destroy());
      await assert.rejects(assertNoLeakedHandles(baseline, { timeout: 50 }), (error: unknown) => error instanceof AssertionError && /^leaked network handles: before \[.*\], after \[.*"TCPSocketWrap".*\]$/.test(error.message));
    });

    it('assertLedgerBalanced names an identity that does not hold', () => {
      const stats = { listeners: 0, sessions: 1, pending: 0, accepted: 3, closed: 1, rejected: 0, rejectedBy: {}, bytesIn: 0, bytesOut: 0 };
      // The class's prototype, so `instanceof TcpServer` holds, with a ledger made up to be off by one.
      const server = Object.create(TcpServer.prototype, { stats: { value: () => stats }, state: { value: 'listening' } }) as TcpServer;
      assert.throws(() => assertLedgerBalanced(server), { name: 'AssertionError', message: /^TCP server ledger does not balance: accepted 3 ≠ closed 1 \+ sessions 1 \+ pending 0; stats / });
    });
  });
});
