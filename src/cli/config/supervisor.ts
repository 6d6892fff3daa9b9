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

  private constructor(config: Config, services: Map<string, RunningService>, log: Logger, drainTimeout: number, fixedDrainTimeout: number | undefined, registry: MetricsRegistry | undefined) {
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
  static async start(config: Config, resources: ReadonlyMap<string, ServiceResources>, log: Logger, fixedDrainTimeout?: number, registry?: MetricsRegistry): Promise<Supervisor> {
    const drainTimeout = fixedDrainTimeout ?? config.global.drainTimeout;
    const services = new Map<string, RunningService>();
    try {
      for (const service of config.services) services.set(service.name, await RunningService.start(service, resources.get(service.name)!, log, drainTimeout));
    } catch (error) {
      await Promise.all([...services.values()].map((service) => service.destroy()));
      throw error;
    }
    for (const service of services.values()) service.announce();
    const supervisor = new Supervisor(config, services, log, drainTimeout, fixedDrainTimeout, registry);
    for (const service of services.values()) supervisor.#observe(service);
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
  #observe(service: RunningService): void {
    if (this.#registry === undefined) return;
    for (const server of [...service.servers.tcp, ...service.servers.udp]) this.#registry.add(server, { service: service.name });
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
      if (applies) log.info('reload', `reload: global.${key} ${String(then)} → ${String(now)}`, { key });
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

    const wanted = new Set(config.services.map((service) => service.name));
    for (const [name, running] of this.#services) {
      if (wanted.has(name)) continue;
      this.#services.delete(name);
      note(name, `removed: draining (${running.sessions} session(s) open)`);
      this.#drain(running);
    }
    for (const service of config.services) {
      const running = this.#services.get(service.name);
      const prepared = resources.get(service.name)!;
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
    await Promise.all([...[...this.#services.values(), ...this.#drainingServices].map((service) => service.close(timeout)), ...this.#draining]);
  }

  async destroy(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#services.values(), ...this.#drainingServices].map((service) => service.destroy()));
  }
}
