/**
 * What a PROXY protocol header says (HAProxy's `doc/proxy-protocol.txt`), as the parser reports
 * it and the encoder takes it, plus the wire constants both share.
 */

/** Who opened the connection: `proxy` relays a client; `local` is the balancer's own (a health check). */
export type ProxyCommand = 'proxy' | 'local';

/** The family of the relayed connection; `unspec` means the header names no addresses. */
export type ProxyFamily = 'IPv4' | 'IPv6' | 'unix' | 'unspec';

/** The transport of the relayed connection: `stream` is TCP or a UNIX stream, `dgram` UDP or a UNIX datagram socket. */
export type ProxyTransport = 'stream' | 'dgram' | 'unspec';

/** An IPv4 or IPv6 endpoint, in the text Node uses for `remoteAddress` (`::ffff:10.0.0.1`, `2001:db8::1`). */
export interface ProxyInetAddress {
  readonly family: 'IPv4' | 'IPv6';
  readonly address: string;
  readonly port: number;
}

/** A UNIX socket endpoint: a path, `''` for an unnamed socket, or `'\0name'` in the abstract namespace. */
export interface ProxyUnixAddress {
  readonly family: 'unix';
  readonly path: string;
}

/** One endpoint of the relayed connection. */
export type ProxyAddress = ProxyInetAddress | ProxyUnixAddress;

/** A TLV the parser does not interpret, kept as it came: application (0xE0-0xEF), experimental, future or unassigned types. */
export interface ProxyRawTlv {
  readonly type: number;
  readonly value: Buffer;
}

/** What the balancer knew about the client's TLS connection (`PP2_TYPE_SSL`). */
export interface ProxySslInfo {
  /** The `client` bit field as sent: 0x01 TLS, 0x02 certificate on this connection, 0x04 certificate in this session. */
  readonly client: number;
  /** The `verify` field as sent: 0 when the client's certificate was verified. */
  readonly verify: number;
  /** The client connected over TLS (`PP2_CLIENT_SSL`). */
  readonly tls: boolean;
  /** The client presented a certificate on this connection (`PP2_CLIENT_CERT_CONN`). */
  readonly certificateOnConnection: boolean;
  /** The client presented a certificate at least once in this TLS session (`PP2_CLIENT_CERT_SESS`). */
  readonly certificateInSession: boolean;
  /** A client certificate was presented and verified: `verify` is 0 and one of the certificate bits is set. */
  readonly verified: boolean;
  /** The TLS version, e.g. `TLSv1.3` (`PP2_SUBTYPE_SSL_VERSION`). */
  readonly version: string | undefined;
  /** The Common Name of the client certificate's subject (`PP2_SUBTYPE_SSL_CN`). */
  readonly cn: string | undefined;
  /** The cipher, e.g. `TLS_AES_256_GCM_SHA384` (`PP2_SUBTYPE_SSL_CIPHER`). */
  readonly cipher: string | undefined;
  /** The signature algorithm of the certificate the balancer presented, e.g. `ecdsa-with-SHA256` (`PP2_SUBTYPE_SSL_SIG_ALG`). */
  readonly sigAlg: string | undefined;
  /** The key algorithm of that certificate, e.g. `EC256` (`PP2_SUBTYPE_SSL_KEY_ALG`). */
  readonly keyAlg: string | undefined;
  /** Sub-TLVs of other types, kept raw. */
  readonly unknown: readonly ProxyRawTlv[];
}

/** The TLVs of a v2 header; a v1 header has none (every field undefined, `crc32c` false). */
export interface ProxyTlvs {
  /** The application protocol, e.g. `h2` (`PP2_TYPE_ALPN`), one character per byte as Node's `alpnProtocol`. */
  readonly alpn: string | undefined;
  /** The host name the client asked for: TLS SNI or another authority (`PP2_TYPE_AUTHORITY`, UTF-8). */
  readonly authority: string | undefined;
  /** A CRC32C TLV was present and matched (a mismatch rejects the header). */
  readonly crc32c: boolean;
  /** The balancer's opaque connection id, at most 128 bytes (`PP2_TYPE_UNIQUE_ID`). */
  readonly uniqueId: Buffer | undefined;
  /** The client's TLS connection as the balancer saw it (`PP2_TYPE_SSL`). */
  readonly ssl: ProxySslInfo | undefined;
  /** The network namespace the balancer accepted the client in (`PP2_TYPE_NETNS`). */
  readonly netns: string | undefined;
  /** TLVs of other types, in the order they came. NOOP TLVs are skipped, as the spec says. */
  readonly unknown: readonly ProxyRawTlv[];
}

/**
 * A parsed PROXY header. `source` and `destination` are set exactly when the connection is to be
 * attributed to them (the PROXY command with an IPv4, IPv6 or UNIX family); otherwise the real
 * connection's endpoints apply (`local`, v2 `unspec`, v1 `UNKNOWN`).
 */
export interface ProxyHeader {
  readonly version: 1 | 2;
  readonly command: ProxyCommand;
  /** `unspec` for LOCAL, whose family the spec says to ignore. */
  readonly family: ProxyFamily;
  readonly transport: ProxyTransport;
  /** The client: the relayed connection's source. */
  readonly source: ProxyAddress | undefined;
  /** The address the client connected to, on the balancer. */
  readonly destination: ProxyAddress | undefined;
  readonly tlvs: ProxyTlvs;
}

/** An endpoint to encode: `{ address, port }` (the family follows from the address) or `{ path }`. */
export type ProxyAddressInit =
  | { readonly family?: 'IPv4' | 'IPv6'; readonly address: string; readonly port: number }
  | { readonly family?: 'unix'; readonly path: string };

/** A raw TLV to encode. */
export interface ProxyRawTlvInit {
  readonly type: number;
  readonly value: Uint8Array;
}

/** The SSL TLV to encode; a parsed {@link ProxySslInfo} is one. */
export interface ProxySslInit {
  /** The `client` bit field. @default 0x01 (the client connected over TLS) */
  readonly client?: number;
  /** The `verify` field, 0 for a verified client certificate. @default 0 (what HAProxy sends without one) */
  readonly verify?: number;
  readonly version?: string | undefined;
  readonly cn?: string | undefined;
  readonly cipher?: string | undefined;
  readonly sigAlg?: string | undefined;
  readonly keyAlg?: string | undefined;
  /** Sub-TLVs of types other than 0x21-0x25. */
  readonly unknown?: readonly ProxyRawTlvInit[];
}

/** The TLVs to encode (v2 only); a parsed {@link ProxyTlvs} is one. */
export interface ProxyTlvsInit {
  readonly alpn?: string | undefined;
  readonly authority?: string | undefined;
  /** Append a CRC32C TLV computed over the finished header. @default false */
  readonly crc32c?: boolean;
  readonly uniqueId?: Uint8Array | undefined;
  readonly ssl?: ProxySslInit | undefined;
  readonly netns?: string | undefined;
  /** Append a NOOP TLV with this many zero bytes, for padding. @default none */
  readonly noop?: number;
  /** TLVs of types the spec does not assign (application 0xE0-0xEF and the like). */
  readonly unknown?: readonly ProxyRawTlvInit[];
}

/** A header to encode; a parsed {@link ProxyHeader} is one, so a header re-encodes as it parsed. */
export interface ProxyHeaderInit {
  readonly version: 1 | 2;
  /** @default 'proxy' (v1 has no LOCAL) */
  readonly command?: ProxyCommand;
  /** @default the addresses' family, or `unspec` without addresses */
  readonly family?: ProxyFamily;
  /** @default `stream` with addresses, `unspec` without */
  readonly transport?: ProxyTransport;
  /** Give both endpoints or neither; without them v1 sends `UNKNOWN` and v2 the UNSPEC family. */
  readonly source?: ProxyAddressInit | undefined;
  readonly destination?: ProxyAddressInit | undefined;
  readonly tlvs?: ProxyTlvsInit;
}

/** The v1 signature: `PROXY`. */
export const V1_SIGNATURE = Buffer.from('PROXY', 'latin1');

/** The v2 signature: `\r\n\r\n\0\r\nQUIT\n`. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** The longest v1 line the spec allows, CRLF included. */
export const V1_MAX_LENGTH = 107;

/** The fixed part of a v2 header: signature, version and command, family, length. */
export const V2_FIXED_LENGTH = 16;

/** The largest v2 header the length field can describe. */
export const V2_MAX_LENGTH = V2_FIXED_LENGTH + 0xffff;

/** The default {@link ProxyParserOptions.maxHeaderBytes}: 4 KiB, as go-proxyproto. */
export const DEFAULT_MAX_PROXY_HEADER_BYTES = 4096;

/** The longest `PP2_TYPE_UNIQUE_ID` value the spec allows. */
export const MAX_UNIQUE_ID_LENGTH = 128;

/** Bytes of one UNIX address in a v2 header (`sun_path`). */
export const UNIX_PATH_LENGTH = 108;

/** TLV types of the spec (section 2.2). */
export const TlvType = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  SSL_SIG_ALG: 0x24,
  SSL_KEY_ALG: 0x25,
  NETNS: 0x30,
} as const;

/** Bits of the SSL TLV's `client` field. */
export const SslClient = { SSL: 0x01, CERT_CONN: 0x02, CERT_SESS: 0x04 } as const;

/** A v1 header, or v2 TLVs absent: nothing at all. */
export const NO_TLVS: ProxyTlvs = Object.freeze({
  alpn: undefined,
  authority: undefined,
  crc32c: false,
  uniqueId: undefined,
  ssl: undefined,
  netns: undefined,
  unknown: Object.freeze([]) as readonly ProxyRawTlv[],
});
