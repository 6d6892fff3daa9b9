/**
 * The two floors of a PROXY header read, as `data` handlers for a plain listener (no option, no
 * pending stage), used by the proxy-connect column's servers and by bench/proxy-stage-cpu.ts:
 * `parsingEcho` parses each session's first chunk as a whole header and echoes the bytes after it
 * (the parse and the header's objects, nothing of the accept path); `skippingEcho` drops the
 * header by the length the column sends, unparsed (what its bytes cost). Neither is a way to run
 * a server: they trust every peer and assume the header arrives whole.
 */
import type { parseProxyHeader } from '../../src/proxy/proxy-parser.ts';
import { V1_HEADER_HEX, V2_HEADER_HEX } from './proxy-headers.ts';

interface EchoSession {
  write(chunk: Buffer): unknown;
  readonly bytesRead: number;
}

const V1_LENGTH = V1_HEADER_HEX.length / 2;
const V2_LENGTH = V2_HEADER_HEX.length / 2;
const V1_FIRST_BYTE = 0x50; // `P`

/** The session's first chunk: its `bytesRead` counts only this chunk so far. */
function isFirstChunk(session: EchoSession, chunk: Buffer): boolean {
  return session.bytesRead === chunk.length;
}

/** Parses the first chunk's header with `parse` (the tree's own `parseProxyHeader`) and echoes the rest, then every chunk. */
export function parsingEcho(parse: typeof parseProxyHeader) {
  return {
    data(session: EchoSession, chunk: Buffer): void {
      if (!isFirstChunk(session, chunk)) return void session.write(chunk);
      const result = parse(chunk);
      if (result.state === 'complete' && result.rest.length > 0) session.write(result.rest);
    },
  };
}

/** Drops the first chunk's header by its known length (the v1 line if it starts with `P`, else the v2 header) and echoes the rest, then every chunk. */
export function skippingEcho() {
  return {
    data(session: EchoSession, chunk: Buffer): void {
      session.write(isFirstChunk(session, chunk) ? chunk.subarray(chunk[0] === V1_FIRST_BYTE ? V1_LENGTH : V2_LENGTH) : chunk);
    },
  };
}
