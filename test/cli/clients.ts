/** Loopback clients for the CLI tests: a TCP exchange read to the end, and a UDP request/reply. */
import { createSocket } from 'node:dgram';
import type { TestContext } from 'node:test';
import { connectClient, within } from '../helpers/net.ts';

/**
 * Connects, sends `payload` (if any), half-closes when `end` says so, and resolves with every
 * byte received until the server closes (the client closes its side on the server's FIN, as
 * nc and socat do). A reset is an error unless `allowReset` (a refused connection may see one).
 * `ms` bounds the wait (longer for a connection that first has to start the server).
 */
export async function tcpExchange(t: TestContext, host: string, port: number, payload?: string | Buffer, options: { end?: boolean; allowReset?: boolean; ms?: number } = {}): Promise<Buffer> {
  const client = await connectClient(t, port, host);
  if (payload !== undefined) client.send(payload);
  if (options.end ?? true) client.socket.end();
  await within(client.closed, `the server at ${host}:${port} to close the connection`, options.ms);
  const reset = (client.error as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET';
  if (client.error && !(reset && options.allowReset)) throw client.error;
  return client.received;
}

/** A UDP client bound to loopback; closed after the test. */
export async function udpClient(t: TestContext, family: 4 | 6 = 4) {
  const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const replies: { data: Buffer; port: number; address: string }[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (data, rinfo) => {
    replies.push({ data, port: rinfo.port, address: rinfo.address });
    for (const wake of waiters.splice(0)) wake();
  });
  await new Promise<void>((resolve) => socket.bind(0, family === 4 ? '127.0.0.1' : '::1', resolve));
  return {
    socket,
    replies,
    send(host: string, port: number, data: string | Buffer): void {
      socket.send(data, port, host);
    },
    /** Resolves with the first reply from `port` (at or after reply index `from`). */
    async reply(port: number, from = 0): Promise<Buffer> {
      return within(
        new Promise<Buffer>((resolve) => {
          const check = (): void => {
            const found = replies.slice(from).find((reply) => reply.port === port);
            if (found) resolve(found.data);
            else waiters.push(check);
          };
          check();
        }),
        `a datagram from port ${port}`,
      );
    },
  };
}
