/**
 * The server-side TLS handshake as a stage of the accept path: wrap an accepted plaintext socket,
 * run a deadline of our own, and either hand back the secure socket or close both sockets and
 * reject with the reason. Node's `handshakeTimeout` only reports (the socket stays open) and a
 * constructor-made `TLSSocket` has no timer at all, hence the deadline here; and such a socket
 * never checks the client certificate against `ca` (it accepts one from any CA), hence
 * {@link authorizePeer}.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { integerOption, signalOption } from '../core/options.ts';
import { HandshakeFailure, handshakeFailureOf, TlsHandshakeError } from './handshake-error.ts';
import { TlsContexts, type TlsContextSet } from './secure-contexts.ts';
import { nodeTls } from '../core/builtins.ts';

/** Options of one handshake. */
export interface HandshakeOptions {
  /** Milliseconds until the connection is closed unless the handshake completed. @default the contexts' `handshakeTimeout` */
  timeout?: number;
  /** Aborting it closes the connection and rejects with `SWB_ERR_TLS_HANDSHAKE_ABORTED`. */
  signal?: AbortSignal;
}

/** `authorizationError` when this Node cannot report its verification result: the peer counts as unverified. */
export const VERIFY_RESULT_UNAVAILABLE = 'VERIFY_RESULT_UNAVAILABLE';

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs the server side of a TLS handshake on an accepted socket. From the call on, the socket is
 * the handshake's: on success the returned `TLSSocket` owns it (destroying one destroys both);
 * on failure both are destroyed and the promise rejects only once both have closed.
 *
 * The handshake takes one snapshot of `contexts`, so a `replace()` during it applies from the
 * next handshake. Renegotiation is disabled.
 *
 * Errors: a {@link TlsHandshakeError} whose `reason` and `code` say why
 * (`SWB_ERR_TLS_HANDSHAKE_TIMEOUT`, `_NOT_TLS`, `_PROTOCOL_VERSION`, `_CLIENT_CERTIFICATE`,
 * `_NO_APPLICATION_PROTOCOL`, `_PEER_CLOSED`, `_HANDSHAKE_ABORTED`, `_HANDSHAKE_FAILED`).
 *
 * Cancellation: aborting `signal` closes the connection at once.
 * @throws {InvalidOptionError} synchronously, before taking the socket, for a bad `timeout` or `signal`
 * @example
 * net.createServer(async (socket) => {
 *   const secure = await handshake(socket, contexts).catch(() => undefined);
 *   secure?.end(`hello ${describeTls(secure)?.protocol}\n`);
 * });
 */
export function handshake(socket: Socket, contexts: TlsContexts | TlsContextSet, options: HandshakeOptions = {}): Promise<TLSSocket> {
  return startHandshake(socket, handshakeSettings(contexts, options));
}

/** A handshake's checked options and its snapshot of the contexts. @internal */
export interface HandshakeSettings {
  readonly set: TlsContextSet;
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * Checks handshake options and takes the snapshot of `contexts`, touching no socket.
 * @throws {InvalidOptionError} for a bad `timeout` or `signal`
 * @internal
 */
export function handshakeSettings(contexts: TlsContexts | TlsContextSet, options: HandshakeOptions): HandshakeSettings {
  const set = contexts instanceof TlsContexts ? contexts.current : contexts;
  return {
    set,
    timeout: integerOption('timeout', options.timeout, set.options.handshakeTimeout, 1, MAX_TIMER_MS),
    signal: signalOption(options.signal),
  };
}

/**
 * What the server integration learns of a handshake as it happens, synchronously: the sockets
 * close only after `failed`, so a server hears why before it sees the close. @internal
 */
export interface HandshakeHooks {
  /** The `TLSSocket` now wraps the plaintext one: route every later destroy through it. */
  wrapped?(secure: TLSSocket): void;
  /**
   * The handshake failed; both sockets are about to be destroyed. Returning true says the
   * connection was closed on our side (the session was destroyed): the server counts it as
   * `aborted`, not as the peer's failure.
   */
  failed?(error: TlsHandshakeError): boolean | void;
}

/** {@link handshake} with settings already checked. @internal */
export function startHandshake(socket: Socket, { set, timeout, signal }: HandshakeSettings, hooks: HandshakeHooks = {}): Promise<TLSSocket> {
  const { promise, resolve, reject } = Promise.withResolvers<TLSSocket>();
  // 'close' comes when the handle is released, after `closed` turns true: wait for the event.
  // A socket already destroyed before the call may have emitted it already; it is not waited for.
  const socketClosed = socket.destroyed ? Promise.resolve() : closeEvent(socket);
  let secureClosed = Promise.resolve();
  let secure: TLSSocket | undefined;
  let settled = false;

  const fail = (error: TlsHandshakeError): void => {
    if (settled) return;
    settled = true;
    detach();
    hooks.failed?.(error);
    // Late errors from sockets being torn down have nowhere to go; they must not crash the process.
    socket.on('error', ignore);
    secure?.on('error', ignore);
    // The TLS socket first: it closes the plaintext one after itself. Destroying the plaintext
    // socket first frees the handle under TLSWrap while OpenSSL may be on the stack: Node 24
    // then crashes (SIGSEGV) when this runs inside 'secure'.
    secure?.destroy();
    socket.destroy();
    void Promise.all([socketClosed, secureClosed]).then(() => reject(error));
  };
  const onError = (error: Error): void => fail(handshakeFailureOf(error));
  const onPeerEnd = (): void => fail(new TlsHandshakeError(HandshakeFailure.PEER_CLOSED, 'the peer closed the connection'));
  const onClose = (): void => fail(new TlsHandshakeError(HandshakeFailure.PEER_CLOSED, 'the connection closed before the handshake completed'));
  const onAbort = (): void => fail(new TlsHandshakeError(HandshakeFailure.ABORTED, 'cancelled by its signal', { cause: signal?.reason }));
  const onSecure = (): void => {
    const tlsSocket = secure!;
    const authorizationError = authorizePeer(tlsSocket, set.options.requestCert);
    if (authorizationError !== null && set.options.rejectUnauthorized) {
      fail(new TlsHandshakeError(HandshakeFailure.CLIENT_CERTIFICATE, `client certificate refused: ${authorizationError}`, { tlsCode: authorizationError }));
      return;
    }
    settled = true;
    detach();
    // The plaintext socket's own errors (a write queued before the upgrade) end the secure one.
    socket.on('error', (error) => tlsSocket.destroy(error));
    resolve(tlsSocket);
  };
  const timer = setTimeout(() => fail(new TlsHandshakeError(HandshakeFailure.TIMEOUT, `no complete handshake within ${timeout} ms`)), timeout);
  function detach(): void {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    socket.off('error', onError);
    secure?.off('secure', onSecure).off('error', onError).off('end', onPeerEnd).off('close', onClose);
  }

  socket.on('error', onError);
  if (signal?.aborted) {
    onAbort();
    return promise;
  }
  if (socket.destroyed) {
    onClose();
    return promise;
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    secure = new (nodeTls().TLSSocket)(socket, set.socketOptions);
  } catch (error) {
    fail(handshakeFailureOf(error));
    return promise;
  }
  secureClosed = closeEvent(secure);
  secure.disableRenegotiation();
  secure.on('secure', onSecure).on('error', onError).on('end', onPeerEnd).on('close', onClose);
  hooks.wrapped?.(secure);
  return promise;
}

/**
 * Sets `authorized` and `authorizationError` on a server socket after its handshake, as
 * `tls.Server` does for its own sockets (a constructor-made one is left unchecked), and returns
 * the error code, or `null` when the peer is authorized or no certificate was asked for.
 */
export function authorizePeer(socket: TLSSocket, requestCert: boolean): string | null {
  if (!requestCert) return null;
  const ssl = (socket as unknown as { ssl?: { verifyError?: () => { code?: string; message: string } | null } }).ssl;
  let authorizationError: string | null;
  if (typeof ssl?.verifyError !== 'function') {
    authorizationError = VERIFY_RESULT_UNAVAILABLE;
  } else {
    const verifyError = ssl.verifyError();
    if (verifyError) authorizationError = verifyError.code ?? verifyError.message;
    // A TLS 1.3 resumption by PSK verifies without a certificate: require one, as Node does.
    else authorizationError = socket.getPeerX509Certificate() === undefined ? 'UNABLE_TO_GET_ISSUER_CERT' : null;
  }
  const fields = socket as unknown as { authorized: boolean; authorizationError: string | null };
  fields.authorized = authorizationError === null;
  fields.authorizationError = authorizationError;
  return authorizationError;
}

/**
 * Destroys a socket not yet destroyed and resolves once it has closed, its handle released.
 * @internal
 */
export function destroyAndWait(socket: Socket): Promise<void> {
  const closed = closeEvent(socket);
  socket.destroy();
  return closed;
}

function closeEvent(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

function ignore(): void {}
