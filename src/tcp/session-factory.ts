/**
 * Which session class serves a connection, and how it starts: one place for both ends, so a
 * server's accepted socket and a client's connected one get the same sessions from the same
 * handler (event handlers, a session function, or what `framed()` returns).
 */
import type { Socket } from 'node:net';
import { AsyncSession } from './async-session.ts';
import type { ConnectionInfo } from './connection-info.ts';
import { EventSession } from './event-session.ts';
import { InvalidOptionError } from '../core/errors.ts';
import { checkHandlerCallbacks } from '../server/handler-errors.ts';
import { SessionProvider, TCP_EVENT_CALLBACKS, type TcpHandler, type TcpSessionFunction } from './tcp-handlers.ts';
import type { SessionHost, TcpSession } from './tcp-session.ts';

/** Builds the session `handler` serves for a connected socket (it registers its own socket listeners). @internal */
export function createSessionFor(handler: TcpHandler | undefined, id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number): TcpSession {
  if (handler instanceof SessionProvider) return handler.createSession(id, socket, info, host, idleTimeout);
  if (handler === undefined || typeof handler === 'function') return new AsyncSession(id, socket, info, host, idleTimeout);
  return new EventSession(id, socket, info, host, idleTimeout, handler);
}

/**
 * Starts serving a session made by {@link createSessionFor}: the `open` handler, or the session
 * function. Returns false when there is nothing to start (no handler: the caller reads it). @internal
 */
export function startSessionFor(handler: TcpHandler | undefined, session: TcpSession): boolean {
  if (handler instanceof SessionProvider) handler.startSession(session);
  else if (session instanceof EventSession) session.start();
  else if (typeof handler === 'function') (session as AsyncSession).run(handler as TcpSessionFunction);
  else return false;
  return true;
}

/**
 * A handler is an object of event callbacks (each a function, no unknown one) or a session function.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the handler or the misspelt callback
 */
export function checkTcpHandler(handler: unknown): void {
  if (handler === undefined || typeof handler === 'function') return;
  if (typeof handler !== 'object' || handler === null) {
    throw new InvalidOptionError('handler', 'must be an object of event handlers or a session function', handler);
  }
  checkHandlerCallbacks(handler, TCP_EVENT_CALLBACKS);
}
