/**
 * A session that ends because its peer does not read is reset, not closed behind its unsent
 * output: otherwise the kernel keeps the socket in FIN-WAIT-1 holding megabytes for minutes, and
 * maxConnections bounds nothing. Checked on both ends: the server's socket is gone from `ss`, and
 * the peer sees ECONNRESET instead of the rest of the stream.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import { CloseCause, ErrorCode, type CloseReason, type TcpEventHandler, type EventSession, type TcpServer, type TcpServerOptions } from '../../src/index.ts';
import { connectClient, deferred, hasSs, listenLocal, until, within, type TestClient } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

const BLOCK = Buffer.alloc(64 * 1024, 0x67);

/** The kernel's view of the server's end of one connection: its TCP state and unsent bytes, if it still exists. */
function serverSocket(serverPort: number, clientPort: number): { state: string; sendQueue: number } | undefined {
  const out = execFileSync('ss', ['-tanH', 'state', 'all', `( sport = :${serverPort} and dport = :${clientPort} )`], { encoding: 'utf8' });
  const line = out.split('\n').find((row) => row.trim() !== '');
  if (line === undefined) return undefined;
  const [state, , sendQueue] = line.trim().split(/\s+/);
  return { state: state!, sendQueue: Number(sendQueue) };
}

/** Fills the kernel buffers and the socket's own until write() says stop, as chargen does. */
function fillOutput(session: EventSession): void {
  for (let i = 0; i < 16_384 && session.write(BLOCK); i++);
}

/** A server and a peer that never reads; `closed` is the session's close reason, `opened` when `open` has run. */
/** The port each stalled client connected to. */
const serverPorts = new WeakMap<TestClient, number>();

async function stalledPeer(t: TestContext, options: TcpServerOptions, handler: TcpEventHandler): Promise<{ server: TcpServer; client: TestClient; closed: Promise<CloseReason>; opened: Promise<void> }> {
  const closed = deferred<CloseReason>();
  const opened = deferred();
  const server = await listenLocal(t, options, {
    ...handler,
    open(session) {
      handler.open?.(session);
      opened.resolve();
    },
    close: (_session, reason) => closed.resolve(reason),
  });
  const client = await connectClient(t, server.addresses[0]!.port);
  serverPorts.set(client, server.addresses[0]!.port); // server.addresses is empty once the server has closed
  client.socket.pause(); // never reads
  return { server, client, closed: closed.promise, opened: opened.promise };
}

/** After the session closed: the server socket is gone (no FIN-WAIT-1 holding data), and the peer reads a reset. */
async function assertReset(client: TestClient, _server: TcpServer): Promise<void> {
  const serverPort = serverPorts.get(client)!;
  if (hasSs) {
    const clientPort = client.socket.localPort!;
    let last: ReturnType<typeof serverSocket>;
    await until(() => (last = serverSocket(serverPort, clientPort)) === undefined, 'the server socket to be gone', 2000).catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(last)}`);
    });
  }
  client.socket.resume();
  await within(Promise.race([client.closed, client.ended]), 'the peer to see the close');
  assert.equal((client.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET', 'the peer is told the stream was cut, not given a clean end');
}

describe('a peer that does not read', () => {
  it('is reset when the idle timeout closes its session with output queued', async (t) => {
    const { server, client, closed } = await stalledPeer(t, { idleTimeout: 150 }, { open: fillOutput });
    const reason = await within(closed, 'the idle timeout');
    assert.equal(reason.cause, CloseCause.IDLE_TIMEOUT);
    assert.equal(reason.error?.code, ErrorCode.IDLE_TIMEOUT);
    await assertReset(client, server);
  });

  it('is reset when its output overflows maxBufferedOutput', async (t) => {
    const { server, client, closed } = await stalledPeer(t, { maxBufferedOutput: 256 * 1024 }, {
      data(session) {
        // Ignores backpressure: writes until the session refuses.
        for (let i = 0; i < 16_384 && session.state === 'open'; i++) session.write(BLOCK);
      },
    });
    client.send('flood');
    const reason = await within(closed, 'the overflow');
    assert.equal(reason.cause, CloseCause.LIMIT);
    assert.equal(reason.error?.code, ErrorCode.OUTPUT_OVERFLOW);
    await assertReset(client, server);
  });

  it('is reset at the graceful-close deadline, its FIN still queued behind unsent output', async (t) => {
    const { server, client, closed, opened } = await stalledPeer(t, {}, { open: fillOutput });
    await within(opened, 'the output to fill');
    await within(server.close({ timeout: 100 }), 'the close at its deadline');
    assert.equal((await closed).cause, CloseCause.SERVER_CLOSE);
    await assertReset(client, server);
  });

  it('is reset even when the reset comes while the session\'s FIN is being sent', async (t) => {
    const closed = deferred<CloseReason>();
    const server = await listenLocal(t, {}, {
      open(session) {
        session.write('bye\n');
        session.end(); // all of it fits the kernel: the shutdown starts now and completes a turn later
        session.reset(CloseCause.LIMIT); // what the idle sweep or the close deadline may do in that turn
      },
      close: (_session, reason) => closed.resolve(reason),
    });
    const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', { allowHalfOpen: true });
    assert.equal((await within(closed.promise, 'the reset session to close')).cause, CloseCause.LOCAL_END);
    await within(server.close({ timeout: 1000 }), 'the server close');
    await within(client.ended, 'the FIN, after what was written');
    assert.equal(client.received.toString(), 'bye\n');
  });

  it('is closed normally (EOF, no reset) by an idle timeout with nothing queued', async (t) => {
    const { client, closed } = await stalledPeer(t, { idleTimeout: 100 }, {});
    assert.equal((await within(closed, 'the idle timeout')).cause, CloseCause.IDLE_TIMEOUT);
    client.socket.resume();
    await within(client.ended, 'a clean end of stream');
    await within(client.closed, 'the close');
    assert.equal(client.error, undefined);
  });
});
