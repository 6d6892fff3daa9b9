/**
 * The PROXY protocol on a TCP listener: the trust decision at accept, and the header read as the
 * first pending stage (before the `accept` handler and the TLS handshake). The header is read in
 * plaintext from the socket's `data` events; whatever follows it in the same segment goes on with
 * the handover, so the next reader — the TLS engine or the session — gets the stream from the
 * first byte after the header, untouched.
 */
import type { Socket } from 'node:net';
import { ErrorCode } from '../core/errors.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import { STAGE_DEFERRED, type PendingStage, type StageTicket } from '../tcp/pending-connections.ts';
import { RejectCause } from '../tcp/reject-reason.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import { proxyHeaderChannel } from '../server/diagnostics.ts';
import { proxiedConnectionInfo, proxyHeaderMessage } from './proxy-info.ts';
import type { NormalizedProxyProtocol } from './proxy-options.ts';
import { ProxyHeaderParser, checkedParserOptions, type ProxyParseResult } from './proxy-parser.ts';
import { ProxyCounters, type ProxyStats } from './proxy-stats.ts';

/** How the accept path treats one connection: read its header, serve it as it is, or refuse it. @internal */
export type ProxyAdmission = 'header' | 'direct' | 'refuse';

/** A TCP server's PROXY protocol: the trust decision, the stage that reads the header, the counters. @internal */
export class TcpProxyProtocol {
  readonly #options: NormalizedProxyProtocol;
  readonly #counters = new ProxyCounters();
  /**
   * The connection {@link admission} last judged trusted: the stage, which starts for it in the
   * same synchronous accept, reads its header without asking the list again (one slot, not a
   * WeakSet: no ephemeron per connection for the GC to trace).
   */
  #trusted: ConnectionInfo | undefined;
  readonly stage: PendingStage;
  /** The server, as `switchboard.proxy.header` names it. */
  readonly server: object;

  constructor(options: NormalizedProxyProtocol, server: object) {
    this.#options = options;
    this.server = server;
    this.stage = headerStage(this, options);
  }

  /**
   * What to do with a connection as it is accepted, by its peer (the balancer, if it is one).
   * Counts the untrusted ones.
   */
  admission(info: ConnectionInfo): ProxyAdmission {
    if (this.#options.trusts(info.remoteAddress, info.remoteFamily)) {
      this.#trusted = info;
      return 'header';
    }
    if (this.#options.untrusted === 'refuse') {
      this.#counters.refused++;
      return 'refuse';
    }
    this.#counters.direct++;
    return 'direct';
  }

  /** Whether the stage must read a header from this connection: {@link admission} said so, just before. */
  trusts(info: ConnectionInfo): boolean {
    if (this.#trusted !== info) return false;
    this.#trusted = undefined;
    return true;
  }

  get counters(): ProxyCounters {
    return this.#counters;
  }

  stats(): ProxyStats {
    return this.#counters.snapshot();
  }
}

/**
 * The header read as a stage: for a trusted peer, passes the connection on with the ends the
 * header names (`proxy` set) or refuses it (`proxy-header`, the `ProxyProtocolError` as `error`);
 * past the deadline `proxy-timeout`. A connection served direct passes untouched.
 *
 * The read is flowing: a shared `data` listener feeds each chunk to the connection's parser as
 * the socket receives it and, once the header is complete (in the common case, in the first
 * chunk), settles the stage in that same call with the bytes after the header, so the next stage
 * or the session starts at once, the socket still flowing. No promise, no closure, no timer per
 * connection (the pending stage's sweep keeps the deadline).
 */
function headerStage(protocol: TcpProxyProtocol, options: NormalizedProxyProtocol): PendingStage {
  const parserOptions = checkedParserOptions({ versions: options.versions, maxHeaderBytes: options.maxHeaderBytes });
  const counters = protocol.counters;
  return {
    name: 'PROXY header',
    timeout: options.timeout,
    timeoutReason: RejectCause.PROXY_TIMEOUT,
    failureReason: RejectCause.PROXY_HEADER,
    timeoutError(info) {
      counters.failed(ErrorCode.PROXY_TIMEOUT);
      const error = new ProxyProtocolError(ErrorCode.PROXY_TIMEOUT, undefined, `no complete header from ${info.remoteAddress}:${info.remotePort} within ${options.timeout} ms`);
      if (proxyHeaderChannel.hasSubscribers) proxyHeaderChannel.publish(proxyHeaderMessage(protocol.server, 'tcp', info, undefined, error));
      return error;
    },
    start(ticket) {
      if (!protocol.trusts(ticket.info)) return undefined;
      const socket = ticket.socket as HeaderSocket;
      socket[kHeaderRead] = new HeaderRead(ticket, new ProxyHeaderParser(parserOptions), protocol);
      socket.on('data', onHeaderData);
      socket.on('end', onHeaderEnd);
      return STAGE_DEFERRED;
    },
    stop(ticket) {
      detach(ticket.socket as HeaderSocket);
    },
  };
}

const kHeaderRead = Symbol('switchboard.proxy-header-read');
type HeaderSocket = Socket & { [kHeaderRead]?: HeaderRead | undefined };

/** One connection's header read: its ticket, its parser, the server's PROXY protocol (counters, server). */
class HeaderRead {
  readonly ticket: StageTicket;
  readonly parser: ProxyHeaderParser;
  readonly protocol: TcpProxyProtocol;

  constructor(ticket: StageTicket, parser: ProxyHeaderParser, protocol: TcpProxyProtocol) {
    this.ticket = ticket;
    this.parser = parser;
    this.protocol = protocol;
  }
}

// Shared listeners (no closure per socket), the connection's read found on the socket.
function onHeaderData(this: HeaderSocket, chunk: Buffer): void {
  const read = this[kHeaderRead];
  if (read === undefined) return;
  const result = read.parser.push(chunk);
  if (result.state !== 'partial') settle(this, read, result);
}

function onHeaderEnd(this: HeaderSocket): void {
  const read = this[kHeaderRead];
  if (read !== undefined) settle(this, read, read.parser.finish());
}

function detach(socket: HeaderSocket): void {
  socket.off('data', onHeaderData);
  socket.off('end', onHeaderEnd);
  socket[kHeaderRead] = undefined;
}

/**
 * Counts the outcome and answers the stage. On success the socket is left flowing and the bytes
 * after the header go with the handover (`unread`): the pending stage gives them to the session
 * as its first data, or, before a later stage (the TLS engine), pauses the socket and puts them
 * back in front of its buffer. Either way whoever reads next gets them first, exactly once.
 */
function settle(socket: HeaderSocket, read: HeaderRead, result: Exclude<ProxyParseResult, { state: 'partial' }>): void {
  detach(socket);
  const { ticket, protocol } = read;
  const info = ticket.info;
  if (result.state === 'failed') {
    protocol.counters.failed(result.error.code);
    if (proxyHeaderChannel.hasSubscribers) proxyHeaderChannel.publish(proxyHeaderMessage(protocol.server, 'tcp', info, undefined, result.error));
    return ticket.settle({ cause: RejectCause.PROXY_HEADER, error: result.error });
  }
  const header = result.header;
  protocol.counters.parsed(header);
  if (proxyHeaderChannel.hasSubscribers) proxyHeaderChannel.publish(proxyHeaderMessage(protocol.server, 'tcp', info, header, undefined));
  ticket.settle({ socket, info: proxiedConnectionInfo(info, header), unread: result.rest });
}
