/**
 * One service of `up` served by worker processes (`workers = N` in its table, or `up --workers`):
 * a {@link WorkerSet} per port of its `listen` addresses, each worker importing the service's
 * module (a built-in service's through services/builtin-worker.ts) and applying the file's
 * settings. A reload never edits workers in place: a changed service gets a new set beside the
 * old one (SO_REUSEPORT: both serve the port for a moment), then the old set drains; only new
 * TLS material on unchanged settings is re-read in place (`reloadTls`). The sockets the service
 * manager passed (`listen = ["systemd:NAME"]`) are one more set, on every worker; a reload's new
 * set serves the very fds the old one holds and takes them over (`serveWorkers({ takeOver })`):
 * never closed, never reopened -- LISTEN_FDS is read once.
 */
import { isDeepStrictEqual } from 'node:util';
import { ErrorCode, type ServerSnapshotSource, type SwitchboardError } from '../../index.ts';
import { servedPassedFds } from '../activation-flags.ts';
import { serveWorkers, type ServeWorkersOptions, type WorkerSet } from '../../workers/worker-set.ts';
import { workerSetSource } from '../../workers/worker-metrics.ts';
import type { JsonOptions } from '../../workers/worker-messages.ts';
import type { Logger } from '../logger.ts';
import { groupByPort } from '../serve-plan.ts';
import { logListening } from '../server-set.ts';
import { BUILTIN_WORKER_ENV, BUILTIN_WORKER_MODULE, type BuiltinWorkerSpec } from '../services/builtin-worker-spec.ts';
import type { ServiceResources } from './config-resources.ts';
import type { ServiceConfig } from './load-config.ts';

/** As `serve` and `up` do in one process: the per-address cap counts an IPv6 /64 as one address. */
const PER_IP_IPV6_PREFIX = 64;

/** A started service on workers. */
export class WorkerService {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly resources: ServiceResources;
  /** The worker count asked for (the service's key, or `up --workers`). */
  readonly workers: number | 'auto';
  readonly #sets: readonly WorkerSet[];
  readonly #log: Logger;
  /** Each set as a metrics source, labelled with the service's name. */
  readonly sources: readonly ServerSnapshotSource[];

  private constructor(config: ServiceConfig, resources: ServiceResources, workers: number | 'auto', sets: readonly WorkerSet[], log: Logger, perWorker: boolean) {
    this.name = config.name;
    this.config = config;
    this.resources = resources;
    this.workers = workers;
    this.#sets = sets;
    this.#log = log;
    const limit = config.explicit.has('maxClients') || config.kind === 'builtin' ? config.maxClients : (resources.loaded?.options.maxConnections ?? config.maxClients);
    this.sources = sets.map((set) => workerSetSource(set, { service: config.name, perWorker, limit }));
    for (const set of sets) this.#supervise(set);
  }

  /**
   * Starts a set of workers per port, all or nothing.
   * @throws {SwitchboardError} (rejects) `SWB_ERR_WORKER_START_FAILED` when a worker cannot start (the message carries why: an address in use, ...)
   */
  static async start(config: ServiceConfig, resources: ServiceResources, log: Logger, workers: number | 'auto', perWorker: boolean, previous?: WorkerService): Promise<WorkerService> {
    const sets: WorkerSet[] = [];
    // A replacement on the same addresses binds the ports its predecessor got for a port 0 (beside it: SO_REUSEPORT).
    const same = previous !== undefined && isDeepStrictEqual(previous.config.listen.map((address) => address.text), config.listen.map((address) => address.text));
    try {
      for (const [index, { hosts, port }] of groupByPort(config.listen).entries()) {
        const bound = same && port === 0 ? previous.#sets[index]?.addresses.find((address) => address.transport === 'tcp' || !config.transports.includes('tcp'))?.port : undefined;
        sets.push(await serveWorkers(workerOptions(config, hosts, bound ?? port, workers)));
      }
      if (config.systemd.length > 0) {
        const takeOver = (previous === undefined ? [] : previous.#sets).find((set) => set.heldSockets().some((socket) => socket.origin === 'systemd'));
        sets.push(await serveWorkers({ ...passedWorkerOptions(config, workers), ...(takeOver && { takeOver }) }));
      }
    } catch (error) {
      await Promise.all(sets.map((set) => set.destroy()));
      throw error;
    }
    return new WorkerService(config, resources, workers, sets, log, perWorker);
  }

  /** Logs a `listening` line per bound address and a workers line per set. */
  announce(): void {
    for (const set of this.#sets) {
      for (const address of set.addresses) logListening(this.#log, this.name, address);
      const pids = set.workers().map((worker) => worker.pid);
      this.#log.info('workers', `${this.name}: ${pids.length} workers (mode ${set.mode}): pids ${pids.join(' ')}`, { service: this.name, workers: pids.length, mode: set.mode, pids: pids.join(' ') });
    }
  }

  /**
   * Whether `next` is what this service serves already: the same settings, worker count and
   * module (the same file version); TLS material may differ ({@link reloadTls} applies it).
   */
  serves(next: ServiceConfig, resources: ServiceResources, workers: number | 'auto'): boolean {
    return workers === this.workers && isDeepStrictEqual(next, this.config) && resources.loaded?.handler === this.resources.loaded?.handler && isDeepStrictEqual(resources.quotes, this.resources.quotes);
  }

  /** Whether the TLS material (the files' contents) differs from `resources`'. */
  tlsChanged(resources: ServiceResources): boolean {
    const material = (tls: ServiceResources['tls']) => [tls?.cert, tls?.key, tls?.ca];
    return !isDeepStrictEqual(material(resources.tls), material(this.resources.tls));
  }

  /** Every worker re-reads the TLS files; one line per worker that kept its certificates (empty: all re-read). */
  async reloadTls(): Promise<string[]> {
    const outcomes = (await Promise.all(this.#sets.map((set) => set.reloadTls()))).flat();
    return outcomes.flatMap(({ slot, pid, error }) => (error === undefined ? [] : [`worker ${slot} (pid ${pid}): ${error}`]));
  }

  /** Every worker stops accepting and drains up to `timeout`; resolves once all have exited. */
  async close(timeout: number): Promise<void> {
    await Promise.all(this.#sets.map((set) => set.close({ timeout })));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#sets.map((set) => set.destroy()));
  }

  #supervise(set: WorkerSet): void {
    set.on('respawn', ({ slot, pid, code, signal, delay }) => {
      this.#log.warn('respawn', `${this.name}: worker ${slot} (pid ${pid}) exited (${signal ?? `code ${code}`}): a new one in ${delay} ms`, { service: this.name, slot, pid, delay });
    });
    // A crash loop stops that slot only: the service's other workers, and the other services, keep serving.
    set.on('error', (error: SwitchboardError) => {
      this.#log.error(error.code === ErrorCode.WORKER_CRASH_LOOP ? 'crash-loop' : 'worker', `${this.name}: ${error.message}`, { service: this.name, code: error.code });
    });
  }
}

/**
 * The options of the set on the service's passed sockets: TCP on the stream fds, the UDP of a
 * built-in service on the datagram fds (as in one process: running-service.ts).
 * @throws {ActivationError} for a name no fd has, or fds of a transport the service does not have
 */
function passedWorkerOptions(config: ServiceConfig, workers: number | 'auto'): ServeWorkersOptions {
  const serves = { tcp: config.transports.includes('tcp'), udp: config.kind === 'builtin' && config.transports.includes('udp') };
  const fds = servedPassedFds(config.systemd, `services.${config.name}.listen`, serves, ' on workers');
  const { udp: _udp, tcp, ...options } = workerOptions(config, [undefined], 0, workers);
  const { host: _host, port: _port, ...tcpOptions } = tcp === false ? {} : (tcp ?? {});
  return {
    ...options,
    tcp: fds.tcp.length > 0 ? { ...tcpOptions, systemd: { fds: fds.tcp } } : false,
    ...(fds.udp.length > 0 && { udp: { systemd: { fds: fds.udp } } }),
  };
}

/** The options of one port's set: the file's settings as JSON-safe server options (a module's own stand under the keys not given). */
function workerOptions(config: ServiceConfig, hosts: readonly (string | undefined)[], port: number, workers: number | 'auto'): ServeWorkersOptions {
  const host = hosts.length === 1 ? hosts[0] : hosts.map((h) => h ?? '');
  const builtin = config.kind === 'builtin';
  // A built-in service has no module options: the kind's defaults apply; a module's options stand under the keys the file gives.
  const given = (key: 'idleTimeout' | 'maxClients' | 'maxPerIp'): boolean => builtin || config.explicit.has(key);
  const tcp: JsonOptions = {
    ...(host === undefined ? {} : { host }),
    port,
    perAddressIPv6Prefix: PER_IP_IPV6_PREFIX,
    ...config.limitOptions,
    ...(given('idleTimeout') && { idleTimeout: config.idleTimeout }),
    ...(given('maxClients') && { maxConnections: config.maxClients }),
    ...(given('maxPerIp') && { maxConnectionsPerAddress: config.maxPerIp }),
    ...(config.proxyProtocol && { proxyProtocol: config.proxyProtocol }),
  };
  const spec: BuiltinWorkerSpec | undefined = builtin ? { builtin: config.builtin!, ...(config.quotes !== undefined && { quotes: config.quotes }), ...(config.udp && { udp: config.udp }) } : undefined;
  const withUdp = builtin && config.transports.includes('udp');
  const tls = config.tls;
  return {
    module: spec === undefined ? config.module! : BUILTIN_WORKER_MODULE,
    workers,
    tcp: config.transports.includes('tcp') ? tcp : false,
    ...(withUdp && { udp: { ...(host === undefined ? {} : { host }), port } }),
    ...(tls && { tls: { cert: tls.cert, key: tls.key, ...(tls.ca !== undefined && { ca: tls.ca }), ...(tls.clientCert !== undefined && { clientCert: tls.clientCert }) } }),
    ...(spec && { env: { [BUILTIN_WORKER_ENV]: JSON.stringify(spec) } }),
  };
}
