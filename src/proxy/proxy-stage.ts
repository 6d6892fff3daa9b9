/**
 * The PROXY protocol on a TCP listener: the trust decision at accept, and the header read as the
 * first pending stage (before the `accept` handler and the TLS handshake). The header is read in
 * plaintext from the socket's `data` events; whatever follows it in the same segment goes on with
 * the handover, so the next reader -- the TLS engine or the session -- gets the stream from the
 * first byte after the header, untouched.
 */
import type { Socket } from 'node:net';
import { ErrorCode } from '../core/errors.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import { STAGE_DEFERRED, type PendingStage, type StageTicket } from '../tcp/pending-connections.ts';
import { ownerOf, type SocketOwner } from '../tcp/socket-owner.ts';
import { RejectCause } from '../tcp/reject-reason.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import { proxyHeaderChannel } from '../server/diagnostics.ts';
import { proxiedConnectionInfo, proxyHeaderMessage } from './proxy-info.ts';
import type { NormalizedProxyProtocol } from './proxy-options.ts';
import { ProxyHeaderParser, checkedParserOptions, parseFirstChunk, parserLimits, type ParserLimits, type ProxyParseResult, type ProxyParserOptions } from './proxy-parser.ts';
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
  /** The header parser's options, checked once, and what they come to. */
  readonly parserOptions: ProxyParserOptions;
  readonly parserLimits: ParserLimits;

  constructor(options: NormalizedProxyProtocol, server: object) {
    this.#options = options;
    this.server = server;
    this.parserOptions = checkedParserOptions({ versions: options.versions, maxHeaderBytes: options.maxHeaderBytes });
    this.parserLimits = parserLimits(this.parserOptions);
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
 * The read is flowing: a shared `data` listener reads each chunk as the socket receives it and,
 * once the header is complete, settles the stage in that same call with the bytes after the
 * header, so the next stage or the session starts at once, the socket still flowing. In the common
 * case the whole header is in the first chunk, which is parsed where it lies: no parser object,
 * no promise, no closure, no timer per connection (the pending stage's sweep keeps the deadline).
 * Only a header split over chunks gets a {@link ProxyHeaderParser}, which holds its beginning.
 */
function headerStage(protocol: TcpProxyProtocol, options: NormalizedProxyProtocol): PendingStage {
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
      ticket.stageState = protocol; // no byte yet
      ticket.socket.on('data', onHeaderData);
      return STAGE_DEFERRED;
    },
    stop(ticket) {
      detach(ticket);
    },
    ended(ticket) {
      const state = ticket.stageState as HeaderState | undefined;
      if (state === undefined) return;
      if (state instanceof HeaderRead) settle(ticket, state.protocol, state.parser.finish());
      else settle(ticket, state, new ProxyHeaderParser(state.parserOptions).finish());
    },
  };
}

/** A header split over chunks: the parser holding its beginning, and the server's PROXY protocol (counters, server). */
class HeaderRead {
  readonly parser: ProxyHeaderParser;
  readonly protocol: TcpProxyProtocol;

  constructor(parser: ProxyHeaderParser, protocol: TcpProxyProtocol) {
    this.parser = parser;
    this.protocol = protocol;
  }
}

/** A connection's header read: the protocol itself until the first chunk, then a {@link HeaderRead} if that chunk did not decide. */
type HeaderState = TcpProxyProtocol | HeaderRead;

// A shared listener (no closure per socket): the connection's read is its ticket's, found through
// the socket's owner (the pending stage hears the peer's FIN for it: `ended`).
function onHeaderData(this: Socket, chunk: Buffer): void {
  const ticket = ownerOf<SocketOwner & StageTicket>(this);
  const state = ticket.stageState as HeaderState | undefined;
  if (state === undefined) return;
  if (state instanceof HeaderRead) {
    const result = state.parser.push(chunk);
    if (result.state !== 'partial') settle(ticket, state.protocol, result);
    return;
  }
  const result = parseFirstChunk(chunk, state.parserLimits);
  if (result !== undefined) return settle(ticket, state, result);
  const parser = new ProxyHeaderParser(state.parserOptions);
  parser.push(chunk); // partial, as the chunk just was: the parser holds it
  ticket.stageState = new HeaderRead(parser, state);
}

function detach(ticket: StageTicket): void {
  ticket.socket.off('data', onHeaderData);
  ticket.stageState = undefined;
}

/**
 * Counts the outcome and answers the stage. On success the socket is left flowing and the bytes
 * after the header go with the handover (`unread`): the pending stage gives them to the session
 * as its first data, or, before a later stage (the TLS engine), pauses the socket and puts them
 * back in front of its buffer. Either way whoever reads next gets them first, exactly once.
 */
function settle(ticket: StageTicket, protocol: TcpProxyProtocol, result: Exclude<ProxyParseResult, { state: 'partial' }>): void {
  detach(ticket);
  const socket = ticket.socket;
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
