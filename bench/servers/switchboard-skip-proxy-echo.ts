// What a PROXY header's bytes cost with no parse at all, in the proxy-connect column: a plain
// listener whose `data` handler drops the header unparsed (bench/lib/header-floor-echo.ts).
import { listen } from '../../src/index.ts';
import { skippingEcho } from '../lib/header-floor-echo.ts';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const server = await listen({ host: '127.0.0.1', port: requestedPort() }, skippingEcho());
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
