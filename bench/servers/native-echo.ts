// The native-transport prototype (experiments/native-transport, issue 17) with the event-style
// echo of switchboard-event-echo.ts; build it first: experiments/native-transport/run.sh --build-only.
import { listenNative } from '../../experiments/native-transport/lib/native-server.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = await listenNative(
  { host: '127.0.0.1', port: requestedPort(), noDelay: noDelayRequested(), copyChunks: process.env.BENCH_NATIVE_COPY === '1' },
  {
    data(session, chunk) {
      session.write(chunk);
    },
  },
);
announceReady(server.addresses[0]!.port);
exitOnSigterm(() => server.close({ timeout: 1000 }));
