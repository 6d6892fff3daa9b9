/**
 * The STARTTLS rule every STARTTLS bug breaks: plaintext read after the command must never reach
 * the TLS layer or the application. A client that follows the protocol sends nothing after the
 * command until it reads the server's go-ahead, so any byte already received at that point was
 * pipelined, possibly injected by a man in the middle (the CVE-2011-0411 class). Such a
 * connection is closed, the bytes discarded unread.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ErrorCode, InvalidOptionError, SwitchboardError } from '../core/errors.ts';
import { HandshakeFailure, TlsHandshakeError } from './handshake-error.ts';
import { destroyAndWait, handshakeSettings, startHandshake, type HandshakeHooks, type HandshakeOptions, type HandshakeSettings } from './handshake.ts';
import type { TlsContexts, TlsContextSet } from './secure-contexts.ts';
import { isTlsSocket } from '../core/builtins.ts';

/** Options of {@link upgradeToTls}. */
export interface UpgradeToTlsOptions extends HandshakeOptions {
  /**
   * What the caller's parser holds after the command (its unparsed bytes, or their count).
   * Anything but empty closes the connection. @default 0
   */
  buffered?: number | Uint8Array;
  /** The go-ahead reply (`220 Ready to start TLS\r\n`), written only once no plaintext is pending. */
  goAhead?: string | Uint8Array;
}

/**
 * Upgrades a plaintext connection after a STARTTLS command: checks that no plaintext followed
 * the command, writes the go-ahead, then runs the handshake of `handshake()` (same deadline,
 * same errors).
 *
 * Call it in the same turn as parsing the command, after removing every `data` and `readable`
 * listener of the socket (it pauses the socket itself), and let it write the go-ahead: a
 * go-ahead written earlier lets the client's ClientHello arrive before the check, and a reader
 * left attached would consume the handshake.
 *
 * Errors: `SWB_ERR_TLS_INVALID_STATE` when the socket is already TLS, closed, or still has a
 * reader (the socket is left as it was); {@link TlsHandshakeError} `SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS`
 * when bytes followed the command (the socket is closed first); otherwise those of `handshake()`.
 * @throws {InvalidOptionError} synchronously for a malformed option
 * @example
 * socket.off('data', onCommand);
 * const secure = await upgradeToTls(socket, contexts, { buffered: parser.rest, goAhead: '220 Go ahead\r\n' });
 */
export function upgradeToTls(socket: Socket, contexts: TlsContexts | TlsContextSet, options: UpgradeToTlsOptions = {}): Promise<TLSSocket> {
  const { buffered = 0, goAhead, ...handshakeOptions } = options;
  checkUpgradeOptions(buffered, goAhead);
  return startUpgrade(socket, handshakeSettings(contexts, handshakeOptions), buffered, goAhead);
}

/**
 * Checks `buffered` and `goAhead` of {@link upgradeToTls}.
 * @throws {InvalidOptionError} for a malformed one
 * @internal
 */
export function checkUpgradeOptions(buffered: unknown, goAhead: unknown): void {
  if (!(typeof buffered === 'number' && Number.isInteger(buffered) && buffered >= 0) && !(buffered instanceof Uint8Array)) {
    throw new InvalidOptionError('buffered', 'must be a non-negative integer or a Uint8Array', buffered);
  }
  if (goAhead !== undefined && typeof goAhead !== 'string' && !(goAhead instanceof Uint8Array)) {
    throw new InvalidOptionError('goAhead', 'must be a string or a Uint8Array', goAhead);
  }
}

/** {@link upgradeToTls} with its options checked; `hooks` hear of the wrap and a failure first. @internal */
export function startUpgrade(socket: Socket, settings: HandshakeSettings, buffered: number | Uint8Array, goAhead: string | Uint8Array | undefined, hooks: HandshakeHooks = {}): Promise<TLSSocket> {
  if (isTlsSocket(socket)) return Promise.reject(invalidState('the connection is already TLS'));
  if (socket.destroyed) return Promise.reject(invalidState('the connection is closed'));
  if (socket.listenerCount('data') > 0 || socket.listenerCount('readable') > 0) {
    return Promise.reject(invalidState('the plaintext reader is still attached: remove its `data` and `readable` listeners first'));
  }
  socket.pause();
  const pending = socket.readableLength + (typeof buffered === 'number' ? buffered : buffered.length);
  if (pending > 0) {
    const error = new TlsHandshakeError(HandshakeFailure.PLAINTEXT_AFTER_STARTTLS, `${pending} bytes of plaintext followed the STARTTLS command; the connection is closed and they are discarded`);
    hooks.failed?.(error);
    return destroyAndWait(socket).then(() => Promise.reject(error));
  }
  // After the check and before the wrap, in this same turn: Node sends TLS records only after
  // writes the plaintext socket still has queued, so the reply leaves first.
  if (goAhead !== undefined) socket.write(goAhead);
  return startHandshake(socket, settings, hooks);
}

/** A `SWB_ERR_TLS_INVALID_STATE` error: `STARTTLS refused: the connection is already TLS`. @internal */
export function invalidState(reason: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.TLS_INVALID_STATE, `STARTTLS refused: ${reason}`);
}
