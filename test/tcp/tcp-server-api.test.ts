/**
 * The TCP server's public surface after the symmetric-API rename: refusals by cause (with the
 * error behind them), the `empty` event, no `reuseAddress`, per-session socket settings, and a
 * server typed by the sessions its handler serves.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import {
  CloseCause,
  ErrorCode,
  InvalidOptionError,
  RejectCause,
  TcpServer,
  createLineCodec,
  framed,
  listenTcp,
  type AsyncSession,
  type EventSession,
  type FramedAsyncSession,
  type FrameInput,
  type FramedEventSession,
  type RejectedConnection,
  type TcpServerOptions,
  type TcpSession,
} from '../../src/index.ts';
import { connectClient, deferred, hasSs, listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_proof?: T): void {}

describe('TcpServer', () => {
  describe('rejected', () => {
    it('carries the cause, and the accept handler failure as its error', async (t) => {
      const server = await listenLocal(t, {}, {
        accept() {
          throw new Error('no database');
        },
      });
      server.on('error', () => {}); // the failure is also reported here
      const rejected = new Promise<RejectedConnection>((resolve) => server.once('rejected', resolve));
      const client = await connectClient(t, server.addresses[0]!.port);
      const rejection = await within(rejected, 'the rejected event');
      await within(client.closed, 'the refused connection to close');
      assert.equal(rejection.cause, RejectCause.ACCEPT_HOOK);
      assert.equal(rejection.error?.code, ErrorCode.HANDLER_FAILED);
      assert.match(rejection.error!.message, /^accept handler failed for 127\.0\.0\.1:\d+: no database$/);
      assert.ok(!('reason' in rejection));
    });

    it('has no error when a rule refused the connection', async (t) => {
      const server = await listenLocal(t, { deny: ['127.0.0.1'] }, { data() {} });
      const rejected = once(server, 'rejected') as Promise<[RejectedConnection]>;
      await connectClient(t, server.addresses[0]!.port);
      const [rejection] = await within(rejected, 'the rejected event');
      assert.deepEqual([rejection.cause, rejection.error], [RejectCause.DENIED, undefined]);
    });
  });

  describe('#stats', () => {
    it('counts refusals by cause', async (t) => {
      const server = await listenLocal(t, { maxConnections: 1 }, { data() {} });
      const port = server.addresses[0]!.port;
      const opened = once(server, 'session');
      await connectClient(t, port);
      await within(opened, 'the first session');
      const refusals: RejectedConnection[] = [];
      const twoRefused = deferred();
      server.on('rejected', (rejection) => {
        refusals.push(rejection);
        if (refusals.length === 2) twoRefused.resolve();
      });
      await connectClient(t, port);
      await connectClient(t, port);
      await within(twoRefused.promise, 'two refusals');
      server.suspend();
      const third = once(server, 'rejected');
      await connectClient(t, port);
      await within(third, 'the refusal while suspended');
      const stats = server.stats();
      assert.equal(stats.rejected, 3);
      assert.equal(stats.rejectedBy[RejectCause.MAX_CONNECTIONS], 2);
      assert.equal(stats.rejectedBy[RejectCause.SUSPENDED], 1);
      assert.equal(Object.values(stats.rejectedBy).reduce((sum, count) => sum + count, 0), stats.rejected);
      assert.deepEqual(Object.keys(stats.rejectedBy).sort(), Object.values(RejectCause).sort(), 'every cause has a count');
    });
  });

  describe('empty', () => {
    it('is emitted when the last session closes, and there is no `idle` event', async (t) => {
      const server = await listenLocal(t, {}, { data() {} });
      let idleEvents = 0;
      (server as unknown as NodeJS.EventEmitter).on('idle', () => idleEvents++);
      const empty = once(server, 'empty');
      const opened = once(server, 'session');
      const client = await connectClient(t, server.addresses[0]!.port);
      await within(opened, 'the session');
      await client.close();
      await within(empty, 'the empty event');
      assert.equal(server.stats().sessions, 0);
      assert.equal(idleEvents, 0);
    });
  });

  describe('options', () => {
    it('refuses reuseAddress, which TCP does not offer, pointing to the docs', () => {
      assert.throws(() => new TcpServer({ reuseAddress: true } as TcpServerOptions), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.option, 'reuseAddress');
        assert.match(error.message, /is not a TCP option: SO_REUSEADDR is always on .*docs\/addresses\.md/);
        return true;
      });
    });
  });
});

describe('TcpSession', () => {
  describe('#setIdleTimeout', () => {
    it('times out one session of a server without an idle timeout', async (t) => {
      const closed = deferred<[number, string]>();
      const server = await listenLocal(t, { idleTimeout: 0 }, {
        open(session) {
          if (session.id === 1) assert.equal(session.setIdleTimeout(80), session);
        },
        close(session, reason) {
          closed.resolve([session.id, reason.cause]);
        },
      });
      const first = await connectClient(t, server.addresses[0]!.port);
      const second = await connectClient(t, server.addresses[0]!.port);
      assert.deepEqual(await within(closed.promise, 'the idle session to close'), [1, CloseCause.IDLE_TIMEOUT]);
      await within(first.closed, 'the peer to see it');
      assert.equal(second.socket.destroyed, false, 'the other session keeps the server default (no timeout)');
      assert.equal([...server.sessions()][0]!.idleTimeout, 0);
    });

    it('exempts one session from the server idle timeout', async (t) => {
      const closes: number[] = [];
      const secondClosed = deferred();
      const server = await listenLocal(t, { idleTimeout: 60 }, {
        open(session) {
          if (session.id === 1) session.setIdleTimeout(0);
        },
        close(session) {
          closes.push(session.id);
          if (session.id === 2) secondClosed.resolve();
        },
      });
      await connectClient(t, server.addresses[0]!.port);
      await connectClient(t, server.addresses[0]!.port);
      await within(secondClosed.promise, 'the second session to time out');
      assert.deepEqual(closes, [2]);
      assert.equal(server.stats().sessions, 1);
    });

    it('refuses a value that is not a duration', async (t) => {
      const checked = deferred<unknown[]>();
      const server = await listenLocal(t, {}, {
        open(session) {
          const errors: unknown[] = [];
          for (const bad of [-1, Number.NaN, '5', undefined]) {
            try {
              session.setIdleTimeout(bad as number);
            } catch (error) {
              errors.push(error);
            }
          }
          checked.resolve(errors);
        },
      });
      await connectClient(t, server.addresses[0]!.port);
      const errors = await within(checked.promise, 'the checks');
      assert.equal(errors.length, 4);
      for (const error of errors) assert.ok(error instanceof InvalidOptionError && error.option === 'idleTimeout');
    });
  });

  describe('#setNoDelay and #setKeepAlive', () => {
    it('apply to the session socket and return the session', { skip: !hasSs && 'ss is not installed' }, async (t) => {
      const applied = deferred<EventSession>();
      const server = await listenLocal(t, {}, {
        open(session) {
          assert.equal(session.setNoDelay(), session);
          assert.equal(session.setNoDelay(false), session);
          assert.equal(session.setKeepAlive(true, 90_000), session);
          applied.resolve(session);
        },
      });
      const port = server.addresses[0]!.port;
      const client = await connectClient(t, port);
      await within(applied.promise, 'the settings');
      const clientPort = client.socket.localPort!;
      const out = execFileSync('ss', ['-tanoH', 'state', 'established', `( sport = :${port} and dport = :${clientPort} )`], { encoding: 'utf8' });
      assert.match(out, /timer:\(keepalive,/, `SO_KEEPALIVE is on: ${out}`);
    });

    it('refuse values of the wrong type', async (t) => {
      const checked = deferred<unknown[]>();
      const server = await listenLocal(t, {}, {
        open(session) {
          const errors: unknown[] = [];
          const attempts = [() => session.setNoDelay('yes' as unknown as boolean), () => session.setKeepAlive(1 as unknown as boolean), () => session.setKeepAlive(true, -5)];
          for (const attempt of attempts) {
            try {
              attempt();
            } catch (error) {
              errors.push(error);
            }
          }
          checked.resolve(errors);
        },
      });
      await connectClient(t, server.addresses[0]!.port);
      const errors = await within(checked.promise, 'the checks');
      assert.deepEqual(errors.map((error) => (error as InvalidOptionError).option), ['noDelay', 'keepAlive', 'keepAliveInitialDelay']);
    });
  });
});

describe('TcpServer<S>', () => {
  it('is typed by the sessions its handler serves, framed ones included', async (t) => {
    const events = await listenTcp({ host: '127.0.0.1' }, { data(session, chunk) { session.write(chunk); } });
    const functions = await listenTcp({ host: '127.0.0.1' }, async (session) => void (await session.read()));
    const iterated = await listenTcp({ host: '127.0.0.1' });
    const lines = await listenTcp({ host: '127.0.0.1' }, framed(() => createLineCodec(), { frame(session, line) { session.send(line); } }));
    const lineLoop = await listenTcp({ host: '127.0.0.1' }, framed(() => createLineCodec(), async (session) => void (await session.readFrame())));
    const servers = [events, functions, iterated, lines, lineLoop];
    t.after(() => Promise.all(servers.map((server) => server.destroy())));
    assertType<Equal<typeof events, TcpServer<EventSession>>>();
    assertType<Equal<typeof functions, TcpServer<AsyncSession>>>();
    assertType<Equal<typeof iterated, TcpServer<AsyncSession>>>();
    assertType<Equal<typeof lines, TcpServer<FramedEventSession<FrameInput, string>>>>();
    assertType<Equal<typeof lineLoop, TcpServer<FramedAsyncSession<FrameInput, string>>>>();
    const opened = once(lines, 'session') as Promise<[FramedEventSession<FrameInput, string>]>;
    lines.on('session', (session) => assertType<Equal<typeof session, FramedEventSession<FrameInput, string>>>());
    await connectClient(t, lines.addresses[0]!.port);
    const [session] = await within(opened, 'the framed session');
    for (const open of lines.sessions()) assertType<Equal<typeof open, FramedEventSession<FrameInput, string>>>();
    assert.equal(typeof session.send, 'function', 'sessions() and the session event give the framed session, no cast');
    const plain: TcpServer = new TcpServer({ host: '127.0.0.1' });
    assertType<Equal<ReturnType<typeof plain.sessions> extends IterableIterator<infer S> ? S : never, TcpSession>>();
  });
});
