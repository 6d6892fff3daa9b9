// Baseline for the TLS columns: plain node:tls echo, nothing between the TLS socket and the handler.
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';
import { benchTlsMaterial } from '../lib/tls-material.ts';

const server = tls.createServer({ ...benchTlsMaterial(), handshakeTimeout: 10_000 }, (socket) => {
  if (noDelayRequested()) socket.setNoDelay(true);
  // Peers reset connections when a measurement ends; that must not crash the baseline.
  socket.on('error', () => {});
  socket.on('data', (chunk) => socket.write(chunk));
});
server.on('tlsClientError', () => {});

server.listen(requestedPort(), '127.0.0.1', () => {
  const address = server.address() as AddressInfo;
  announceReady(address.port);
});
exitOnSigterm(() => server.close());
