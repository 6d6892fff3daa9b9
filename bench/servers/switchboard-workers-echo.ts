// The echo module served by WORKERS worker processes (serveWorkers, mode reuseport); prints
// `WORKERS pid,pid` on stderr so the bench can read the workers' CPU time.
import { serveWorkers } from '../../src/index.ts';
import { announceReady, exitOnSigterm, requestedPort } from '../lib/server-contract.ts';

const set = await serveWorkers({ module: new URL('./echo-module.ts', import.meta.url), workers: Number(process.env.WORKERS ?? 1), tcp: { host: '127.0.0.1', port: requestedPort() } });
process.stderr.write(`WORKERS ${set.workers().map((w) => w.pid).join(',')}\n`);
announceReady(set.addresses[0]?.port ?? 0);
exitOnSigterm(() => set.close({ timeout: 1000 }));
