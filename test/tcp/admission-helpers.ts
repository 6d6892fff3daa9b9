/**
 * Helpers for admission tests: an echo handler, a client proven to be served (one round trip),
 * and bounded waits for server events.
 */
import assert from 'node:assert/strict';
import { once, type EventEmitter } from 'node:events';
import type { TestContext } from 'node:test';
import type { TcpEventHandler, RejectedConnection, TcpServer } from '../../src/index.ts';
import { connectClient, within, type TestClient } from '../helpers/net.ts';

/** Echoes every chunk. */
export const echo: TcpEventHandler = {
  data(session, chunk) {
    session.write(chunk);
  },
};

/** Connects and completes one echo round trip, so the server's session is certainly open. */
export async function servedClient(t: TestContext, port: number, localAddress?: string): Promise<TestClient> {
  const client = await connectClient(t, port, '127.0.0.1', localAddress ? { localAddress } : {});
  client.send('ping');
  assert.equal((await client.waitForBytes(4)).toString(), 'ping');
  return client;
}

/** The next `name` event's first argument, within the default bound. */
export async function nextEvent<T>(emitter: EventEmitter, name: string): Promise<T> {
  const [value] = (await within(once(emitter, name), `a '${name}' event`)) as [T];
  return value;
}

/**
 * Connects a client the server is expected to refuse; resolves with the rejection and what the
 * client received before the connection closed.
 */
export async function refusedClient(t: TestContext, server: TcpServer, localAddress?: string): Promise<{ rejection: RejectedConnection; received: string }> {
  const rejected = nextEvent<RejectedConnection>(server as unknown as EventEmitter, 'rejected');
  const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1', localAddress ? { localAddress } : {});
  const rejection = await rejected;
  await within(client.closed, 'the refused connection to close');
  return { rejection, received: client.received.toString() };
}
