/**
 * The pending stage: every accepted socket is the server's from the `connection` event until it
 * closes, whether it becomes a session, waits on the `accept` hook, or is refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, RejectCause, TcpServer, createLineCodec, framed, type ConnectionInfo, type RejectedConnection } from '../../src/index.ts';
import { echo } from './admission-helpers.ts';
import { connectClient, deferred, listenLocal, within, WAIT_MS } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

/** An `accept` hook whose answers the test gives, one connection at a time. */
function heldHook(): {
  accept(info: ConnectionInfo, signal: AbortSignal): Promise<boolean>;
  asked: ConnectionInfo[];
  signals: AbortSignal[];
  answer(index: number, verdict: boolean): void;
  next(): Promise<number>;
} {
  const asked: ConnectionInfo[] = [];
  const signals: AbortSignal[] = [];
  const answers: ((verdict: boolean) => void)[] = [];
  let waiters: (() => void)[] = [];
  let expected = 0;
  return {
    asked,
    signals,
    accept(info, signal) {
      asked.push(info);
      signals.push(signal);
      const wake = waiters;
      waiters = [];
      for (const resolve of wake) resolve();
      return new Promise<boolean>((resolve) => answers.push(resolve));
    },
    answer(index, verdict) {
      answers[index]!(verdict);
    },
    /** Resolves once the hook has been asked once more than the previous `next()` saw. */
    async next() {
      const target = ++expected;
      while (asked.length < target) await within(new Promise<void>((resolve) => waiters.push(resolve)), 'the accept hook to be asked');
      return target;
    },
  };
}

/** Every `rejected` event, and a wait for the next ones. */
function rejections(server: TcpServer): { list: RejectedConnection[]; until(count: number): Promise<RejectedConnection[]> } {
  const list: RejectedConnection[] = [];
  let waiters: (() => void)[] = [];
  server.on('rejected', (rejection) => {
    list.push(rejection);
    const wake = waiters;
    waiters = [];
    for (const resolve of wake) resolve();
  });
  return {
    list,
    async until(count) {
      while (list.length < count) await within(new Promise<void>((resolve) => waiters.push(resolve)), `${count} rejected events`);
      return list;
    },
  };
}

/** A client that may be refused at once: a reset or a refusal does not fail the test. */
function rawClient(t: { after(fn: () => unknown): void }, port: number, localAddress?: string): { socket: Socket; closed: Promise<boolean> } {
  const socket = connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  return { socket, closed: new Promise<boolean>((resolve) => socket.once('close', resolve)) };
}

function assertBalanced(server: TcpServer): void {
  const stats = server.stats();
  assert.equal(stats.listeners, 0, 'listeners');
  assert.equal(stats.sessions, 0, 'sessions');
  assert.equal(stats.pending, 0, 'pending');
  assert.equal(stats.accepted, stats.closed, `accepted (${stats.accepted}) = closed (${stats.closed})`);
}

describe('TcpServer pending stage', () => {
  describe('an accept hook that never answers', () => {
    it('does not hold up destroy(): the pending socket is destroyed and counted closed', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, {}, { ...echo, accept: hook.accept });
      const client = await connectClient(t, server.addresses[0]!.port);
      await hook.next();
      assert.equal(server.stats().pending, 1);
      await within(server.destroy(), 'destroy() with a hook pending');
      await within(client.closed, 'the pending client to be closed');
      assert.equal(hook.signals[0]!.aborted, true, 'the hook was told to stop');
      assertBalanced(server);
    });

    it('does not hold up close({ timeout }): the pending socket is refused with closing', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, {}, { ...echo, accept: hook.accept });
      const refused = rejections(server);
      const client = await connectClient(t, server.addresses[0]!.port);
      await hook.next();
      await within(server.close({ timeout: 60_000 }), 'close() with a hook pending');
      await within(client.closed, 'the pending client to be closed');
      assert.deepEqual(refused.list.map((rejection) => rejection.cause), [RejectCause.CLOSING]);
      assertBalanced(server);
    });

    it('closes every pending socket even when a rejected listener throws during close()', async (t) => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning);
      process.on('warning', onWarning);
      t.after(() => process.off('warning', onWarning));
      const hook = heldHook();
      const server = await listenLocal(t, {}, { ...echo, accept: hook.accept });
      server.on('rejected', () => {
        throw new Error('boom in a rejected listener');
      });
      const clients = [await connectClient(t, server.addresses[0]!.port), await connectClient(t, server.addresses[0]!.port)];
      await hook.next();
      await hook.next();
      await within(server.close(), 'close() with a throwing rejected listener');
      await within(Promise.all(clients.map((client) => client.closed)), 'both pending clients to be closed');
      await within(new Promise((resolve) => setImmediate(resolve)), 'a turn for warnings');
      assert.equal(warnings.filter((warning) => /`rejected` listener threw/.test(warning.message)).length, 2);
      assert.equal(server.stats().rejected, 2);
      assertBalanced(server);
    });

    it('is refused after acceptTimeout with reason accept-timeout, and the hook is told to stop', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, { acceptTimeout: 50 }, { ...echo, accept: hook.accept });
      const refused = rejections(server);
      const client = await connectClient(t, server.addresses[0]!.port);
      await hook.next();
      const [rejection] = await refused.until(1);
      assert.equal(rejection!.cause, RejectCause.ACCEPT_TIMEOUT);
      assert.equal(rejection!.info.remoteAddress, '127.0.0.1');
      await within(client.closed, 'the timed-out client to be closed');
      assert.equal(hook.signals[0]!.aborted, true);
      hook.answer(0, true); // a late answer changes nothing
      await within(server.close(), 'close');
      assert.equal(server.stats().rejected, 1);
      assertBalanced(server);
    });
  });

  describe('framed handlers', () => {
    it('pass the signal to their accept handler too', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, { acceptTimeout: 20 }, framed(() => createLineCodec(), { accept: hook.accept }));
      const refused = rejections(server);
      await connectClient(t, server.addresses[0]!.port);
      await hook.next();
      assert.equal((await refused.until(1))[0]!.cause, RejectCause.ACCEPT_TIMEOUT);
      assert.equal(hook.signals[0]!.aborted, true);
    });
  });

  describe('limits', () => {
    it('counts pending sockets against maxConnections', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, { maxConnections: 2 }, { ...echo, accept: hook.accept });
      const refused = rejections(server);
      const port = server.addresses[0]!.port;
      await connectClient(t, port);
      await hook.next();
      await connectClient(t, port);
      await hook.next();
      const extra = [rawClient(t, port), rawClient(t, port), rawClient(t, port)];
      await refused.until(3);
      assert.deepEqual(refused.list.map((rejection) => rejection.cause), Array(3).fill(RejectCause.MAX_CONNECTIONS));
      await within(Promise.all(extra.map((client) => client.closed)), 'the refused clients to close');
      assert.equal(hook.asked.length, 2, 'the hook is not asked about connections over the limit');
      assert.equal(server.stats().pending, 2);
      // An answered hook opens its session in the slot it held.
      hook.answer(0, true);
      await within(once(server, 'session'), 'the first session');
      assert.equal(server.stats().sessions, 1);
      assert.equal(server.stats().pending, 1);
    });

    it('counts pending sockets against maxConnectionsPerAddress, and gives the slot back when the hook refuses', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, { maxConnectionsPerAddress: 1 }, { ...echo, accept: hook.accept });
      const refused = rejections(server);
      const port = server.addresses[0]!.port;
      await connectClient(t, port, '127.0.0.1', { localAddress: '127.0.0.2' });
      await hook.next();
      rawClient(t, port, '127.0.0.2');
      assert.equal((await refused.until(1))[0]!.cause, RejectCause.MAX_CONNECTIONS_PER_ADDRESS);
      await connectClient(t, port, '127.0.0.1', { localAddress: '127.0.0.3' }); // another address is welcome
      await hook.next();
      hook.answer(0, false);
      assert.equal((await refused.until(2))[1]!.cause, RejectCause.ACCEPT_HOOK);
      await connectClient(t, port, '127.0.0.1', { localAddress: '127.0.0.2' });
      await hook.next();
      assert.equal(hook.asked.length, 3, 'the refused connection gave its slot back');
    });

    it('refuses a pending connection with suspended when suspend() came while the hook decided', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, { busyMessage: '421 busy\r\n' }, { ...echo, accept: hook.accept });
      const refused = rejections(server);
      const client = await connectClient(t, server.addresses[0]!.port);
      await hook.next();
      server.suspend();
      hook.answer(0, true);
      assert.equal((await refused.until(1))[0]!.cause, RejectCause.SUSPENDED);
      await within(client.closed, 'the refused client to close');
      assert.equal(client.received.toString(), '421 busy\r\n');
      assert.equal(server.stats().sessions, 0);
    });

    it('rejects a bad acceptTimeout naming the option', () => {
      assert.throws(() => new TcpServer({ acceptTimeout: -1 }), { code: ErrorCode.INVALID_OPTION, message: '`acceptTimeout` must be a non-negative number of milliseconds, got -1' });
    });
  });

  describe('a peer that goes away', () => {
    it('is counted closed when it resets while the hook decides, refused with peer-gone at once', async (t) => {
      const hook = heldHook();
      const server = await listenLocal(t, {}, { ...echo, accept: hook.accept });
      const refused = rejections(server);
      // The server's side of the connection, to know when it has seen the reset.
      const serverSide = deferred<Socket>();
      const onSocket = ({ socket }: { socket: Socket }): void => serverSide.resolve(socket);
      subscribe('net.server.socket', onSocket as (message: unknown) => void);
      t.after(() => unsubscribe('net.server.socket', onSocket as (message: unknown) => void));
      const client = await connectClient(t, server.addresses[0]!.port);
      await hook.next();
      const accepted = await within(serverSide.promise, 'the server side socket');
      const acceptedClosed = new Promise<void>((resolve) => (accepted.destroyed ? resolve() : accepted.once('close', () => resolve())));
      client.socket.resetAndDestroy();
      await within(acceptedClosed, 'the server side to see the reset');
      hook.answer(0, true);
      assert.equal((await refused.until(1))[0]!.cause, RejectCause.PEER_GONE);
      await within(server.close(), 'close');
      assert.equal(server.stats().rejected, 1);
      assertBalanced(server);
    });

    it('never reaches the hook, the deny list or a session when its address cannot be read', async (t) => {
      const opened: number[] = [];
      const hook = heldHook();
      const server = await listenLocal(t, { deny: ['198.18.0.0/15'] }, { ...echo, accept: hook.accept, open: (session) => void opened.push(session.id) });
      const refused = rejections(server);
      const plain = await listenLocal(t, {}, { ...echo, open: (session) => void opened.push(session.id) });
      const plainRefused = rejections(plain);
      const RESETS = 3;
      // The child connects and resets while this process's event loop is blocked, so every
      // connection is gone before the server handles its `connection` event.
      for (const port of [server.addresses[0]!.port, plain.addresses[0]!.port]) {
        const script = `const net = require('node:net'); let n = 0;
          for (let i = 0; i < ${RESETS}; i++) {
            const c = net.connect(${port}, '127.0.0.1', () => c.resetAndDestroy());
            c.on('error', () => {}); c.on('close', () => { if (++n === ${RESETS}) process.exit(0); });
          }`;
        const child = spawnSync(process.execPath, ['-e', script], { timeout: WAIT_MS, stdio: 'ignore' });
        assert.equal(child.status, 0, 'the resetting child finished');
      }
      for (const [target, seen] of [[server, refused], [plain, plainRefused]] as const) {
        const list = await seen.until(RESETS);
        assert.deepEqual(list.map((rejection) => rejection.cause), Array(RESETS).fill(RejectCause.PEER_GONE));
        assert.equal(list[0]!.info.remoteAddress, '');
        await within(target.close(), 'close');
        assert.equal(target.stats().accepted, RESETS);
        assert.equal(target.stats().rejected, RESETS);
        assertBalanced(target);
      }
      assert.equal(hook.asked.length, 0, 'the hook was never asked');
      assert.deepEqual(opened, [], 'no session opened');
    });
  });

  describe('#listen', () => {
    it('owns its listeners from the bind on: close() in the microtask after binding closes them', async () => {
      const server = new TcpServer({ host: '127.0.0.1', port: 0 }, echo);
      let port = 0;
      let closing: Promise<void> | undefined;
      // Poll the state on every microtask from the listener's `listening` event, and close in the
      // first microtask that sees the server listening: before listen()'s own code resumes.
      const onListen = ({ server: listener }: { server: Server }): void => {
        listener.once('listening', () => {
          port = (listener.address() as { port: number }).port;
          let hops = 0;
          const spin = (): void => {
            if (server.state === 'listening') closing = server.close();
            else if (++hops < 10_000) queueMicrotask(spin);
          };
          queueMicrotask(spin);
        });
      };
      subscribe('tracing:net.server.listen:asyncEnd', onListen as (message: unknown) => void);
      let listened: unknown;
      try {
        listened = await server.listen().catch((error: unknown) => error);
      } finally {
        unsubscribe('tracing:net.server.listen:asyncEnd', onListen as (message: unknown) => void);
      }
      assert.ok(closing, 'close() ran in the gap');
      await within(closing, 'close');
      assert.equal((listened as { code?: string }).code, ErrorCode.SERVER_CLOSED);
      assert.equal(server.stats().listeners, 0);
      const refused = await new Promise<string | undefined>((resolve) => {
        const probe = connect({ port, host: '127.0.0.1' });
        probe.once('connect', () => {
          probe.destroy();
          resolve(undefined);
        });
        probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
      });
      assert.equal(refused, 'ECONNREFUSED', 'nothing listens on the port once closed');
      await server.destroy();
    });
  });

  describe('#close', () => {
    it('refuses a timeout beyond what a timer can hold, instead of destroying sessions after 1 ms', async (t) => {
      const server = await listenLocal(t, {}, echo);
      for (const timeout of [2 ** 31, 1e12, Number.NaN, -1]) {
        assert.throws(() => server.close({ timeout }), { code: ErrorCode.INVALID_OPTION, message: new RegExp(`^\`timeout\` must be a number of milliseconds from 0 to 2147483647`) }, String(timeout));
      }
      assert.equal(server.state, 'listening', 'a refused close changes nothing');
    });

    it('keeps sessions open under the longest timeout and under Infinity (no deadline)', async (t) => {
      for (const timeout of [2 ** 31 - 1, Infinity]) {
        const server = await listenLocal(t, {}, { ...echo, end: () => {} });
        const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
        client.send('x');
        await client.waitForBytes(1);
        const closing = server.close({ timeout });
        await within(client.ended, 'FIN');
        // Clamped to 1 ms, the timer would destroy the session now; it must still be open.
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(server.stats().sessions, 1, `the session is still open under timeout ${timeout}`);
        await server.destroy();
        await within(closing, 'close');
      }
    });

    it('resolves closed, then calls close listeners; one that throws is a process warning, not a stuck close', async (t) => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning);
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('warning', onWarning);
      process.on('unhandledRejection', onUnhandled);
      t.after(() => {
        process.off('warning', onWarning);
        process.off('unhandledRejection', onUnhandled);
      });
      const controller = new AbortController();
      const viaClose = await listenLocal(t, {}, echo);
      const viaSignal = await listenLocal(t, { signal: controller.signal }, echo);
      let resolvedFirst: boolean | undefined;
      for (const server of [viaClose, viaSignal]) {
        let settled = false;
        void server.closed.then(() => (settled = true));
        server.on('close', () => {
          resolvedFirst ??= server.state === 'closed';
          throw new Error('boom in a close listener');
        });
      }
      await within(viaClose.close(), 'close() with a throwing close listener');
      await within(viaClose.closed, 'closed');
      controller.abort();
      await within(viaSignal.closed, 'closed after abort with a throwing close listener');
      await within(new Promise((resolve) => setImmediate(resolve)), 'a turn for warnings');
      assert.equal(resolvedFirst, true);
      const reported = warnings.filter((warning) => /close` listener threw/.test(warning.message));
      assert.equal(reported.length, 2, 'each throw is a process warning');
      assert.equal((reported[0] as { code?: string }).code, ErrorCode.HANDLER_FAILED);
      assert.deepEqual(unhandled, []);
    });
  });
});
