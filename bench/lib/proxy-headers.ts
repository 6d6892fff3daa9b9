/**
 * The PROXY headers the proxy-connect column sends before each connection's payload (tls-loadgen
 * `-x HEX`): a v1 line, and a v2 header shaped like HAProxy's from a plain frontend (87 bytes:
 * CRC32C, a 41-byte UNIQUE_ID, an SSL TLV saying "no TLS"; research notes §2.4).
 */
import { encodeProxyHeader } from '../../src/proxy/proxy-encoder.ts';

const source = { address: '198.18.0.7', port: 56_208 };
const destination = { address: '127.0.0.1', port: 18_504 };

/** `PROXY TCP4 198.18.0.7 127.0.0.1 56208 18504\r\n`, as hex. */
export const V1_HEADER_HEX = encodeProxyHeader({ version: 1, source, destination }).toString('hex');

/** A v2 TCP4 header with HAProxy's TLVs from a plain frontend, as hex. */
export const V2_HEADER_HEX = encodeProxyHeader({
  version: 2,
  source,
  destination,
  tlvs: { crc32c: true, uniqueId: Buffer.from('198.18.0.7:56208_127.0.0.1:18504_6683B1C2_0000:000004D2'.slice(0, 41)), ssl: { client: 0, verify: 0 } },
}).toString('hex');
