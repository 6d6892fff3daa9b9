/**
 * The PROXY protocol on a TCP listener: the trust decision at accept, and the header read as the
 * first pending stage (before the `accept` handler and the TLS handshake). The header is read in
 * plaintext with `read()`; whatever follows it in the same segment is put back with `unshift()`,
 * so the next reader — the TLS engine or the session — gets the stream from the first byte after
 * the header, untouched.
 */
import type { Socket } from 'node:net';
import { ErrorCode } from '../core/errors.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import type { PendingStage, StageVerdict } from '../tcp/pending-connections.ts';
import { RejectCause } from '../tcp/reject-reason.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import { endsAfterHeader, proxyInfoOf } from './proxy-info.ts';
import type { NormalizedProxyProtocol } from './proxy-options.ts';
import { ProxyHeaderParser, checkedParserOptions, type ProxyParseResult } from './proxy-parser.ts';
import { ProxyCounters, type ProxyStats } from './proxy-stats.ts';

/** How the accept path treats one connection: read its header, serve it as it is, or refuse it. @internal */
export type ProxyAdmission = 'header' | 'direct' | 'refuse';

/** A TCP server's PROXY protocol: the trust decision, the stage that reads the header, the counters. @internal */
export class TcpProxyProtocol {
  readonly #options: NormalizedProxyProtocol;
  readonly #counters = new ProxyCounters();
  /** Connections judged trusted at accept, so the stage reads their header without asking the list again. */
  readonly #trusted = new WeakSet<ConnectionInfo>();
  readonly stage: PendingStage;

  constructor(options: NormalizedProxyProtocol) {
    this.#options = options;
    this.stage = headerStage(this, options);
  }

  /**
   * What to do with a connection as it is accepted, by its peer (the balancer, if it is one).
   * Counts the untrusted ones.
   */
  admission(info: ConnectionInfo): ProxyAdmission {
    if (this.#options.trusts(info.remoteAddress, info.remoteFamily)) {
      this.#trusted.add(info);
      return 'header';
    }
    if (this.#options.untrusted === 'refuse') {
      this.#counters.refused++;
      return 'refuse';
    }
    this.#counters.direct++;
    return 'direct';
  }

  /** Whether the stage must read a header from this connection: {@link admission} said so. */
  trusts(info: ConnectionInfo): boolean {
    return this.#trusted.has(info);
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
      return new ProxyProtocolError(ErrorCode.PROXY_TIMEOUT, undefined, `no complete header from ${info.remoteAddress}:${info.remotePort} within ${options.timeout} ms`);
    },
    run(info, signal, socket) {
      if (!protocol.trusts(info)) return undefined;
      return readHeader(socket, info, new ProxyHeaderParser(parserOptions), signal, counters);
    },
  };
}

/**
 * Reads the header off `socket`, leaving every byte after it unread there, and counts the
 * outcome. Once `signal` has aborted (the deadline, a reset, the server closing) the pending
 * stage has closed the socket: whatever arrives after that is ignored, and the promise never settles.
 */
function readHeader(socket: Socket, info: ConnectionInfo, parser: ProxyHeaderParser, signal: AbortSignal, counters: ProxyCounters): Promise<StageVerdict> {
  return new Promise((resolve) => {
    const stop = (): void => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
    };
    const settle = (result: Exclude<ProxyParseResult, { state: 'partial' }>): void => {
      stop();
      if (result.state === 'failed') {
        counters.failed(result.error.code);
        return resolve({ cause: RejectCause.PROXY_HEADER, error: result.error });
      }
      const header = result.header;
      counters.parsed(header);
      if (result.rest.length > 0) socket.unshift(result.rest);
      const peer = { address: info.remoteAddress, port: info.remotePort, family: info.remoteFamily };
      resolve({ socket, info: { ...endsAfterHeader(info, header), proxy: proxyInfoOf(header, peer) } });
    };
    const onReadable = (): void => {
      if (signal.aborted) return stop();
      // Reading exactly what is buffered never schedules the stream's 'end': a peer that sent its
      // header and FIN together still has its 'end' heard by the session, not lost in between.
      while (socket.readableLength > 0) {
        const result = parser.push(socket.read(socket.readableLength) as Buffer);
        if (result.state !== 'partial') return settle(result);
      }
      socket.read(); // nothing buffered, the header incomplete: at EOF this emits 'end', which refuses it
    };
    const onEnd = (): void => {
      if (signal.aborted) return stop();
      settle(parser.finish());
    };
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
  });
}
