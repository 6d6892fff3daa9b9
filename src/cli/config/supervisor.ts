/**
 * Every service of a config file in one process, and reloading the file: the new file is read
 * and checked completely first (an invalid one changes nothing and is logged with its
 * problems), then the difference is applied, one log line per change:
 *
 * - a new service starts; a removed one drains and closes;
 * - caps, accept rate, access lists, TLS material and the handler (program, module, quotes)
 *   change in place on the running servers, their listening sockets untouched;
 * - anything else (addresses, transports, deadlines, output cap, TLS on or off, UDP limits, a
 *   handler of another shape) replaces the service. With the same addresses and transports the
 *   new servers take the old ones' listening sockets (`TcpServer#handOver`: nothing is
 *   rebound, no connection refused) and the old sessions finish by themselves within the drain
 *   timeout; on new addresses the new servers bind first, then the old ones close as on
 *   shutdown (listeners at once, sessions half-closed when idle). Only a service that
 *   keeps some port but changes its addresses, or whose module changes its socket options,
 *   closes its listeners and rebinds at once (connections in that moment are refused).
 *
 * A service on workers (config/worker-service.ts) is never changed in place: when anything of
 * it changed (its settings, its worker count, its module file), a new set of workers starts
 * beside the old one on the same addresses and the old set drains; new TLS material alone is
 * re-read by the running workers (its passed sockets, if any, are taken over by the new set). A
 * service that moves between workers and one process closes its old listeners first
 * (connections in that moment are refused); one on passed sockets cannot, and keeps running.
 */
import { statSync } from 'node:fs';
import type { MetricsRegistry } from '../../index.ts';
import type { Logger } from '../logger.ts';
import type { ServingServers } from '../activation-flags.ts';
import type { Stoppable } from '../shutdown.ts';
import { checkResources, type ServiceResources } from './config-resources.ts';
import { formatProblems, type ConfigProblem } from './config-problems.ts';
import { loadConfigFile, type Config, type ServiceConfig } from './load-config.ts';
import { RunningService, canTakeOver, replacementReason } from './running-service.ts';
import { WorkerService } from './worker-service.ts';

/** Runs `start` again (for up to a second) while it fails because an address is still in use. */
async function retryWhileInUse<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= 20 || !/EADDRINUSE|address already in use/.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** How `up` serves services on workers: `up --workers` (for the services without the key) and `metrics-per-worker`. */
export interface WorkerDefaults {
  /** `up --workers`: the count of every built-in and module service without its own `workers` key. */
  readonly workers?: number | 'auto';
  /** `up --metrics-per-worker`, which wins over the file's. */
  readonly metricsPerWorker?: boolean;
}

/** The worker count `service` is served with, or undefined for `up`'s own process (exec services always are). */
export function workersOf(service: ServiceConfig, defaults: WorkerDefaults): number | 'auto' | undefined {
  if (service.workers !== undefined) return service.workers;
  if (service.kind === 'exec') return undefined;
  return defaults.workers;
}

/** The module cache key of a run service: its file's modification time, so a changed file is imported afresh. */
export function moduleVersion(service: ServiceConfig): string | undefined {
  if (service.module === undefined) return undefined;
  try {
    return String(statSync(service.module).mtimeMs);
  } catch {
    return undefined;
  }
}

/** The running services of one config file. */
export class Supervisor implements Stoppable {
  readonly #services: Map<string, RunningService>;
  /** The services on workers, by name (a name is in one map or the other). */
  readonly #workers: Map<string, WorkerService>;
  readonly #workerDefaults: WorkerDefaults;
  readonly #perWorkerAtStart: boolean;
  readonly #log: Logger;
  #config: Config;
  #drainTimeout: number;
  #reloading: Promise<void> = Promise.resolve();
  #closing = false;
  /** Services being replaced or removed, still draining. */
  readonly #draining = new Set<Promise<void>>();
  readonly #drainingServices = new Set<RunningService>();

  /** `--drain-timeout`, which wins over the file's on reload too. */
  readonly #fixedDrainTimeout: number | undefined;
  /** The metrics endpoint's registry: the servers of the services running (those replaced or removed leave it). */
  readonly #registry: MetricsRegistry | undefined;

  private constructor(config: Config, services: Map<string, RunningService>, workers: Map<string, WorkerService>, workerDefaults: WorkerDefaults, log: Logger, drainTimeout: number, fixedDrainTimeout: number | undefined, registry: MetricsRegistry | undefined) {
    this.#workers = workers;
    this.#workerDefaults = workerDefaults;
    this.#perWorkerAtStart = config.global.metricsPerWorker;
    this.#fixedDrainTimeout = fixedDrainTimeout;
    this.#registry = registry;
    this.#config = config;
    this.#services = services;
    this.#log = log;
    this.#drainTimeout = drainTimeout;
  }

  /**
   * Starts every service, in the file's order, all or nothing.
   * @throws {ListenError} (rejects) when an address cannot be bound; what was bound is closed
   */
  static async start(config: Config, resources: ReadonlyMap<string, ServiceResources>, log: Logger, fixedDrainTimeout?: number, registry?: MetricsRegistry, workerDefaults: WorkerDefaults = {}): Promise<Supervisor> {
    const drainTimeout = fixedDrainTimeout ?? config.global.drainTimeout;
    const services = new Map<string, RunningService>();
    const workers = new Map<string, WorkerService>();
    const perWorker = workerDefaults.metricsPerWorker ?? config.global.metricsPerWorker;
    try {
      for (const service of config.services) {
        const count = workersOf(service, workerDefaults);
        if (count === undefined) services.set(service.name, await RunningService.start(service, resources.get(service.name)!, log, drainTimeout));
        else workers.set(service.name, await WorkerService.start(service, resources.get(service.name)!, log, count, perWorker));
      }
    } catch (error) {
      await Promise.all([...services.values(), ...workers.values()].map((service) => service.destroy()));
      throw error;
    }
    const supervisor = new Supervisor(config, services, workers, workerDefaults, log, drainTimeout, fixedDrainTimeout, registry);
    for (const service of config.services) {
      const running = services.get(service.name) ?? workers.get(service.name)!;
      running.announce();
      supervisor.#observe(running);
    }
    return supervisor;
  }

  /** Every running server, as the endpoints of one command (for sd_notify's status). */
  get endpoints(): ServingServers['endpoints'] {
    return [...this.#services.values()].flatMap(({ servers }) => [...servers.tcp.map((tcp) => ({ tcp })), ...servers.udp.map((udp) => ({ udp }))]);
  }

  /** Open TCP sessions, over every running service. */
  get sessions(): number {
    let sessions = 0;
    for (const service of this.#services.values()) sessions += service.sessions;
    return sessions;
  }

  /** `service`'s servers join the metrics registry, labelled with its name. */
  #observe(service: RunningService | WorkerService): void {
    if (this.#registry === undefined) return;
    if (service instanceof WorkerService) {
      for (const source of service.sources) this.#registry.addSource(source);
      return;
    }
    for (const server of [...service.servers.tcp, ...service.servers.udp]) this.#registry.add(server, { service: service.name });
  }

  /** The services on workers, by name. */
  get workerServices(): ReadonlyMap<string, WorkerService> {
    return this.#workers;
  }

  /** `metrics-per-worker` in force: the flag's, else the file's as first read (a change applies at the next start). */
  get #perWorker(): boolean {
    return this.#workerDefaults.metricsPerWorker ?? this.#perWorkerAtStart;
  }

  /** The drain timeout in force (the file's, as last reloaded). */
  get drainTimeout(): number {
    return this.#drainTimeout;
  }

  /** The services running, by name. */
  get services(): ReadonlyMap<string, RunningService> {
    return this.#services;
  }

  /** Re-reads the file (after any reload in progress); resolves with whether it was applied. */
  reload(): Promise<boolean> {
    const next = this.#reloading.then(() => this.#reload());
    this.#reloading = next.then(() => undefined, () => undefined);
    return next;
  }

  async #reload(): Promise<boolean> {
    if (this.#closing) return false;
    const file = this.#config.file;
    const log = this.#log;
    let loaded;
    try {
      loaded = loadConfigFile(file);
    } catch (error) {
      log.error('reload-failed', `reload refused, nothing changed: ${(error as Error).message}`, { file });
      return false;
    }
    const config = loaded.config;
    const checked = await checkResources(config ?? loaded.partial!, { moduleVersion });
    const all = [...(loaded.problems ?? []), ...(checked.problems ?? [])];
    const problems: readonly ConfigProblem[] | undefined = all.length > 0 ? all : undefined;
    if (problems !== undefined || config === undefined || checked.resources === undefined) {
      for (const line of formatProblems(file, problems ?? [])) log.error('reload-problem', line, { file });
      log.error('reload-failed', `reload refused: ${problems?.length ?? 0} problem(s) in ${file}; nothing changed`, { file, problems: problems?.length });
      return false;
    }
    if (this.#closing) return false;
    const resources = checked.resources;
    let changes = 0;
    const note = (service: string, message: string): void => {
      changes++;
      log.info('reload', `reload: ${service}: ${message}`, { service });
    };
    const global = (key: string, then: unknown, now: unknown, applies: boolean): void => {
      if (then === now) return;
      changes++;
      if (applies) log.info('reload', `reload: global.${key} ${String(then)} \u2192 ${String(now)}`, { key });
      else log.warn('reload', `reload: global.${key} changed: applies at the next start`, { key });
    };
    if (this.#fixedDrainTimeout === undefined) {
      global('drain-timeout', this.#drainTimeout, config.global.drainTimeout, true);
      this.#drainTimeout = config.global.drainTimeout;
    }
    global('log-format', this.#config.global.json ? 'json' : 'text', config.global.json ? 'json' : 'text', false);
    global('quiet', this.#config.global.quiet, config.global.quiet, false);
    global('verbose', this.#config.global.verbose, config.global.verbose, false);
    global('pid-file', this.#config.global.pidFile, config.global.pidFile, false);
    global('metrics', this.#config.global.metrics?.text, config.global.metrics?.text, false);
    global('metrics-per-worker', this.#config.global.metricsPerWorker, config.global.metricsPerWorker, false);

    const wanted = new Set(config.services.map((service) => service.name));
    for (const [name, running] of this.#workers) {
      if (wanted.has(name)) continue;
      this.#workers.delete(name);
      note(name, `removed: its ${running.workers} worker(s) draining`);
      this.#drainWorkers(running);
    }
    for (const [name, running] of this.#services) {
      if (wanted.has(name)) continue;
      this.#services.delete(name);
      note(name, `removed: draining (${running.sessions} session(s) open)`);
      this.#drain(running);
    }
    for (const service of config.services) {
      const prepared = resources.get(service.name)!;
      if (await this.#reloadWorkers(service, prepared, note)) continue;
      const running = this.#services.get(service.name);
      if (!running) {
        try {
          const started = await RunningService.start(service, prepared, log, this.#drainTimeout);
          this.#services.set(service.name, started);
          started.announce();
          this.#observe(started);
          note(service.name, 'added');
        } catch (error) {
          log.error('reload-failed', `reload: ${service.name}: not started: ${(error as Error).message}`, { service: service.name });
        }
        continue;
      }
      const reason = replacementReason(running.config, running.resources, service, prepared, running.swappable);
      if (reason === undefined) {
        try {
          for (const line of await running.applyInPlace(service, prepared, this.#drainTimeout)) note(service.name, line);
        } catch (error) {
          log.error('reload-failed', `reload: ${service.name}: ${(error as Error).message}`, { service: service.name });
        }
        continue;
      }
      await this.#replace(running, service, prepared, reason, note);
    }
    log.info('reloaded', `reloaded ${file}: ${changes === 0 ? 'no change' : `${changes} change(s)`}`, { file, changes });
    this.#config = config;
    return true;
  }

  /**
   * Reloads `service` where workers are concerned -- it runs on workers, or is to -- and returns
   * true; false leaves it to the one-process path.
   */
  async #reloadWorkers(service: ServiceConfig, prepared: ServiceResources, note: (service: string, message: string) => void): Promise<boolean> {
    const count = workersOf(service, this.#workerDefaults);
    const onWorkers = this.#workers.get(service.name);
    const inProcess = this.#services.get(service.name);
    if (count === undefined && onWorkers === undefined) return false;
    const log = this.#log;
    if (count !== undefined && onWorkers?.serves(service, prepared, count)) {
      if (!onWorkers.tlsChanged(prepared)) return true;
      const failures = await onWorkers.reloadTls();
      for (const failure of failures) log.error('reload-failed', `reload: ${service.name}: TLS reload failed, the certificates in use are kept: ${failure}`, { service: service.name });
      if (failures.length === 0) note(service.name, `TLS material re-read from ${service.tls!.cert} by every worker (next handshakes)`);
      return true;
    }
    if ((count === undefined || inProcess !== undefined) && (service.systemd.length > 0 || (onWorkers ?? inProcess)!.config.systemd.length > 0)) {
      // A passed fd is adopted once: between workers and one process nothing can hand it over.
      log.error('reload-failed', `reload: ${service.name}: ${count === undefined ? 'workers \u2192 one process' : 'one process \u2192 workers'}, but it serves passed sockets (systemd:NAME), which only workers replacing workers (or servers replacing servers) can keep: it keeps running unchanged (restart switchboard up to apply)`, { service: service.name });
      return true;
    }
    if (count === undefined) {
      // Back to one process: the workers stop accepting first, then the servers bind (retrying while the port is let go).
      this.#workers.delete(service.name);
      this.#drainWorkers(onWorkers!);
      try {
        const started = await RunningService.start(service, prepared, log, this.#drainTimeout, true);
        this.#services.set(service.name, started);
        started.announce();
        this.#observe(started);
        note(service.name, `workers \u2192 one process: replaced (the workers draining)`);
      } catch (error) {
        log.error('reload-failed', `reload: ${service.name}: the servers could not start (the workers are closed): ${(error as Error).message}`, { service: service.name });
      }
      return true;
    }
    // Onto workers from one process: its listeners close first (a plain socket and SO_REUSEPORT ones do not share a port).
    if (inProcess !== undefined) {
      this.#services.delete(service.name);
      this.#drain(inProcess, 'listeners-first');
    }
    try {
      const start = (): Promise<WorkerService> => WorkerService.start(service, prepared, log, count, this.#perWorker, onWorkers);
      // From one process, the old listeners are closing: the workers' bind is retried while the port is let go.
      const started = inProcess === undefined ? await start() : await retryWhileInUse(start);
      this.#workers.set(service.name, started);
      started.announce();
      this.#observe(started);
    } catch (error) {
      const kept = inProcess === undefined && onWorkers !== undefined;
      log.error('reload-failed', `reload: ${service.name}: the new workers could not start${kept ? ' (the old ones keep serving)' : inProcess === undefined ? '' : ' (the old servers are closed)'}: ${(error as Error).message}`, { service: service.name });
      return true;
    }
    if (onWorkers !== undefined) this.#drainWorkers(onWorkers);
    const what = onWorkers !== undefined ? `replaced by ${count} new worker(s) beside the old ones (the old workers draining)` : inProcess !== undefined ? `one process \u2192 ${count} worker(s): replaced (the old sessions draining)` : `added (${count} worker(s))`;
    note(service.name, what);
    return true;
  }

  /** Drains a service on workers in the background, within the drain timeout. */
  #drainWorkers(running: WorkerService): void {
    if (!this.#closing) for (const source of running.sources) this.#registry?.removeSource(source);
    const done = running.close(this.#drainTimeout).catch((error: unknown) => {
      this.#log.error('drain-failed', `${running.name}: ${(error as Error).message}`, { service: running.name });
    });
    this.#draining.add(done);
    void done.then(() => this.#draining.delete(done));
  }

  async #replace(running: RunningService, service: ServiceConfig, prepared: ServiceResources, reason: string, note: (service: string, message: string) => void): Promise<void> {
    const takeOver = canTakeOver(running, service, prepared);
    if (!takeOver && (running.config.systemd.length > 0 || service.systemd.length > 0)) {
      // A passed fd is adopted once, and LISTEN_FDS was read at the start: nothing can rebind it.
      this.#log.error('reload-failed', `reload: ${service.name}: ${reason}, but it serves passed sockets (systemd:NAME), which only a hand-over of the same listen and TCP-only transports can keep: it keeps running unchanged (restart switchboard up to apply)`, { service: service.name });
      return;
    }
    if (takeOver) {
      const sessions = running.sessions;
      try {
        const started = await RunningService.start(service, prepared, this.#log, this.#drainTimeout, false, running);
        this.#services.set(service.name, started);
        this.#observe(started);
      } catch (error) {
        // What was handed over went down with the new servers: the old ones are left with their sessions only.
        this.#services.delete(service.name);
        this.#drain(running);
        this.#log.error('reload-failed', `reload: ${service.name}: ${reason}, but the new servers could not take over, and the service is stopped: ${(error as Error).message}`, { service: service.name });
        return;
      }
      this.#drain(running, 'retire');
      note(service.name, `${reason}: replaced (the listening sockets handed over; ${sessions} old session(s) draining)`);
      return;
    }
    const oldPorts = new Set(running.config.listen.map((address) => address.port).filter((port) => port !== 0));
    const samePort = service.listen.some((address) => oldPorts.has(address.port));
    if (samePort) this.#drain(running, 'listeners-first');
    try {
      const started = await RunningService.start(service, prepared, this.#log, this.#drainTimeout, samePort);
      this.#services.set(service.name, started);
      started.announce();
      this.#observe(started);
    } catch (error) {
      if (samePort) this.#services.delete(service.name);
      this.#log.error('reload-failed', `reload: ${service.name}: ${reason}, but the new servers could not start${samePort ? ' (the old ones are closed)' : ' (the old ones keep serving)'}: ${(error as Error).message}`, { service: service.name });
      return;
    }
    if (!samePort) this.#drain(running);
    note(service.name, `${reason}: replaced (${samePort ? 'the same port rebound' : 'new servers bound first'}; ${running.sessions} old session(s) draining)`);
  }

  /**
   * Closes a service in the background, within the drain timeout: `retire` after a hand-over
   * (its pending connections first), `listeners-first` before a rebind of its port (not exec's
   * suspended drain, which keeps the listeners).
   */
  #drain(running: RunningService, how: 'close' | 'retire' | 'listeners-first' = 'close'): void {
    const timeout = this.#drainTimeout;
    // Off the registry at once: its successor (if any) is the service now; shutdown keeps every server in it to the end.
    if (!this.#closing) for (const server of [...running.servers.tcp, ...running.servers.udp]) this.#registry?.remove(server);
    const closing = how === 'retire' ? running.retire(timeout) : how === 'listeners-first' ? running.closeListenersFirst(timeout) : running.close(timeout);
    const done = closing.catch((error: unknown) => {
      this.#log.error('drain-failed', `${running.name}: ${(error as Error).message}`, { service: running.name });
    });
    this.#draining.add(done);
    this.#drainingServices.add(running);
    void done.then(() => {
      this.#draining.delete(done);
      this.#drainingServices.delete(running);
    });
  }

  /** Stops every service, gracefully within `timeout`; services still draining from a reload included. */
  async close(timeout: number): Promise<void> {
    this.#closing = true;
    await this.#reloading;
    // Services still draining from a reload close now too, within the same deadline.
    await Promise.all([...[...this.#services.values(), ...this.#drainingServices, ...this.#workers.values()].map((service) => service.close(timeout)), ...this.#draining]);
  }

  async destroy(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#services.values(), ...this.#drainingServices, ...this.#workers.values()].map((service) => service.destroy()));
  }
}
