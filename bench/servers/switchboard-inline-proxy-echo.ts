// The floor any PROXY header read could reach, in the proxy-connect column: a plain listener (no
// option, no pending stage) whose `data` handler parses each session's first chunk as a whole
// header itself (parseProxyHeader) and echoes the bytes after it. It pays for the parse and the
// header's own objects, and for nothing the accept path adds: no trust check, no stage, no
// re-admission for the client, no second info object. Not a way to run a server: it trusts
// every peer and assumes the header arrives whole.
import { listen, parseProxyHeader } from '../../src/index.ts';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort() },
  {
    data(session, chunk) {
      if (session.bytesRead > chunk.length) return void session.write(chunk); // not the first chunk
      const result = parseProxyHeader(chunk);
      if (result.state === 'complete' && result.rest.length > 0) session.write(result.rest);
    },
  },
);
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
