// switchboard-event-echo with metrics on: a MetricsRegistry (histograms on, so the session-close
// channel has a subscriber) and the metrics HTTP listener, never scraped (compared with
// switchboard-event-echo, metrics off, in the same run).
import { MetricsRegistry, listen, listenMetrics } from '../../src/index.ts';
import { announceReady, exitOnSigterm, noDelayRequested, requestedPort } from '../lib/server-contract.ts';

const server = await listen(
  { host: '127.0.0.1', port: requestedPort(), noDelay: noDelayRequested() },
  {
    data(session, chunk) {
      session.write(chunk);
    },
  },
);
const registry = new MetricsRegistry().add(server, { service: 'echo' });
const metrics = await listenMetrics(registry, { host: '127.0.0.1', port: 0 });
announceReady(server.addresses[0].port);
exitOnSigterm(async () => {
  await server.close({ timeout: 1000 });
  await metrics.close();
});
