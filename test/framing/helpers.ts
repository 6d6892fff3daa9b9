/**
 * Helpers for framed-session tests: a close recorder and a way to prove a peer is blocked by
 * TCP flow control (its writes back up) rather than merely slow.
 */
import { deferred, within, type TestClient } from '../helpers/net.ts';
import type { CloseReason, SwitchboardError } from '../../src/index.ts';

/** Records close reasons and handler errors reported by the server. */
export class Closes {
  readonly reasons: CloseReason[] = [];
  readonly serverErrors: SwitchboardError[] = [];
  #waiters: (() => void)[] = [];

  add(reason: CloseReason): void {
    this.reasons.push(reason);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Waits for the `count`-th close and returns it. */
  async nth(count: number, what = `${count} session close(s)`): Promise<CloseReason> {
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.reasons.length >= count) resolve();
          else this.#waiters.push(check);
        };
        check();
      }),
      what,
    );
    return this.reasons[count - 1]!;
  }
}

/**
 * Writes `line` repeatedly until the socket reports backpressure (the kernel buffers of both
 * ends are full, so the server is not reading), within a byte bound. Resolves with bytes written.
 */
export async function writeUntilBlocked(client: TestClient, line: string, maxBytes = 512 * 1024 * 1024): Promise<number> {
  const payload = Buffer.from(line.repeat(Math.max(1, Math.floor(65536 / line.length))));
  let written = 0;
  while (written < maxBytes) {
    written += payload.length;
    if (!client.socket.write(payload)) break;
    if (written % (4 * 1024 * 1024) < payload.length) await new Promise((resolve) => setImmediate(resolve));
  }
  if (written >= maxBytes) throw new Error(`the peer never pushed back after ${written} bytes`);
  // Give the kernel a moment to fill: the write queue must stay non-empty across a turn of the loop.
  const stillBlocked = deferred<boolean>();
  setImmediate(() => stillBlocked.resolve(client.socket.writableLength > 0));
  if (!(await stillBlocked.promise)) throw new Error('the client write queue drained: the server is reading');
  return written;
}
