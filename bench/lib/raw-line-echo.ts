// The raw baseline's line echo (bench/servers/raw-net-line-echo.ts, and bench/echo-cpu.ts on a
// line column): node:net with a hand-written '\n' splitter that echoes every complete line plus
// '\n', corked per chunk, and keeps the unterminated tail for later.
import type { Socket } from 'node:net';

const NEWLINE = 0x0a;
const NEWLINE_BUFFER = Buffer.from('\n');
// Untrusted input is bounded: a line this long without '\n' ends the connection.
const MAX_LINE_BYTES = 1024 * 1024;

/** Echoes `socket`'s lines back to it; `counter.lines` (if given) counts the lines echoed. */
export function echoLinesRaw(socket: Socket, counter?: { lines: number }): void {
  let pending: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    const input = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    let end = input.indexOf(NEWLINE, start);
    if (end !== -1) socket.cork();
    while (end !== -1) {
      socket.write(input.subarray(start, end));
      socket.write(NEWLINE_BUFFER);
      if (counter !== undefined) counter.lines++;
      start = end + 1;
      end = input.indexOf(NEWLINE, start);
    }
    if (start > 0) socket.uncork();
    pending = start < input.length ? input.subarray(start) : null;
    if (pending !== null && pending.length > MAX_LINE_BYTES) socket.destroy();
  });
}
