// Baseline for line-codec columns: node:net with a hand-written '\n' splitter that
// echoes every complete line plus '\n' and keeps the unterminated tail for later.
import net from 'node:net';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const NEWLINE = 0x0a;
const NEWLINE_BUFFER = Buffer.from('\n');
// Untrusted input is bounded: a line this long without '\n' ends the connection.
const MAX_LINE_BYTES = 1024 * 1024;

const server = net.createServer({ noDelay: noDelayRequested() }, (socket) => {
  let pending: Buffer | null = null;
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    const input = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    let end = input.indexOf(NEWLINE, start);
    if (end !== -1) socket.cork();
    while (end !== -1) {
      socket.write(input.subarray(start, end));
      socket.write(NEWLINE_BUFFER);
      start = end + 1;
      end = input.indexOf(NEWLINE, start);
    }
    if (start > 0) socket.uncork();
    pending = start < input.length ? input.subarray(start) : null;
    if (pending !== null && pending.length > MAX_LINE_BYTES) socket.destroy();
  });
});

server.listen(requestedPort(), '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  announceReady(address.port);
});
exitOnSigterm(() => server.close());
