// What a PROXY header's bytes cost with no parse at all, in the proxy-connect column: a plain
// listener (no option, no stage) whose `data` handler drops the first chunk's header by the
// length the column sends (the v1 line if it starts with `P`, else the v2 header) and echoes the
// rest. Beside switchboard-inline-*-echo (the same, parsed) it tells the bytes from the parse.
// Not a way to run a server: it reads nothing of the header.
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';
import { listen } from '../../src/index.ts';
import { V1_HEADER_HEX, V2_HEADER_HEX } from '../lib/proxy-headers.ts';

const V1_LENGTH = V1_HEADER_HEX.length / 2;
const V2_LENGTH = V2_HEADER_HEX.length / 2;
const P = 0x50;

const server = await listen(
  { host: '127.0.0.1', port: requestedPort() },
  {
    data(session, chunk) {
      if (session.bytesRead > chunk.length) return void session.write(chunk); // not the first chunk
      session.write(chunk.subarray(chunk[0] === P ? V1_LENGTH : V2_LENGTH));
    },
  },
);
announceReady(server.addresses[0].port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
