/**
 * Time (RFC 868): the time as a 32-bit big-endian count of seconds since 1900-01-01 00:00 UTC.
 * The count wraps in 2036, as the RFC's field does; clients resolve the era.
 */
import type { ServiceDefinition } from './service.ts';

/** Seconds from 1900-01-01 to 1970-01-01 (RFC 868's own example: 2,208,988,800). */
export const RFC868_EPOCH_OFFSET = 2_208_988_800;

/**
 * The 4-byte RFC 868 time for `epochMs` (milliseconds since 1970).
 * @example
 * encodeRfc868Time(0).readUInt32BE(0); // 2208988800
 */
export function encodeRfc868Time(epochMs: number): Buffer {
  const seconds = (Math.floor(epochMs / 1000) + RFC868_EPOCH_OFFSET) % 2 ** 32;
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(seconds, 0);
  return bytes;
}

/**
 * Reads a 4-byte RFC 868 time back to milliseconds since 1970, assuming the era that contains
 * `near` (so it keeps working after the field wraps in 2036).
 */
export function decodeRfc868Time(bytes: Uint8Array, near = Date.now()): number {
  const seconds = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32BE(0);
  const era = Math.round((near / 1000 + RFC868_EPOCH_OFFSET - seconds) / 2 ** 32);
  return (seconds + era * 2 ** 32 - RFC868_EPOCH_OFFSET) * 1000;
}

/** RFC 868 time: TCP sends the four bytes and closes; UDP answers any datagram with them. */
export const timeService: ServiceDefinition = {
  name: 'time',
  standardPort: 37,
  rfc: 868,
  create: () => ({
    tcp: {
      open(session) {
        session.write(encodeRfc868Time(Date.now()));
        session.end();
      },
    },
    udp: () => encodeRfc868Time(Date.now()),
  }),
};
