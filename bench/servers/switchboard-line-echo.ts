// Switchboard, framed: each line ended by '\n' is echoed with its '\n' (compared with
// raw-net-line-echo, which splits on '\n' by hand). The framing is the delimiter codec with
// '\n', not createLineCodec: the line codec also drops a CR before the LF (CRLF lines), and
// loadgen's binary payload contains CR LF pairs, so its echo would not be byte-exact. Lines
// are zero-copy views where they lie in one chunk; `send` writes the line and the '\n'.
import { createDelimiterCodec, framed, listen } from '../../src/index.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort(), noDelay: noDelayRequested() },
  framed(() => createDelimiterCodec({ delimiter: '\n', maxFrameLength: 1024 * 1024 }), {
    frame(session, line) {
      session.send(line);
    },
  }),
);
announceReady(server.addresses[0]!.port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
