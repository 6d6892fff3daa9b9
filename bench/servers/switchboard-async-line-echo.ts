// Switchboard, framed, async style: `for await` over the lines, `await send` for each (compared
// with raw-net-line-echo). Several lines arrive per chunk, so it measures the coalescing of the
// writes made for one read into one writev. Framing as in switchboard-line-echo.ts.
import { createDelimiterCodec, framed, listen } from '../../src/index.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort(), noDelay: noDelayRequested() },
  framed(() => createDelimiterCodec({ delimiter: '\n', maxFrameLength: 1024 * 1024 }), async (session) => {
    for await (const line of session.frames()) await session.send(line);
  }),
);
announceReady(server.addresses[0]!.port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
