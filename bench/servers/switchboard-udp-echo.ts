// Switchboard UDP: the `message` handler replies with each datagram (compared with raw-dgram-echo).
// Every datagram of the load generator comes from 127.0.0.1, far above the default per-source
// rate (1000/s) and, echoing, above the default server-wide reply rate (4 MiB/s), so both limits
// are raised out of reach rather than turned off: the buckets are still consulted for every
// datagram and every reply, as they would be in production.
import { listenUdp } from '../../src/index.ts';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const server = await listenUdp(
  { host: '127.0.0.1', port: requestedPort(), rateLimit: { datagrams: 1e9, bytes: 1e12 }, replyRateLimit: 1e12 },
  {
    message(datagram) {
      datagram.reply(datagram.data);
    },
  },
);
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
