// Switchboard, event style: the `data` handler echoes each chunk (compared with raw-net-echo).
import { listen } from '../../src/index.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort(), noDelay: noDelayRequested() },
  {
    data(session, chunk) {
      session.write(chunk);
    },
  },
);
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
