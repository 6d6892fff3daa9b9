import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CloseCause, DEFAULT_MAX_BUFFERED_OUTPUT, ErrorCode, type CloseReason, type EventSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, within } from '../helpers/net.ts';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
/** Far more than the kernel buffers of one loopback connection can hold. */
const FLOOD_BYTES = 256 * 1024 * 1024;

describe('TcpSession', () => {
  describe('output cap (maxBufferedOutput)', () => {
    it('defaults to 1 MiB', () => {
      assert.equal(DEFAULT_MAX_BUFFERED_OUTPUT, 1024 * 1024);
    });

    it('applies the highWaterMark option to every session', async (t) => {
      const session = deferred<EventSession>();
      const server = await listenLocal(t, { highWaterMark: 1000 }, { open: (opened) => session.resolve(opened) });
      const client = await connectClient(t, server.addresses[0]!.port);
      client.socket.pause();
      const opened = await within(session.promise, 'the session');
      // Fill the kernel buffers first: only then does the socket's own buffer hold bytes.
      let accepted = 0;
      while (opened.write(Buffer.alloc(500)) && accepted < 1_000_000) accepted++;
      assert.ok(accepted < 1_000_000, 'write() returned false eventually');
      assert.ok((opened as unknown as { socket: { writableLength: number } }).socket.writableLength < 1500, 'it did so at the 1000-byte watermark');
    });

    it('closes an event session whose peer never reads, with SWB_ERR_OUTPUT_OVERFLOW, and no other', async (t) => {
      const closed = deferred<CloseReason>();
      let written = 0;
      const server = await listenLocal(t, { maxBufferedOutput: 256 * 1024 }, {
        data(session, chunk) {
          if (chunk.toString() !== 'flood') return void session.write(chunk);
          // Ignores backpressure on purpose: writes until the session refuses.
          const pump = (): void => {
            while (written < FLOOD_BYTES && session.state === 'open') {
              session.write(CHUNK);
              written += CHUNK.length;
              if (written % (4 * 1024 * 1024) === 0) return void setImmediate(pump);
            }
          };
          pump();
        },
        close(session, reason) {
          if (reason.cause === CloseCause.LIMIT) closed.resolve(reason);
        },
      });
      const port = server.addresses[0]!.port;
      const bystander = await connectClient(t, port);
      const sink = await connectClient(t, port);
      sink.socket.pause(); // never reads
      sink.send('flood');
      const reason = await within(closed.promise, 'the flooded session to close', 20_000);
      assert.equal(reason.error?.code, ErrorCode.OUTPUT_OVERFLOW);
      assert.match(reason.error!.message, /^session \d+: \d+ bytes of output queued, over maxBufferedOutput \(262144\); the peer is not reading$/);
      assert.ok(written < FLOOD_BYTES, 'the session stopped taking output long before the flood was written');
      bystander.send('unaffected');
      assert.equal((await bystander.waitForText('unaffected')).toString(), 'unaffected');
    });

    it('rejects unawaited async writes with SWB_ERR_OUTPUT_OVERFLOW and closes the session', async (t) => {
      const outcome = deferred<{ error: unknown; reason: CloseReason }>();
      const server = await listenLocal(t, { maxBufferedOutput: 256 * 1024 }, async (session) => {
        let failure: unknown;
        for (let written = 0; written < FLOOD_BYTES && failure === undefined; written += CHUNK.length) {
          session.write(CHUNK).catch((error: unknown) => (failure ??= error));
          if (written % (4 * 1024 * 1024) === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        outcome.resolve({ error: failure, reason: await session.closed });
      });
      const sink = await connectClient(t, server.addresses[0]!.port);
      sink.socket.pause();
      const { error, reason } = await within(outcome.promise, 'the async session to overflow', 20_000);
      assert.equal((error as { code?: string }).code, ErrorCode.OUTPUT_OVERFLOW);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error, error);
    });

    it('lets a single write larger than the cap through; only writing more while it is queued overflows', async (t) => {
      const session = deferred<EventSession>();
      const server = await listenLocal(t, { maxBufferedOutput: 64 * 1024 }, { open: (opened) => session.resolve(opened) });
      const sink = await connectClient(t, server.addresses[0]!.port);
      sink.socket.pause();
      const opened = await within(session.promise, 'the session');
      assert.equal(opened.write(Buffer.alloc(32 * 1024 * 1024)), false, 'above the watermark');
      assert.equal(opened.state, 'open', 'one large write is the application\'s own choice');
      assert.equal(opened.write('more'), false);
      const reason = await within(opened.closed, 'the session to close');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.OUTPUT_OVERFLOW);
    });

    it('never closes a writer that honours backpressure, whatever the volume', async (t) => {
      const total = 48 * 1024 * 1024;
      const blocked = deferred();
      const server = await listenLocal(t, { maxBufferedOutput: 128 * 1024 }, {
        open(session) {
          let sent = 0;
          const fill = (): void => {
            while (sent < total) {
              sent += CHUNK.length;
              if (!session.write(CHUNK)) {
                blocked.resolve();
                return; // wait for drain
              }
            }
            session.end();
          };
          (session as EventSession & { fill?: () => void }).fill = fill;
          fill();
        },
        drain(session) {
          (session as EventSession & { fill: () => void }).fill();
        },
      });
      const reader = await connectClient(t, server.addresses[0]!.port, '127.0.0.1');
      reader.socket.pause();
      await within(blocked.promise, 'the writer to see backpressure');
      let received = 0;
      reader.socket.removeAllListeners('data');
      reader.socket.on('data', (chunk: Buffer) => void (received += chunk.length));
      reader.socket.resume();
      await within(reader.ended, 'every byte', 30_000);
      assert.equal(received, total);
      assert.equal(server.stats().bytesOut, total);
    });
  });
});
