/**
 * The PROXY protocol (v1 and v2), pure: a streaming header parser and an encoder, with no sockets.
 * The package root re-exports it with the listener option's types (docs/proxy-protocol.md).
 */
export { ProxyHeaderParser, parseProxyHeader } from './proxy-parser.ts';
export type { ProxyCompleteResult, ProxyFailedResult, ProxyParseResult, ProxyParserOptions, ProxyPartialResult } from './proxy-parser.ts';
export { encodeProxyHeader } from './proxy-encoder.ts';
export { ProxyProtocolError } from './proxy-error.ts';
export type { ProxyErrorCode } from './proxy-error.ts';
export { crc32c } from './crc32c.ts';
export { DEFAULT_MAX_PROXY_HEADER_BYTES } from './proxy-header.ts';
export type {
  ProxyAddress,
  ProxyAddressInit,
  ProxyCommand,
  ProxyFamily,
  ProxyHeader,
  ProxyHeaderInit,
  ProxyInetAddress,
  ProxyRawTlv,
  ProxyRawTlvInit,
  ProxySslInfo,
  ProxySslInit,
  ProxyTlvs,
  ProxyTlvsInit,
  ProxyTransport,
  ProxyUnixAddress,
} from './proxy-header.ts';
