/**
 * `listenLocal(t, options?, handler?)`: a server on loopback port 0 that is destroyed after the
 * test, whatever the runner (see cleanup.ts); `listenLocalUdp` for UDP.
 */
import type { AsyncSession } from '../tcp/async-session.ts';
import type { EventSession } from '../tcp/event-session.ts';
import type { SessionProvider, TcpEventHandler, TcpHandler, TcpSessionFunction } from '../tcp/tcp-handlers.ts';
import type { TcpServerOptions } from '../tcp/tcp-options.ts';
import { TcpServer } from '../tcp/tcp-server.ts';
import type { TcpSession } from '../tcp/tcp-session.ts';
import type { UdpServerOptions } from '../udp/udp-options.ts';
import { UdpServer, type UdpHandler } from '../udp/udp-server.ts';
import { registerCleanup, type TestCleanupContext } from './cleanup.ts';

/** The loopback address the kit listens on unless `host` says otherwise. */
const LOOPBACK = '127.0.0.1';

/**
 * Listens on `127.0.0.1` port 0 (any option overrides: `host: '::1'`, `port`), registers the
 * server's `destroy()` on the test context, and resolves once it listens. Types follow the
 * handler as `listenTcp`'s do.
 * @param t node:test's `t`, Vitest's test context, or a function registering a cleanup (`onTestFinished`)
 * @throws {ListenError} (rejects) as `listenTcp` does; nothing stays bound
 * @example
 * it('echoes', async (t) => {
 *   const server = await listenLocal(t, {}, { data(session, chunk) { session.write(chunk); } });
 *   const client = await scriptedClient(t, server, { codec: 'line' });
 *   client.send('hi');
 *   await client.expect('hi');
 * });
 */
export function listenLocal<S extends EventSession = EventSession>(t: TestCleanupContext, options: TcpServerOptions | undefined, handler: TcpEventHandler<S>): Promise<TcpServer<S>>;
export function listenLocal<S extends AsyncSession = AsyncSession>(t: TestCleanupContext, options: TcpServerOptions | undefined, handler: TcpSessionFunction<S>): Promise<TcpServer<S>>;
export function listenLocal<S extends TcpSession>(t: TestCleanupContext, options: TcpServerOptions | undefined, handler: SessionProvider<S>): Promise<TcpServer<S>>;
export function listenLocal(t: TestCleanupContext, options?: TcpServerOptions): Promise<TcpServer<AsyncSession>>;
export function listenLocal(t: TestCleanupContext, options?: TcpServerOptions, handler?: TcpHandler): Promise<TcpServer>;
export async function listenLocal(t: TestCleanupContext, options: TcpServerOptions = {}, handler?: TcpHandler): Promise<TcpServer> {
  const server = new TcpServer({ host: LOOPBACK, port: 0, ...options }, handler);
  registerCleanup(t, () => server.destroy());
  await server.listen();
  return server;
}

/**
 * The UDP twin of {@link listenLocal}: a `UdpServer` on `127.0.0.1` port 0, destroyed after the test.
 * @example
 * const server = await listenLocalUdp(t, {}, { message(datagram) { datagram.reply(datagram.data); } });
 */
export async function listenLocalUdp(t: TestCleanupContext, options: UdpServerOptions = {}, handler?: UdpHandler): Promise<UdpServer> {
  const server = new UdpServer({ host: LOOPBACK, port: 0, ...options }, handler);
  registerCleanup(t, () => server.destroy());
  await server.listen();
  return server;
}
