/**
 * Character generator (RFC 864): lines of 72 characters from the 95 printable ASCII characters
 * (space to `~`), each line starting one character further on, each ending in CRLF. TCP sends as
 * fast as the peer reads -- and no faster: writing waits for `drain`. UDP answers each datagram
 * with the next line, cut short when the request's amplification limit allows less.
 */
import type { EventSession } from '../../index.ts';
import type { ServiceDefinition } from './service.ts';

/** Printable ASCII: 95 characters from space (32) to tilde (126). */
const FIRST = 32;
const COUNT = 95;
/** Characters per line, before CRLF. */
export const CHARGEN_LINE_LENGTH = 72;

/**
 * Line `index` of the pattern (0 starts with a space), CRLF included.
 * @example
 * chargenLine(1); // '!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n'
 */
export function chargenLine(index: number): string {
  const start = ((index % COUNT) + COUNT) % COUNT;
  let line = '';
  for (let i = 0; i < CHARGEN_LINE_LENGTH; i++) line += String.fromCharCode(FIRST + ((start + i) % COUNT));
  return `${line}\r\n`;
}

/** `count` consecutive lines from line `start`, as bytes. */
export function chargenLines(start: number, count: number): Buffer {
  let text = '';
  for (let i = 0; i < count; i++) text += chargenLine(start + i);
  return Buffer.from(text, 'latin1');
}

// Three full rotations (21 KiB): each write passes the socket's 16 KiB high watermark, so one
// write per `drain`, and the pattern stays continuous from one write to the next.
let rotationBlock: Buffer | undefined;

function pump(session: EventSession): void {
  rotationBlock ??= chargenLines(0, COUNT * 3);
  while (session.state === 'open') {
    if (!session.write(rotationBlock)) return;
  }
}

/**
 * A UDP line cut to `room` bytes, CRLF kept: RFC 864 lets a UDP reply hold any number of
 * characters up to 512, so a line shortened to fit the request's amplification limit is still
 * chargen. Nothing when not even CRLF fits.
 */
export function fitChargenLine(line: Buffer, room: number): Buffer | undefined {
  if (line.length <= room) return line;
  if (room < 2) return undefined;
  return Buffer.concat([line.subarray(0, room - 2), line.subarray(-2)]);
}

/** RFC 864 chargen. */
export const chargenService: ServiceDefinition = {
  name: 'chargen',
  standardPort: 19,
  rfc: 864,
  create: () => {
    let next = 0;
    return {
      // Input is discarded (no `data` handler); a peer's FIN ends the stream.
      tcp: { open: pump, drain: pump },
      udp: (_request, room = Infinity) => fitChargenLine(chargenLines(next++ % COUNT, 1), room),
    };
  },
};
