// Baseline: plain node:net echo, nothing between the socket and the handler.
import net from 'node:net';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = net.createServer({ noDelay: noDelayRequested() }, (socket) => {
  // Peers reset connections when a measurement ends; that must not crash the baseline.
  socket.on('error', () => {});
  socket.on('data', (chunk) => socket.write(chunk));
});

server.listen(requestedPort(), '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  announceReady(address.port);
});
exitOnSigterm(() => server.close());
