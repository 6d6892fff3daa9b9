/**
 * `switchboard run MODULE --workers N|auto`: the module served from N supervised worker
 * processes (src/workers/), and the zero-downtime upgrade on SIGUSR2 (`switchboard upgrade`):
 * the installed version is started beside this one with the same command line, and this one
 * drains and exits once that one reports ready. SIGINT/SIGTERM close, as for one process.
 */
import { rmSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, type SwitchboardError } from '../../index.ts';
import { serveWorkers, type WorkerSet } from '../../workers/worker-set.ts';
import { inheritedAddresses, isUpgradeSuccessor, receiveHandover, reportUpgradeReady, startSuccessor } from '../../workers/upgrade.ts';
import { RUN_DEFAULTS } from '../defaults.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { parseListenAddress } from '../listen-address.ts';
import type { Logger } from '../logger.ts';
import { logListening } from '../server-set.ts';
import { readFlag } from '../settings.ts';
import { ShutdownSignals } from '../shutdown.ts';
import { readServerSettings, startFailure, type ServerFlagValues } from './common.ts';

/** The flags `run --workers` reads, beyond the server flags. */
export interface WorkerFlagValues extends ServerFlagValues {
  readonly workers?: string | undefined;
  readonly 'pid-file'?: string | undefined;
}

/** The flags that do not go with `--workers` yet (their state lives in one process). */
const NOT_WITH_WORKERS = ['tls-cert', 'tls-key', 'tls-ca', 'tls-client-cert', 'metrics', 'listen-fds', 'inetd', 'proxy-protocol', 'proxy-untrusted'] as const;

/** Runs `run MODULE --workers N`; resolves with the exit code. @throws {UsageError} */
export async function runWorkers(modulePath: string, values: WorkerFlagValues & Readonly<Record<string, unknown>>, log: Logger): Promise<number> {
  const workers = readFlag<number | 'auto'>('workers', values.workers, 'auto');
  for (const name of NOT_WITH_WORKERS) {
    if (values[name] !== undefined) throw new UsageError(`--${name} does not go with --workers yet (docs/workers.md)`, 'run');
  }
  const listen = values.listen ?? [];
  if (listen.length !== 1) throw new UsageError('--workers needs exactly one --listen ADDRESS', 'run');
  const address = parseListenAddress(listen[0] ?? '');
  if (address.host?.startsWith('systemd:')) throw new UsageError('--listen systemd:NAME does not go with --workers yet', 'run');
  const settings = readServerSettings(values, RUN_DEFAULTS);
  const pidFile = values['pid-file'] === undefined ? undefined : resolve(readFlag('pid-file', values['pid-file'], ''));
  // A successor binds the port its predecessor got for a port 0.
  const inherited = address.port === 0 ? inheritedAddresses()?.find((bound) => bound.transport === 'tcp')?.port : undefined;
  const tcp = {
    ...(address.host === undefined ? {} : { host: address.host === '*' ? undefined : address.host }),
    port: inherited ?? address.port,
    ...(values['idle-timeout'] === undefined ? {} : { idleTimeout: settings.idleTimeout }),
    ...(values['max-clients'] === undefined ? {} : { maxConnections: settings.maxClients }),
    ...(values['max-per-ip'] === undefined ? {} : { maxConnectionsPerAddress: settings.maxPerIp }),
    ...settings.limitOptions,
  };
  const signals = new ShutdownSignals(settings.drainTimeout, log);
  let set: WorkerSet;
  try {
    const handover = await receiveHandover();
    set = await serveWorkers({ module: pathToFileURL(resolve(modulePath)), workers, tcp, ...(handover && { handover }) });
  } catch (error) {
    signals.dispose();
    reportUpgradeReady(error instanceof Error ? error.message : String(error));
    return startFailure(error, log);
  }
  for (const bound of set.addresses) logListening(log, modulePath, bound);
  log.info('workers', `${set.workers().length} workers (mode ${set.mode}): pids ${set.workers().map((w) => w.pid).join(' ')}`, { workers: set.workers().length, mode: set.mode });
  if (pidFile !== undefined) writePid(pidFile, log);
  if (isUpgradeSuccessor()) reportUpgradeReady();

  const finished = Promise.withResolvers<number>();
  set.on('error', (error: SwitchboardError) => {
    log.error('worker', error.message, { code: error.code });
    if (error.code !== ErrorCode.WORKER_CRASH_LOOP) return;
    void set.close({ timeout: settings.drainTimeout }).then(() => finished.resolve(ExitCode.FAILURE));
  });
  set.on('respawn', ({ slot, pid, code, signal, delay }) => {
    log.warn('respawn', `worker ${slot} (pid ${pid}) exited (${signal ?? `code ${code}`}): a new one in ${delay} ms`, { slot, pid, delay });
  });
  let upgrading = false;
  const stopping = new AbortController();
  const onUpgrade = (): void => {
    if (upgrading) {
      log.warn('upgrade', 'an upgrade is already running: SIGUSR2 ignored', {});
      return;
    }
    upgrading = true;
    log.info('upgrade', 'upgrade: starting the new version', {});
    startSuccessor({ workers: set, signal: stopping.signal }).then(
      async (successor) => {
        if (stopping.signal.aborted) return;
        const pid = successor.process.pid;
        log.info('upgrade', `upgrade: pid ${pid} serves; draining and exiting`, { pid });
        await set.close({ timeout: settings.drainTimeout });
        successor.finish(await set.stats()); // its counters continue from our final totals
        finished.resolve(ExitCode.OK);
      },
      (error: SwitchboardError) => {
        upgrading = false;
        log.error('upgrade-failed', error.message, { code: error.code });
      },
    );
  };
  process.on('SIGUSR2', onUpgrade);
  const onHangUp = (): void => log.warn('reload', 'SIGHUP: nothing to reload in run --workers (SIGUSR2 upgrades)', {});
  process.on('SIGHUP', onHangUp);
  // A stop asked for during an upgrade gives it up at once, before the drain.
  const onStop = (): void => stopping.abort();
  process.on('SIGINT', onStop).on('SIGTERM', onStop);
  const stoppable = { close: (timeout: number) => set.close({ timeout }), destroy: () => set.destroy() };
  const code = await Promise.race([signals.serve(stoppable), finished.promise]);
  stopping.abort(); // a stop during an upgrade gives the upgrade up: no successor outlives us unready
  process.off('SIGUSR2', onUpgrade).off('SIGHUP', onHangUp).off('SIGINT', onStop).off('SIGTERM', onStop);
  signals.dispose();
  if (pidFile !== undefined) removePid(pidFile);
  return code;
}

function writePid(path: string, log: Logger): void {
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (error) {
    log.warn('pid-file', `cannot write the pid file ${path}: ${(error as Error).message}`, { pidFile: path });
  }
}

/** Removes the pid file unless a successor has written its own pid there. */
function removePid(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, { force: true });
  } catch {
    // gone already
  }
}
