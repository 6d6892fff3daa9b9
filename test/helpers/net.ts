/**
 * Test helpers on real loopback sockets: a server that cleans up after its test, a client that
 * collects what it receives, and waits that are always bounded.
 */
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';

/** Whether `ss` (iproute2) is installed, for tests that read the kernel's view of a socket. */
export const hasSs = ((): boolean => {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The default bound on any wait in a test. */
export const WAIT_MS = 5000;

/** Rejects with a clear message if `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Waits until `condition()` holds, checking every few ms (bounded): for counters the server
 * updates as traffic arrives, where no event marks the moment.
 */
export async function until(condition: () => boolean, what: string, ms?: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (condition()) resolve();
          else timer = setTimeout(check, 2);
        };
        check();
      }),
      what,
      ms,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Listens on loopback port 0 (unless told otherwise) and destroys the server after the test: the testing kit's. */
export { listenLocal } from '../../src/testing/listen-local.ts';

/** A loopback client that records everything it receives. */
export class TestClient {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  #waiters: (() => void)[] = [];
  readonly ended: Promise<void>;
  readonly closed: Promise<boolean>;
  error: Error | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#wake();
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    this.ended = new Promise((resolve) => socket.once('end', () => resolve()));
    this.closed = new Promise((resolve) => socket.once('close', (hadError) => resolve(hadError)));
    socket.once('close', () => this.#wake());
  }

  /** Everything received so far. */
  get received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Waits until at least `bytes` have arrived (or the socket closed). */
  async waitForBytes(bytes: number, ms = WAIT_MS): Promise<Buffer> {
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.received.length >= bytes || this.socket.destroyed) resolve();
          else this.#waiters.push(check);
        };
        check();
      }),
      `${bytes} bytes from the server`,
      ms,
    );
    return this.received;
  }

  /** Waits until the received text contains `text`. */
  async waitForText(text: string, ms = WAIT_MS): Promise<string> {
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.received.toString().includes(text) || this.socket.destroyed) resolve();
          else this.#waiters.push(check);
        };
        check();
      }),
      `${JSON.stringify(text)} from the server`,
      ms,
    );
    return this.received.toString();
  }

  /** Sends bytes. */
  send(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Destroys the socket and waits for it to close. */
  async close(): Promise<void> {
    this.socket.destroy();
    await within(this.closed, 'the client socket to close');
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Connects to a loopback address; the socket is destroyed after the test. */
export async function connectClient(t: TestContext | undefined, port: number, host = '127.0.0.1', options: { allowHalfOpen?: boolean; localAddress?: string } = {}): Promise<TestClient> {
  const socket = connect({ port, host, allowHalfOpen: options.allowHalfOpen ?? false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  const client = new TestClient(socket);
  t?.after(() => client.close());
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    `a connection to ${host}:${port}`,
  );
  return client;
}

/** The handle census and the bounded leak assertion are the testing kit's (src/testing/leaks.ts). */
export { assertNoLeakedHandles, openNetworkHandles } from '../../src/testing/leaks.ts';

/** A promise and its resolver, for events a test waits on. */
export function deferred<T = void>(): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>();
}

/**
 * STARTTLS from the client side, once the go-ahead has arrived: a TLS handshake over `socket`
 * (trusting `ca`, name `localhost`), then one `ping` that the server must echo over TLS. Resolves
 * with the echo; the TLS socket is destroyed afterwards.
 */
export async function upgradeAndEcho(socket: Socket, ca: string, ping = 'ping'): Promise<string> {
  const secure = tlsConnect({ socket, ca, servername: 'localhost' });
  secure.on('error', () => {});
  try {
    await within(new Promise((resolve) => secure.once('secureConnect', resolve)), 'the TLS handshake');
    const echoed = new Promise<string>((resolve) => secure.once('data', (data: Buffer) => resolve(data.toString())));
    secure.write(ping);
    return await within(echoed, 'the echo over TLS');
  } finally {
    secure.destroy();
  }
}
