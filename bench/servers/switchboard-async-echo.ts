// Switchboard, async style: one function per session, `for await` over its chunks
// (compared with raw-net-echo).
import { listen } from '../../src/index.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = await listen({ host: '127.0.0.1', port: requestedPort(), noDelay: noDelayRequested() }, async (session) => {
  for await (const chunk of session) await session.write(chunk);
});
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
