// Switchboard with implicit TLS, event style: the `data` handler echoes each chunk (compared with raw-tls-echo).
import { listen } from '../../src/index.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';
import { benchTlsMaterial } from '../lib/tls-material.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort(), tls: benchTlsMaterial(), noDelay: noDelayRequested() },
  {
    data(session, chunk) {
      session.write(chunk);
    },
  },
);
server.on('warning', () => {}); // handshake failures when loadgen stops mid-handshake: counted, not printed
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
