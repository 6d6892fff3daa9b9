// The floor any PROXY header read could reach, in the proxy-connect column: a plain listener
// whose `data` handler parses each session's header itself (bench/lib/header-floor-echo.ts).
import { listen, parseProxyHeader } from '../../src/index.ts';
import { parsingEcho } from '../lib/header-floor-echo.ts';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const server = await listen({ host: '127.0.0.1', port: requestedPort() }, parsingEcho(parseProxyHeader));
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
