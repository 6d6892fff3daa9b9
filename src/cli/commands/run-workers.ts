/**
 * `switchboard run MODULE --workers N|auto`: the module served from N supervised worker
 * processes (src/workers/), and the zero-downtime upgrade on SIGUSR2 (`switchboard upgrade`):
 * the installed version is started beside this one with the same command line, and this one
 * drains and exits once that one reports ready. SIGINT/SIGTERM close, as for one process.
 */
import { rmSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, MetricsRegistry, ServiceNotifier, type MetricsServer, type SwitchboardError } from '../../index.ts';
import { HOLDS_TCP_SOCKETS, serveWorkers, type WorkerSet } from '../../workers/worker-set.ts';
import { workerSetSource } from '../../workers/worker-metrics.ts';
import { inheritedAddresses, isUpgradeSuccessor, receiveHandover, reportUpgradeReady, startSuccessor, tcpMigrateReq } from '../../workers/upgrade.ts';
import { drainingMetrics, readMetricsFlag, startMetricsEndpoint, type MetricsFlagValues } from '../metrics-flags.ts';
import { readProxyFlags, type ProxyFlagValues } from '../proxy-flags.ts';
import { readTlsFlags, tlsOptionsFrom, type TlsFiles, type TlsFlagValues } from '../tls-flags.ts';
import type { Stoppable } from '../shutdown.ts';
import { stoppingFirst } from '../activation-flags.ts';
import { RUN_DEFAULTS } from '../defaults.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { readActivationFlags, type ActivationFlagValues } from '../activation-flags.ts';
import { parseListenAddress, type ListenAddress } from '../listen-address.ts';
import type { Logger } from '../logger.ts';
import { logListening } from '../server-set.ts';
import { readFlag } from '../settings.ts';
import { ShutdownSignals } from '../shutdown.ts';
import { readServerSettings, startFailure, type ServerFlagValues } from './common.ts';

/** The flags `run --workers` reads, beyond the server flags. */
export interface WorkerFlagValues extends ServerFlagValues, ActivationFlagValues, TlsFlagValues, ProxyFlagValues, MetricsFlagValues {
  readonly workers?: string | undefined;
  readonly 'pid-file'?: string | undefined;
  readonly 'metrics-per-worker'?: boolean | undefined;
}

/**
 * The usage error for passed sockets workers cannot serve (`SWB_ERR_WORKERS_ACTIVATION`): `--inetd`
 * (one connection, nothing for a second process to take), or `up`'s service that mixes them with
 * addresses.
 */
export function workersActivationError(what: string, why: string, command: string): UsageError {
  return new UsageError(`${what} does not go with workers (${ErrorCode.WORKERS_ACTIVATION}): ${why} (docs/workers.md)`, command);
}

/**
 * The `tcp` option's source of sockets from `--listen ADDRESS`, `--listen-fds` or `--listen
 * systemd:NAME`: an address, or the `systemd` option (every passed socket, or those named).
 * @throws {UsageError} for `--inetd`, for no or several addresses, or for addresses mixed with passed sockets
 */
export function workerListen(values: ActivationFlagValues, command: string): { readonly address: ListenAddress } | { readonly systemd: true | readonly string[] } {
  if (values.inetd === true) throw workersActivationError('--inetd', 'it serves the one connection the service manager accepted, which one process serves: drop --workers', command);
  const request = readActivationFlags(values, command);
  const passed = request.all || request.named.length > 0;
  if (passed && request.listens.length > 0) throw workersActivationError(`--listen ${request.listens[0]} with ${request.all ? '--listen-fds' : `--listen ${request.named[0]!.text}`}`, 'workers serve either the passed sockets or one address, not both: run one set per source', command);
  if (request.all) return { systemd: true };
  if (passed) return { systemd: request.named.map((entry) => entry.name) };
  if (request.listens.length !== 1) throw new UsageError('--workers needs exactly one --listen ADDRESS (or --listen-fds, --listen systemd:NAME)', command);
  return { address: parseListenAddress(request.listens[0]!) };
}

/** The `tls` option of `serveWorkers` from the TLS flags: absolute paths (each worker reads them), checked readable now. @throws {UsageError} */
export function workerTlsFiles(files: TlsFiles | undefined, command: string): { readonly cert: string; readonly key: string; readonly ca?: string; readonly clientCert?: 'required' | 'optional' } | undefined {
  if (files === undefined) return undefined;
  tlsOptionsFrom(files, {}, command); // a missing file is a usage error naming its flag, before any worker starts
  return { cert: resolve(files.cert), key: resolve(files.key), ...(files.ca !== undefined && { ca: resolve(files.ca) }), ...(files.clientCert !== undefined && { clientCert: files.clientCert }) };
}

/** Runs `run MODULE --workers N`; resolves with the exit code. @throws {UsageError} */
export async function runWorkers(modulePath: string, values: WorkerFlagValues & Readonly<Record<string, unknown>>, log: Logger): Promise<number> {
  const workers = readFlag<number | 'auto'>('workers', values.workers, 'auto');
  const listen = workerListen(values, 'run');
  const tls = workerTlsFiles(readTlsFlags(values, 'run'), 'run');
  const proxyProtocol = readProxyFlags(values, 'run');
  const metricsAddress = readMetricsFlag(values);
  const perWorker = values['metrics-per-worker'] === true;
  if (perWorker && metricsAddress === undefined) throw new UsageError('--metrics-per-worker needs --metrics ADDRESS', 'run');
  const settings = readServerSettings(values, RUN_DEFAULTS);
  const pidFile = values['pid-file'] === undefined ? undefined : resolve(readFlag('pid-file', values['pid-file'], ''));
  const tcp = {
    ...sourceOf(listen),
    ...(values['idle-timeout'] === undefined ? {} : { idleTimeout: settings.idleTimeout }),
    ...(values['max-clients'] === undefined ? {} : { maxConnections: settings.maxClients }),
    ...(values['max-per-ip'] === undefined ? {} : { maxConnectionsPerAddress: settings.maxPerIp }),
    ...settings.limitOptions,
    ...(proxyProtocol && { proxyProtocol }),
  };
  const signals = new ShutdownSignals(settings.drainTimeout, log);
  let set: WorkerSet;
  let registry: MetricsRegistry | undefined;
  let metrics: MetricsServer | undefined;
  let predecessorPid: number | undefined;
  try {
    // A predecessor hands over its sockets, counters and ticket keys (sessions it issued tickets for resume here).
    const handover = await receiveHandover();
    predecessorPid = handover?.pid;
    const ticketKeys = handover?.ticketKeys;
    set = await serveWorkers({ module: pathToFileURL(resolve(modulePath)), workers, tcp, ...(tls && { tls }), ...(ticketKeys && { ticketKeys }), ...(handover && { handover }) });
  } catch (error) {
    signals.dispose();
    reportUpgradeReady(error instanceof Error ? error.message : String(error));
    return startFailure(error, log);
  }
  if (metricsAddress !== undefined) registry = new MetricsRegistry().addSource(workerSetSource(set, { service: basename(modulePath, extname(modulePath)), perWorker, ...(values['max-clients'] !== undefined && { limit: settings.maxClients }) }));
  // A successor's predecessor holds the metrics port until it is told this one is ready: bound after that.
  const successor = isUpgradeSuccessor();
  if (registry !== undefined && metricsAddress !== undefined && !successor) {
    try {
      metrics = await startMetricsEndpoint(metricsAddress, registry, log);
    } catch (error) {
      await set.destroy();
      signals.dispose();
      reportUpgradeReady(error instanceof Error ? error.message : String(error));
      return startFailure(error, log);
    }
  }
  for (const bound of set.addresses) logListening(log, modulePath, bound);
  log.info('workers', `${set.workers().length} workers (mode ${set.mode}): pids ${set.workers().map((w) => w.pid).join(' ')}`, { workers: set.workers().length, mode: set.mode });
  if (pidFile !== undefined) writePid(pidFile, log);
  // Only the fallback depends on the kernel: without net.BoundSocket (Node before 24.21) an upgrade binds beside the old sockets.
  if (!HOLDS_TCP_SOCKETS && set.mode === 'reuseport' && tcpMigrateReq() !== 1) {
    log.warn('upgrade-lossy', 'this Node has no net.BoundSocket (24.21+): an upgrade binds new sockets beside the old ones, and with net.ipv4.tcp_migrate_req=0 the connections queued on an old one are reset (docs/workers.md)', {});
  }
  if (successor) reportUpgradeReady();
  // sd_notify (docs/systemd.md): READY=1 once the workers serve; a successor adds MAINPID= with
  // its own pid so that the manager follows the upgrade (NotifyAccess=all: it is the old main
  // process's child). NOTIFY_SOCKET stays in the environment for the next successor.
  const notifier = notifierFor(predecessorPid);
  const serving = (): string => `serving ${set.addresses.length} address(es) from ${set.workers().length} workers`;
  notifier?.notify({ ...(successor && { MAINPID: String(process.pid) }), READY: '1', STATUS: serving() });
  let stopped = false;
  const metricsStarting = successor && registry !== undefined && metricsAddress !== undefined ? bindWhenFree(async () => (metrics = await startMetricsEndpoint(metricsAddress, registry, log)), settings.drainTimeout + 5_000, () => stopped, log) : undefined;

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
    notifier?.reloading('upgrading: starting the new version');
    // The ticket keys travel in the handover message over IPC, never in the environment.
    startSuccessor({ workers: set, signal: stopping.signal, state: { ticketKeys: set.ticketKeys.state } }).then(
      async (successor) => {
        if (stopping.signal.aborted) return;
        const pid = successor.process.pid;
        log.info('upgrade', `upgrade: pid ${pid} serves; draining and exiting`, { pid });
        await metrics?.close(); // its port is the successor's now
        await set.close({ timeout: settings.drainTimeout });
        const { read, relayed, lost } = successor.udpTransit;
        if (read > 0) log[lost > 0 ? 'warn' : 'info']('udp-transit', `upgrade: ${read} datagram(s) read while the workers' UDP sockets were collected: ${relayed} relayed to their workers, ${lost} lost`, { read, relayed, lost });
        successor.finish(await set.stats()); // its counters continue from our final totals
        finished.resolve(ExitCode.OK);
      },
      (error: SwitchboardError) => {
        upgrading = false;
        notifier?.ready(serving()); // the old version keeps serving
        log.error('upgrade-failed', error.message, { code: error.code });
      },
    );
  };
  process.on('SIGUSR2', onUpgrade);
  const onHangUp = (): void => {
    if (tls === undefined) return log.warn('reload', 'SIGHUP: nothing to reload in run --workers (SIGUSR2 upgrades)', {});
    void set.reloadTls().then((outcomes) => {
      const failed = outcomes.filter((outcome) => outcome.error !== undefined);
      for (const { slot, pid, error } of failed) log.error('tls-reload-failed', `SIGHUP: worker ${slot} (pid ${pid}): TLS reload failed, the certificates in use are kept: ${error}`, { slot, pid, cert: tls.cert });
      if (failed.length === 0) log.info('tls-reloaded', `SIGHUP: TLS certificates re-read from ${tls.cert} by ${outcomes.length} worker(s)`, { cert: tls.cert, key: tls.key, workers: outcomes.length });
    });
  };
  process.on('SIGHUP', onHangUp);
  // A stop asked for during an upgrade gives it up at once, before the drain.
  const onStop = (): void => stopping.abort();
  process.on('SIGINT', onStop).on('SIGTERM', onStop);
  const workersStop: Stoppable = { close: (timeout: number) => set.close({ timeout }), destroy: () => set.destroy() };
  const notifyingStop = notifier === undefined ? workersStop : stoppingFirst(notifier, workersStop, (timeout) => `stopping: the workers have ${timeout} ms to drain`);
  const stoppable = registry === undefined ? notifyingStop : drainingMetrics(notifyingStop, registry, () => metrics);
  const code = await Promise.race([signals.serve(stoppable), finished.promise]);
  stopping.abort(); // a stop during an upgrade gives the upgrade up: no successor outlives us unready
  process.off('SIGUSR2', onUpgrade).off('SIGHUP', onHangUp).off('SIGINT', onStop).off('SIGTERM', onStop);
  signals.dispose();
  stopped = true;
  await metricsStarting;
  await metrics?.close();
  await notifier?.close();
  if (pidFile !== undefined) removePid(pidFile);
  return code;
}

/** The `tcp` option's host and port, or its `systemd` option. A successor binds the port its predecessor got for a port 0. */
function sourceOf(listen: ReturnType<typeof workerListen>): { host?: string | undefined; port: number } | { systemd: true | readonly string[] } {
  if ('systemd' in listen) return { systemd: listen.systemd };
  const { address } = listen;
  const inherited = address.port === 0 ? inheritedAddresses()?.find((bound) => bound.transport === 'tcp')?.port : undefined;
  return { ...(address.host === undefined ? {} : { host: address.host === '*' ? undefined : address.host }), port: inherited ?? address.port };
}

/** Runs `start` until it binds, retrying while the address is in use (the predecessor still holds it) for up to `ms`, or until `stopped()`. */
async function bindWhenFree(start: () => Promise<unknown>, ms: number, stopped: () => boolean, log: Logger): Promise<void> {
  const deadline = performance.now() + ms;
  while (!stopped()) {
    try {
      await start();
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== ErrorCode.ADDRESS_IN_USE || performance.now() > deadline) return log.error('metrics-failed', `metrics endpoint not started: ${(error as Error).message}`, { code });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
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

/**
 * The service manager's notifier when NOTIFY_SOCKET is set (read, not taken: a successor started
 * by an upgrade inherits it). A predecessor's WATCHDOG_PID is this process's now: it is the
 * main process the manager follows after MAINPID=.
 */
function notifierFor(predecessorPid: number | undefined): ServiceNotifier | undefined {
  const { NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID } = process.env;
  if (NOTIFY_SOCKET === undefined || NOTIFY_SOCKET === '') return undefined;
  const watchdogPid = WATCHDOG_PID !== undefined && WATCHDOG_PID === String(predecessorPid) ? String(process.pid) : WATCHDOG_PID;
  return new ServiceNotifier({ env: { NOTIFY_SOCKET, ...(WATCHDOG_USEC !== undefined && { WATCHDOG_USEC }), ...(watchdogPid !== undefined && { WATCHDOG_PID: watchdogPid }) } });
}
