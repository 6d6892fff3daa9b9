// Switchboard, event style, behind a trusted balancer: every connection from 127.0.0.0/8 must
// begin with a PROXY header (v1 or v2), then the `data` handler echoes each chunk (compared with
// switchboard-direct-echo, the same server without the option, in the proxy-connect column).
import { listen } from '../../src/index.ts';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort(), proxyProtocol: { from: ['127.0.0.0/8'] } },
  {
    data(session, chunk) {
      session.write(chunk);
    },
  },
);
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
