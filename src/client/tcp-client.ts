/**
 * The other end of the wire: `connectTcp` dials a server -- every address of the host, raced
 * with Happy Eyeballs (RFC 8305, Node's `autoSelectFamily`), TLS and a PROXY header when asked --
 * and serves the connection with the very sessions a server uses (event or async style,
 * `framed()`), with the same exactly-once close, backpressure, output cap and deadlines.
 */
import { connect, isIP, type Socket, type TcpNetConnectOpts } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { ErrorCode, OpError, formatHostPort, opErrorFromSystem, type OpContext, type SwitchboardError } from '../core/errors.ts';
import { lookupAll, unmapAddress, type AddressFamily, type LookupAddress } from '../net/addresses.ts';
import type { AsyncSession } from '../tcp/async-session.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import type { EventSession } from '../tcp/event-session.ts';
import { SessionDeadlines } from '../tcp/session-deadlines.ts';
import { checkTcpHandler, createSessionFor, startSessionFor } from '../tcp/session-factory.ts';
import type { SessionProvider, TcpEventHandler, TcpHandler, TcpSessionFunction } from '../tcp/tcp-handlers.ts';
import type { SessionHost, TcpSession } from '../tcp/tcp-session.ts';
import { dialAborted, dialError, dialTimeout, tlsDialError } from './dial-error.ts';
import { normalizeTcpClientOptions, type NormalizedTcpClientOptions, type TcpClientOptions } from './tcp-client-options.ts';
import { nodeTls } from '../core/builtins.ts';

/** How a connection was made: what the host resolved to, what was tried, and which address won. */
export interface DialReport {
  /** The `host` option as given. */
  readonly host: string;
  readonly port: number;
  /** Every address the host resolved to, in the order they were given to Happy Eyeballs. */
  readonly addresses: readonly LookupAddress[];
  /** The addresses attempted, in order (`127.0.0.1:7000`, `[::1]:7000`): the last is the one that won. */
  readonly attempted: readonly string[];
  /** The address connected to (the session's `remoteAddress`). */
  readonly address: string;
  readonly family: AddressFamily;
  /** From the call to the session opening (lookup, connect, TLS), in ms. */
  readonly elapsedMs: number;
}

/** Client session ids: monotonic in the process, never reused (a server numbers its own). */
let nextClientSessionId = 1;
const reports = new WeakMap<TcpSession, DialReport>();

/**
 * How a client session's connection was made (addresses resolved, tried, the winner); undefined
 * for a session a server accepted.
 * @example
 * const session = await connectTcp({ host: 'localhost', port: 7000 });
 * console.log(dialReportOf(session)?.attempted); // ['[::1]:7000', '127.0.0.1:7000'] when ::1 was refused
 */
export function dialReportOf(session: TcpSession): DialReport | undefined {
  return reports.get(session);
}

/**
 * Connects to a TCP server and resolves with an open session once the connection (and the TLS
 * handshake, and the PROXY header write, when asked for) is done. The session type follows the
 * handler, as `listenTcp`'s does: an `AsyncSession` with none (read and write it yourself) or a
 * session function (run at once; the session ends when it resolves), an `EventSession` for event
 * handlers, a framed session for `framed(...)`.
 *
 * A host name is resolved to every address and they are raced (Happy Eyeballs, `attemptDelay`
 * apart); `dialReportOf(session)` tells which won. The session closes exactly once, like a
 * server's: `session.closed`, the `close` handler.
 *
 * Errors (rejects, an `OpError` in Go's form, nothing left open): `SWB_ERR_CONNECTION_REFUSED`
 * (`dial tcp 127.0.0.1:7: connection refused (ECONNREFUSED)`), `SWB_ERR_CONNECT_TIMEOUT`,
 * `SWB_ERR_HOST_UNREACHABLE`, `SWB_ERR_NAME_NOT_RESOLVED`, `SWB_ERR_CONNECT_ABORTED`,
 * `SWB_ERR_TLS_SERVER_CERTIFICATE` and the `SWB_ERR_TLS_*` handshake codes.
 *
 * Cancellation: the `signal` option (before the session opens: the attempt is abandoned), then
 * `session.end()` / `session.destroy()`.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` synchronously for bad options or handler
 * @example
 * const session = await connectTcp({ host: 'localhost', port: 7000 }, framed(() => createLineCodec(), async (s) => {
 *   await s.send('hello');
 *   console.log(await s.readFrame());
 * }));
 */
export function connectTcp(options: TcpClientOptions): Promise<AsyncSession>;
export function connectTcp<S extends TcpSession>(options: TcpClientOptions, handler: SessionProvider<S>): Promise<S>;
export function connectTcp<S extends EventSession = EventSession>(options: TcpClientOptions, handler: TcpEventHandler<S>): Promise<S>;
export function connectTcp<S extends AsyncSession = AsyncSession>(options: TcpClientOptions, handler: TcpSessionFunction<S>): Promise<S>;
export function connectTcp(options: TcpClientOptions, handler?: TcpHandler): Promise<TcpSession>;
export function connectTcp(options: TcpClientOptions, handler?: TcpHandler): Promise<TcpSession> {
  const settings = normalizeTcpClientOptions(options);
  checkTcpHandler(handler);
  return dial(settings).then(({ socket, report }) => openClientSession(socket, report, settings, handler));
}

interface Dialed {
  readonly socket: Socket;
  readonly report: DialReport;
}

/** Every address of `host`, the literal itself for an IP address; `localhost` is both loopbacks. */
async function resolveAddresses(options: NormalizedTcpClientOptions): Promise<LookupAddress[]> {
  const { host } = options;
  const family = isIP(host);
  if (family !== 0) return [{ address: host, family }];
  const found = [...(await (options.lookup ?? lookupAll)(host))];
  if (options.lookup === undefined && host.toLowerCase() === 'localhost') {
    // As a server listens on both loopbacks for `localhost`, a client tries both, whatever /etc/hosts says.
    for (const loopback of [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]) {
      if (!found.some((entry) => entry.address === loopback.address)) found.push(loopback);
    }
  }
  const unique = found.filter((entry, index) => found.findIndex((other) => other.address === entry.address) === index);
  if (unique.length === 0) throw new OpError({ op: 'dial', transport: 'tcp', address: host, port: options.port }, ErrorCode.NAME_NOT_RESOLVED, 'name resolved to no address');
  return unique;
}

/** A `lookup` for `net.connect` that answers with the addresses already resolved. */
function fixedLookup(addresses: readonly LookupAddress[]): NonNullable<TcpNetConnectOpts['lookup']> {
  return ((_host: string, lookupOptions: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (lookupOptions.all) callback(null, addresses.map((entry) => ({ address: entry.address, family: entry.family })));
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  }) as NonNullable<TcpNetConnectOpts['lookup']>;
}

/**
 * Lookup, connect (racing the addresses), PROXY header, TLS handshake -- all within `timeout`
 * and cancelled by `signal`. On any failure every socket made is destroyed before it rejects.
 */
function dial(options: NormalizedTcpClientOptions): Promise<Dialed> {
  const started = performance.now();
  const { promise, resolve, reject } = Promise.withResolvers<Dialed>();
  let raw: Socket | undefined;
  let secure: TLSSocket | undefined;
  let settled = false;
  /** Where the failure happened: the address being tried, else the host. */
  const where = (): OpContext => {
    const last = raw?.autoSelectFamilyAttemptedAddresses?.at(-1);
    if (last !== undefined) return { op: 'dial', transport: 'tcp', ...splitAttempt(last) };
    return { op: 'dial', transport: 'tcp', address: raw?.remoteAddress ?? options.host, port: options.port };
  };
  const settle = (): void => {
    settled = true;
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    raw?.off('error', onRawError);
    secure?.off('error', onTlsError);
  };
  const fail = (error: SwitchboardError): void => {
    if (settled) return;
    settle();
    // Node reports connect errors after destroy no more; listeners that swallow any stragglers stay.
    raw?.on('error', ignore);
    secure?.on('error', ignore);
    secure?.destroy();
    raw?.destroy();
    reject(error);
  };
  const onRawError = (error: Error): void => fail(secure === undefined ? dialError(where(), error) : tlsDialError(where(), error));
  const onTlsError = (error: Error): void => fail(tlsDialError(where(), error));
  const onAbort = (): void => fail(dialAborted(where(), options.signal?.reason));
  const timer = options.timeout > 0 ? setTimeout(() => fail(dialTimeout(where(), options.timeout)), options.timeout) : undefined;
  if (options.signal?.aborted) {
    onAbort();
    return promise;
  }
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const opened = (socket: Socket, addresses: readonly LookupAddress[]): void => {
    if (settled) return;
    settle();
    const remote = unmapAddress(raw!.remoteAddress ?? '', raw!.remoteFamily ?? '');
    const tried = raw!.autoSelectFamilyAttemptedAddresses?.map((entry) => splitAttempt(entry)) ?? [{ address: remote.address, port: options.port }];
    resolve({
      socket,
      report: { host: options.host, port: options.port, addresses, attempted: tried.map((entry) => formatHostPort(entry.address, entry.port)), address: remote.address, family: remote.family, elapsedMs: performance.now() - started },
    });
  };

  resolveAddresses(options).then(
    (addresses) => {
      if (settled) return;
      const race = addresses.length > 1;
      raw = connect({
        host: race ? options.host : addresses[0]!.address,
        port: options.port,
        allowHalfOpen: true,
        noDelay: options.noDelay,
        keepAlive: options.keepAlive,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        ...(race ? { autoSelectFamily: true, autoSelectFamilyAttemptTimeout: options.attemptDelay, lookup: fixedLookup(addresses) } : { autoSelectFamily: false }),
      });
      raw.on('error', onRawError);
      raw.once('connect', () => {
        if (settled) return;
        if (options.proxyHeader !== undefined) raw!.write(options.proxyHeader);
        const tls = options.tls;
        if (tls === undefined) return opened(raw!, addresses);
        secure = nodeTls().connect({
          socket: raw!,
          ...(tls.servername === undefined ? {} : { servername: tls.servername }),
          ...(tls.ALPNProtocols === undefined ? {} : { ALPNProtocols: tls.ALPNProtocols }),
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
          rejectUnauthorized: tls.rejectUnauthorized,
          minVersion: tls.minVersion,
          maxVersion: tls.maxVersion,
        });
        secure.on('error', onTlsError);
        secure.once('secureConnect', () => opened(secure!, addresses));
      });
    },
    (error: unknown) => fail(error instanceof OpError ? error : opErrorFromSystem({ op: 'dial', transport: 'tcp', address: options.host, port: options.port }, error)),
  );
  return promise;
}

const ignore = (): void => {};

/** Node names an attempt `::1:7000`: the address and the port after its last colon. */
function splitAttempt(text: string): { address: string; port: number } {
  const colon = text.lastIndexOf(':');
  return { address: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

/** Both ends of a connected socket, the server's address unmapped. */
function clientConnectionInfo(socket: Socket): ConnectionInfo {
  const remote = unmapAddress(socket.remoteAddress ?? '', socket.remoteFamily ?? '');
  const local = unmapAddress(socket.localAddress ?? '', socket.localFamily ?? '');
  return {
    remoteAddress: remote.address,
    remotePort: socket.remotePort ?? 0,
    remoteFamily: remote.family,
    localAddress: local.address,
    localPort: socket.localPort ?? 0,
    localFamily: local.family,
  };
}

/**
 * The session for a connected socket, with a host of its own: its idle timeout on a deadline
 * sweep of one, its output cap, a handler failure reported as a process warning (and as the
 * session's close reason), no broadcast (a client has no other sessions) and no STARTTLS.
 */
function openClientSession(socket: Socket, report: DialReport, options: NormalizedTcpClientOptions, handler: TcpHandler | undefined): TcpSession {
  const open = new Set<TcpSession>();
  const deadlines = new SessionDeadlines(options.idleTimeout, 0, 0, open);
  const signal = options.signal;
  let session: TcpSession | undefined;
  const onAbort = (): void => session?.destroy(dialAborted(clientConnectionInfoContext(session), signal?.reason));
  const host: SessionHost = {
    sessionClosed: (closed) => {
      open.delete(closed);
      deadlines.idle();
      signal?.removeEventListener('abort', onAbort);
    },
    handlerFailed: (_session, error) => process.emitWarning(error),
    broadcast: () => 0,
    idleTimeoutSet: (ms) => deadlines.idleTimeoutSet(ms),
    maxBufferedOutput: options.maxBufferedOutput,
    tls: undefined,
  };
  session = createSessionFor(handler, nextClientSessionId++, socket, clientConnectionInfo(socket), host, options.idleTimeout);
  open.add(session);
  deadlines.opened();
  reports.set(session, report);
  signal?.addEventListener('abort', onAbort, { once: true });
  startSessionFor(handler, session);
  return session;
}

function clientConnectionInfoContext(session: TcpSession): OpContext {
  return { op: 'dial', transport: 'tcp', address: session.remoteAddress, port: session.remotePort };
}
