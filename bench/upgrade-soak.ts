/**
 * The upgrade soak, outside `npm test` (as root, with iproute2): for each value of
 * net.ipv4.tcp_migrate_req, a fresh network namespace runs test/workers/fixtures/upgrade-under-load.ts
 * — `switchboard run --workers 2` under CLIENTS looping short connections and LONG long-lived
 * sessions, UPGRADES upgrades in a row (SIGUSR2) and one failing upgrade rolled back — and then
 * test/workers/fixtures/upgrade-library.ts (two library upgrades with TCP and UDP traffic).
 * Prints each run's JSON and a one-line verdict; exits 1 on any refused, reset or empty
 * connection, broken session, changed socket inode, or old pid slower than drain + 1 s.
 *
 *   node bench/upgrade-soak.ts [UPGRADES=10] [CLIENTS=64] [LONG=100] [DRAIN_MS=1000]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const [upgrades = 10, clients = 64, long = 100, drain = 1000] = process.argv.slice(2).map(Number);
const LOAD = fileURLToPath(new URL('../test/workers/fixtures/upgrade-under-load.ts', import.meta.url));
const LIBRARY = fileURLToPath(new URL('../test/workers/fixtures/upgrade-library.ts', import.meta.url));
let failed = false;

function inNamespace<T>(migrate: 0 | 1, script: string, args: readonly string[]): T {
  const ns = `swb-soak-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.tcp_migrate_req=${migrate}`]);
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15 * 60_000 });
    return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as T;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

for (const migrate of [0, 1] as const) {
  const started = performance.now();
  const cli = inNamespace<{ upgrades: number; shortOk: number; shortFailed: number; failures: object; longBroken: number; longDrained: number; oldGoneMs: number[]; inodesBefore: string[]; inodesAfter: string[]; rollbackOk: boolean; error: string }>(
    migrate,
    LOAD,
    [String(upgrades), String(clients), String(long), '1', String(drain)],
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  const sameSockets = JSON.stringify(cli.inodesBefore) === JSON.stringify(cli.inodesAfter) && cli.inodesBefore.length > 0;
  const slowest = Math.max(...cli.oldGoneMs);
  const ok = cli.error === '' && cli.upgrades === upgrades && cli.shortFailed === 0 && cli.longBroken === 0 && sameSockets && cli.rollbackOk && slowest <= drain + 1_000;
  failed ||= !ok;
  console.log(JSON.stringify({ migrate, ...cli }));
  console.log(
    `tcp_migrate_req=${migrate}: ${ok ? 'OK' : 'FAILED'} — ${cli.upgrades} upgrades + 1 rolled back in ${seconds} s: ${cli.shortOk} connections served, ${cli.shortFailed} failed ${JSON.stringify(cli.failures)}, ` +
      `${cli.longBroken} broken sessions (${cli.longDrained} drained gracefully), same socket inodes: ${sameSockets}, old pid gone ${Math.min(...cli.oldGoneMs)}–${slowest} ms after the new one was ready`,
  );
  const library = inNamespace<{ tcpOk: number; tcpFailed: number; udpSent: number; udpAnswered: number; kernelDrops: number; transitDatagrams: number; secondTransit: number; inodesBefore: string[]; inodesAfter: string[]; error: string }>(migrate, LIBRARY, ['16', '2']);
  const lost = library.udpSent - library.udpAnswered;
  const libraryOk = library.error === '' && library.tcpFailed === 0 && lost <= library.kernelDrops + library.transitDatagrams && library.secondTransit === 0 && JSON.stringify(library.inodesBefore) === JSON.stringify(library.inodesAfter);
  failed ||= !libraryOk;
  console.log(
    `tcp_migrate_req=${migrate}: library ${libraryOk ? 'OK' : 'FAILED'} — 2 upgrades: ${library.tcpOk} connections, ${library.tcpFailed} failed; UDP ${library.udpSent} sent, ${lost} unanswered (kernel drops ${library.kernelDrops}, read in transit ${library.transitDatagrams} then ${library.secondTransit})`,
  );
}
process.exitCode = failed ? 1 : 0;
