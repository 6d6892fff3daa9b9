// Baseline: plain node:dgram echo, each datagram sent back to its source.
import dgram from 'node:dgram';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const socket = dgram.createSocket('udp4');
socket.on('error', () => {});
socket.on('message', (message, remote) => socket.send(message, remote.port, remote.address));

socket.bind(requestedPort(), '127.0.0.1', () => announceReady(socket.address().port));
exitOnSigterm(() => socket.close());
