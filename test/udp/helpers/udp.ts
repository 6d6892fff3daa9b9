/**
 * UDP test helpers on real loopback sockets: a server that is destroyed after its test and a
 * client that records what it receives, with every wait bounded.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { TestContext } from 'node:test';
import { UdpServer, type UdpHandler, type UdpServerOptions } from '../../../src/index.ts';
import { within } from '../../helpers/net.ts';

export { until } from '../../helpers/net.ts';

/** Echoes every datagram. */
export const echo: UdpHandler = { message: (datagram) => void datagram.reply(datagram.data) };

/** Listens on 127.0.0.1 port 0 (unless told otherwise); destroyed after the test. */
export async function listenUdpLocal(t: TestContext, options: UdpServerOptions = {}, handler?: UdpHandler): Promise<UdpServer> {
  const server = new UdpServer({ host: '127.0.0.1', port: 0, ...options }, handler);
  t.after(() => server.destroy());
  await server.listen();
  return server;
}

/** One datagram a client received. */
export interface Received {
  readonly data: Buffer;
  readonly from: RemoteInfo;
}

/** A UDP client that queues what it receives. */
export class UdpTestClient {
  readonly socket: Socket;
  #received: Received[] = [];
  #waiters: (() => void)[] = [];

  constructor(type: 'udp4' | 'udp6') {
    this.socket = createSocket(type);
    this.socket.on('message', (data, from) => {
      this.#received.push({ data, from });
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** Datagrams received so far and not yet taken by {@link next}. */
  get pending(): number {
    return this.#received.length;
  }

  /** Sends one datagram and waits until the kernel took it. */
  send(data: string | Uint8Array, port: number, host: string): Promise<void> {
    return within(
      new Promise<void>((resolve, reject) => this.socket.send(data, port, host, (error) => (error ? reject(error) : resolve()))),
      `sending to ${host}:${port}`,
    );
  }

  /** The next datagram received (bounded wait). */
  async next(what = 'a datagram'): Promise<Received> {
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.#received.length > 0) resolve();
          else this.#waiters.push(check);
        };
        check();
      }),
      what,
    );
    return this.#received.shift()!;
  }

  /** Closes the socket and waits for it. */
  close(): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        try {
          this.socket.close(() => resolve());
        } catch {
          resolve();
        }
      }),
      'the client socket to close',
    );
  }
}

/** A client bound to an ephemeral port on the family's loopback; closed after the test. */
export async function udpClient(t: TestContext, type: 'udp4' | 'udp6' = 'udp4'): Promise<UdpTestClient> {
  const client = new UdpTestClient(type);
  t.after(() => client.close());
  await within(new Promise<void>((resolve) => client.socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', resolve)), 'the client to bind');
  return client;
}

/** Sends `data` and returns the reply. */
export async function roundTrip(client: UdpTestClient, data: string | Uint8Array, port: number, host: string): Promise<Received> {
  await client.send(data, port, host);
  return client.next(`a reply from ${host}:${port}`);
}
