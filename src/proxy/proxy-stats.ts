/**
 * The PROXY counters of one server, as `stats().proxy` reports them: plain integers, so a
 * metrics exporter reads them as they are.
 */
import { ErrorCode } from '../core/errors.ts';
import type { ProxyErrorCode } from './proxy-error.ts';
import type { ProxyHeader } from './proxy-header.ts';

/** `stats().proxy`: headers read, headers refused by code, and sources outside `from`. */
export interface ProxyStats {
  /** Complete, valid headers by version (LOCAL ones included). */
  readonly headers: { readonly v1: number; readonly v2: number };
  /** Of those, LOCAL headers (the balancer's own connections, health checks): served with the real addresses. */
  readonly local: number;
  /** Headers refused (each connection refused, or datagram dropped), by code; `SWB_ERR_PROXY_TIMEOUT` counts deadlines. */
  readonly failures: Readonly<Record<ProxyErrorCode, number>>;
  /** Connections (datagrams) from sources outside `from`: refused, or served direct. */
  readonly untrusted: { readonly refused: number; readonly direct: number };
}

const FAILURE_CODES: readonly ProxyErrorCode[] = [
  ErrorCode.PROXY_HEADER_MISSING,
  ErrorCode.PROXY_VERSION_REFUSED,
  ErrorCode.PROXY_BAD_HEADER,
  ErrorCode.PROXY_HEADER_TOO_LARGE,
  ErrorCode.PROXY_CHECKSUM_MISMATCH,
  ErrorCode.PROXY_TRUNCATED,
  ErrorCode.PROXY_TIMEOUT,
];

/** The mutable counters behind {@link ProxyStats}. @internal */
export class ProxyCounters {
  v1 = 0;
  v2 = 0;
  local = 0;
  refused = 0;
  direct = 0;
  readonly #failures = Object.fromEntries(FAILURE_CODES.map((code) => [code, 0])) as Record<ProxyErrorCode, number>;

  parsed(header: ProxyHeader): void {
    if (header.version === 1) this.v1++;
    else this.v2++;
    if (header.command === 'local') this.local++;
  }

  failed(code: ProxyErrorCode): void {
    this.#failures[code]++;
  }

  snapshot(): ProxyStats {
    return {
      headers: { v1: this.v1, v2: this.v2 },
      local: this.local,
      failures: { ...this.#failures },
      untrusted: { refused: this.refused, direct: this.direct },
    };
  }
}
