// Switchboard, event style, with an `accept` handler that admits everyone: the connection goes
// through the pending stage (as behind the PROXY header stage) but reads nothing there. In the
// proxy-connect column it tells the pending stage's own cost from the header's.
import { listen } from '../../src/index.ts';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort() },
  {
    accept() {
      return true;
    },
    data(session, chunk) {
      session.write(chunk);
    },
  },
);
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
