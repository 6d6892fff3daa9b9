/**
 * A TCP handler that can be swapped while its server keeps listening: each session stays with
 * the handler it opened under, new sessions get the current one. This is how `up`'s reload
 * changes a service's program or module without closing its listening socket, so no connection
 * is refused. Only handlers of the same shape swap: the same style (event object or session
 * function) and, for event objects, the same callbacks (their presence changes what the server
 * does: without `end` it half-closes, without `timeout` it closes idle sessions).
 */
import type { EventSession, TcpEventHandler, TcpHandler, TcpSessionFunction } from '../../index.ts';
import { SessionProvider } from '../../tcp/tcp-handlers.ts';

const CALLBACKS = ['accept', 'open', 'data', 'drain', 'end', 'timeout', 'error', 'close'] as const;

/** What a handler looks like to the server: swappable in place only for one of the same shape. */
export function handlerShape(handler: TcpHandler): string {
  if (handler instanceof SessionProvider) return 'framed';
  if (typeof handler === 'function') return 'session';
  return `event:${CALLBACKS.filter((name) => name !== 'open' && typeof (handler as TcpEventHandler)[name] === 'function').join(',')}`;
}

/** A swappable handler, or undefined for one that cannot be wrapped (framed: the server's sessions are the codec's). */
export class HandlerSlot {
  readonly handler: TcpHandler;
  readonly shape: string;
  #current: TcpHandler;

  private constructor(initial: TcpHandler, handler: TcpHandler) {
    this.#current = initial;
    this.handler = handler;
    this.shape = handlerShape(initial);
  }

  /** A slot serving `initial`, or undefined when its style cannot be swapped. */
  static for(initial: TcpHandler): HandlerSlot | undefined {
    if (initial instanceof SessionProvider) return undefined;
    if (typeof initial === 'function') {
      let slot: HandlerSlot | undefined = undefined;
      const delegate: TcpSessionFunction = (session) => (slot!.#current as TcpSessionFunction)(session);
      slot = new HandlerSlot(initial, delegate);
      return slot;
    }
    const owners = new WeakMap<EventSession, TcpEventHandler>();
    const delegate: Record<string, unknown> = {};
    let slot: HandlerSlot | undefined = undefined;
    const ownerOf = (session: EventSession): TcpEventHandler => owners.get(session) ?? (slot!.#current as TcpEventHandler);
    // `open` is always there (an empty one changes nothing): it records which handler a session is under.
    delegate.open = (session: EventSession) => {
      const owner = slot!.#current as TcpEventHandler;
      owners.set(session, owner);
      return owner.open?.call(owner, session);
    };
    for (const name of CALLBACKS) {
      if (name === 'open' || typeof (initial as TcpEventHandler)[name] !== 'function') continue;
      delegate[name] = (session: EventSession, ...rest: unknown[]) => {
        // `accept` sees the connection before its session exists: the current handler answers it.
        const owner = name === 'accept' ? (slot!.#current as TcpEventHandler) : ownerOf(session);
        return (owner[name] as (...args: unknown[]) => unknown).call(owner, session, ...rest);
      };
    }
    slot = new HandlerSlot(initial, delegate as TcpEventHandler);
    return slot;
  }

  /** Serves `next` to sessions from now on; false (nothing changes) when its shape differs. */
  swap(next: TcpHandler): boolean {
    if (handlerShape(next) !== this.shape) return false;
    this.#current = next;
    return true;
  }
}
