/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the PROXY v2
 * `PP2_TYPE_CRC32C` TLV, computed one byte at a time from a 256-entry table (RFC 4960 Appendix B).
 */

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index++) {
    let crc = index;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    table[index] = crc >>> 0;
  }
  return table;
}

/**
 * Continues a CRC-32C over `bytes[start, end)`. Start from {@link CRC32C_INITIAL} and finish with
 * {@link crc32cFinal}, so a checksum can be computed over pieces without joining them.
 */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let value = crc;
  for (let index = start; index < end; index++) value = TABLE[(value ^ bytes[index]!) & 0xff]! ^ (value >>> 8);
  return value;
}

/** The running value a CRC-32C starts from. */
export const CRC32C_INITIAL = 0xffffffff;

/** The checksum of a running value, as an unsigned 32-bit integer. */
export function crc32cFinal(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The CRC-32C of `bytes`, as an unsigned 32-bit integer.
 * @example
 * crc32c(Buffer.from('123456789')); // 0xe3069283
 */
export function crc32c(bytes: Uint8Array): number {
  return crc32cFinal(crc32cUpdate(CRC32C_INITIAL, bytes));
}
