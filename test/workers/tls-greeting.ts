/** A TLS client for the worker tests: one connection to a `pid-echo` worker, resuming a session if given. */
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { TestClient, within } from '../helpers/net.ts';

/** One TLS connection (resuming `session` if given): the pid that greeted, whether it resumed, and, after a full handshake, the session it issued. */
export async function tlsGreeting(port: number, ca: string, session?: Buffer): Promise<{ pid: number; reused: boolean; session: Buffer | undefined }> {
  const socket: TLSSocket = connectTls({ host: '127.0.0.1', port, ca, servername: 'localhost', ...(session && { session }) });
  // TLS 1.3 sends its tickets after the handshake; the client reports them after the first data.
  const ticket = within(new Promise<Buffer>((resolve) => socket.once('session', resolve)), 'a session ticket');
  ticket.catch(() => {});
  try {
    const text = await new TestClient(socket).waitForText('\n');
    if (!text.includes('\n')) throw new Error(`closed before a line (got ${JSON.stringify(text)})`);
    const line = text.slice(0, text.indexOf('\n'));
    const reused = socket.isSessionReused();
    return { pid: Number(/^pid (\d+)/.exec(line)?.[1]), reused, session: reused ? undefined : await ticket };
  } finally {
    socket.destroy();
  }
}

