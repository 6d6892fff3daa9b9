// Baseline for line-codec columns: node:net with a hand-written '\n' splitter that
// echoes every complete line plus '\n' and keeps the unterminated tail for later
// (bench/lib/raw-line-echo.ts).
import net from 'node:net';
import { echoLinesRaw } from '../lib/raw-line-echo.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = net.createServer({ noDelay: noDelayRequested() }, (socket) => {
  socket.on('error', () => {});
  echoLinesRaw(socket);
});

server.listen(requestedPort(), '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  announceReady(address.port);
});
exitOnSigterm(() => server.close());
