import { ErrorCode, SwitchboardError } from '../core/errors.ts';

/** The codes a {@link ProxyProtocolError} carries. */
export type ProxyErrorCode =
  | typeof ErrorCode.PROXY_HEADER_MISSING
  | typeof ErrorCode.PROXY_VERSION_REFUSED
  | typeof ErrorCode.PROXY_BAD_HEADER
  | typeof ErrorCode.PROXY_HEADER_TOO_LARGE
  | typeof ErrorCode.PROXY_CHECKSUM_MISMATCH
  | typeof ErrorCode.PROXY_TRUNCATED
  | typeof ErrorCode.PROXY_TIMEOUT;

/**
 * A PROXY protocol header that cannot be accepted; `code` says why and `version` which
 * version's rules were broken (undefined before the signature told them apart).
 * @example
 * const result = parser.push(chunk);
 * if (result.state === 'failed' && result.error.code === 'SWB_ERR_PROXY_HEADER_MISSING') log('not from the balancer');
 */
export class ProxyProtocolError extends SwitchboardError {
  declare readonly code: ProxyErrorCode;
  declare readonly version: 1 | 2 | undefined;

  constructor(code: ProxyErrorCode, version: 1 | 2 | undefined, message: string) {
    super(code, version === undefined ? `PROXY header: ${message}` : `PROXY v${version} header: ${message}`);
    this.version = version;
  }
}
