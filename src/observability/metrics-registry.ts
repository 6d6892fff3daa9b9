/**
 * The servers one scrape covers: each joins with its `service` name; a snapshot reads every
 * server's `stats()` in one synchronous pass (so the ledger identities hold in it), and the
 * Prometheus text, `/status.json` and `/readyz` are all made from snapshots.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { formatHostPort, InvalidOptionError, SwitchboardError } from '../core/errors.ts';
import { optionNames, optionsObject } from '../core/options.ts';
import { DiagnosticsChannel, tlsHandshakeChannel } from '../server/diagnostics.ts';
import { ServerState } from '../server/server-lifecycle.ts';
import { TcpServer, type TcpServerStats } from '../tcp/tcp-server.ts';
import { UdpServer, type UdpServerStats } from '../udp/udp-server.ts';
import type { TcpSession } from '../tcp/tcp-session.ts';
import type { CloseReason } from '../tcp/close-reason.ts';
import { Histogram, SESSION_DURATION_BUCKETS, TLS_HANDSHAKE_BUCKETS, type HistogramSnapshot } from './histogram.ts';
import { renderMetrics } from './metric-families.ts';

/** Options of {@link MetricsRegistry}. */
export interface MetricsRegistryOptions {
  /**
   * Keep the session-duration and TLS-handshake-duration histograms. They are fed through the
   * diagnostics channels, which the registry subscribes to while it has servers; without them
   * the hot path does no work for the registry at all.
   * @default true
   */
  histograms?: boolean;
  /** Upper bounds of `switchboard_session_duration_seconds`, in seconds. @default SESSION_DURATION_BUCKETS */
  sessionDurationBuckets?: readonly number[];
  /** Upper bounds of `switchboard_tls_handshake_duration_seconds`, in seconds. @default TLS_HANDSHAKE_BUCKETS */
  tlsHandshakeBuckets?: readonly number[];
}

/** Options of {@link MetricsRegistry.add}. */
export interface ObserveOptions {
  /** The `service` label (the CLI's service or module name, as in its `--json` log records). @default the transport */
  service?: string;
}

/** An observed server's last error: a close or refusal that carried one. */
export interface LastError {
  readonly code: string;
  readonly message: string;
  /** When, as an ISO 8601 timestamp. */
  readonly at: string;
}

/** One server in a {@link MetricsSnapshot}. */
export interface ServerSnapshot {
  readonly service: string;
  readonly transport: 'tcp' | 'udp';
  /** Its bound addresses as `HOST:PORT`, space-separated: the `listener` label. */
  readonly listener: string;
  readonly state: ServerState;
  readonly suspended: boolean;
  /** Whether it serves new connections: listening and not suspended. */
  readonly ready: boolean;
  /** `maxConnections` in force (0 = no limit); 0 for UDP. */
  readonly limit: number;
  /** Seconds since it started listening (0 before). */
  readonly uptimeSeconds: number;
  readonly lastError: LastError | null;
  /** `server.stats()` at the snapshot. */
  readonly stats: TcpServerStats | UdpServerStats;
  /** Present while the registry keeps histograms (TCP only; the TLS one only with the `tls` option). */
  readonly sessionDuration?: HistogramSnapshot;
  readonly tlsHandshakeDuration?: HistogramSnapshot;
  /** The `worker` label: set only by a source that reports each worker apart ({@link ServerSnapshotSource}). */
  readonly worker?: string;
}

/**
 * Servers observed elsewhere -- worker processes (`workerSetSource()`) -- that join a registry's
 * snapshots: {@link MetricsRegistry.refresh} asks each source for fresh ledgers, then
 * `snapshot()` includes what {@link servers} returns.
 */
export interface ServerSnapshotSource {
  /** Fetches fresh ledgers (bounded: a source answers, or keeps what it had, within a few seconds). */
  refresh(): Promise<void>;
  /** The servers as last refreshed. */
  servers(): readonly ServerSnapshot[];
}

/** Every observed server at one moment, read in one synchronous pass. */
export interface MetricsSnapshot {
  /** ISO 8601. */
  readonly time: string;
  /** Seconds the process has run. */
  readonly processUptimeSeconds: number;
  /** Every server ready, and no drain begun ({@link MetricsRegistry.beginDrain}). */
  readonly ready: boolean;
  readonly draining: boolean;
  readonly servers: readonly ServerSnapshot[];
}

type ObservedServer = TcpServer<any> | UdpServer;

interface Entry {
  readonly server: ObservedServer;
  readonly service: string;
  readonly transport: 'tcp' | 'udp';
  listener: string;
  listeningSince: number | undefined;
  lastError: LastError | null;
  readonly sessionDuration: Histogram | undefined;
  readonly tlsHandshakeDuration: Histogram | undefined;
}

const REGISTRY_OPTIONS = optionNames<MetricsRegistryOptions>({ histograms: true, sessionDurationBuckets: true, tlsHandshakeBuckets: true });
const OBSERVE_OPTIONS = optionNames<ObserveOptions>({ service: true });

/**
 * A set of servers scraped together: `registry.add(server, { service })`, then
 * `registry.metrics()` for Prometheus text, `registry.snapshot()` for JSON, or
 * {@link listenMetrics} to serve them over HTTP.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a bad option
 * @example
 * const registry = new MetricsRegistry();
 * registry.add(await listenTcp({ port: 7007 }, echo), { service: 'echo' });
 * console.log(registry.metrics()); // switchboard_sessions_active{service="echo",...} 0 ...
 */
export class MetricsRegistry {
  readonly #entries = new Map<ObservedServer, Entry>();
  readonly #sources = new Set<ServerSnapshotSource>();
  readonly #histograms: boolean;
  readonly #sessionBuckets: readonly number[];
  readonly #tlsBuckets: readonly number[];
  #subscribed = false;
  #draining = false;
  /** TLS handshakes in progress (subscribers only): when each began and on which local port. */
  readonly #handshakes = new WeakMap<object, { startedAt: number; port: number | undefined }>();

  constructor(options?: MetricsRegistryOptions) {
    options = optionsObject('options', options, REGISTRY_OPTIONS);
    if (options.histograms !== undefined && typeof options.histograms !== 'boolean') throw new InvalidOptionError('histograms', 'must be a boolean', options.histograms);
    this.#histograms = options.histograms ?? true;
    this.#sessionBuckets = options.sessionDurationBuckets ?? SESSION_DURATION_BUCKETS;
    this.#tlsBuckets = options.tlsHandshakeBuckets ?? TLS_HANDSHAKE_BUCKETS;
    // Checked now, not at the first server.
    new Histogram(this.#sessionBuckets, 'sessionDurationBuckets');
    new Histogram(this.#tlsBuckets, 'tlsHandshakeBuckets');
  }

  /**
   * Adds a server (TCP or UDP, listening or not yet); adding one already here changes nothing.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a server that is neither, or a bad `service`
   */
  add(server: ObservedServer, options?: ObserveOptions): this {
    if (!(server instanceof TcpServer) && !(server instanceof UdpServer)) throw new InvalidOptionError('server', 'must be a TcpServer or a UdpServer', server);
    options = optionsObject('options', options, OBSERVE_OPTIONS);
    const transport = server instanceof TcpServer ? 'tcp' : 'udp';
    const service = options.service ?? transport;
    if (typeof service !== 'string' || service === '') throw new InvalidOptionError('service', 'must be a non-empty string', service);
    if (this.#entries.has(server)) return this;
    const histograms = this.#histograms && transport === 'tcp';
    const entry: Entry = {
      server,
      service,
      transport,
      listener: '',
      listeningSince: undefined,
      lastError: null,
      sessionDuration: histograms ? new Histogram(this.#sessionBuckets, 'sessionDurationBuckets') : undefined,
      tlsHandshakeDuration: histograms && (server as TcpServer).stats().tls !== undefined ? new Histogram(this.#tlsBuckets, 'tlsHandshakeBuckets') : undefined,
    };
    this.#entries.set(server, entry);
    if (server.state === ServerState.LISTENING) this.#listening(entry);
    else (server as UdpServer).once('listening', () => this.#listening(entry));
    if (this.#histograms) this.#subscribe();
    return this;
  }

  /** Removes a server; true if it was here. */
  remove(server: ObservedServer): boolean {
    const removed = this.#entries.delete(server);
    if (this.#entries.size === 0) this.#unsubscribe();
    return removed;
  }

  /** Adds servers observed elsewhere (worker processes); their servers follow this registry's in every snapshot. */
  addSource(source: ServerSnapshotSource): this {
    this.#sources.add(source);
    return this;
  }

  /** Removes a source; true if it was here. */
  removeSource(source: ServerSnapshotSource): boolean {
    return this.#sources.delete(source);
  }

  /** Refreshes every source ({@link addSource}); `listenMetrics` calls it before each answer. Without sources it resolves at once. */
  async refresh(): Promise<void> {
    await Promise.all([...this.#sources].map((source) => source.refresh()));
  }

  /** Removes every server, every source and the registry's channel subscriptions. */
  clear(): void {
    this.#entries.clear();
    this.#sources.clear();
    this.#unsubscribe();
  }

  /** The servers observed, in the order added. */
  get servers(): ObservedServer[] {
    return [...this.#entries.keys()];
  }

  /**
   * Marks the start of a shutdown: `/readyz` answers 503 from now on, before the servers are
   * told to close (call it first, then `close()` them), so a load balancer stops sending first.
   */
  beginDrain(): void {
    this.#draining = true;
  }

  /** Whether {@link beginDrain} was called. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Every server's ledger, read in one synchronous pass. */
  snapshot(): MetricsSnapshot {
    const now = performance.now();
    const servers: ServerSnapshot[] = [];
    for (const entry of this.#entries.values()) servers.push(this.#serverSnapshot(entry, now));
    for (const source of this.#sources) servers.push(...source.servers());
    return {
      time: new Date().toISOString(),
      processUptimeSeconds: process.uptime(),
      ready: !this.#draining && servers.every((server) => server.ready),
      draining: this.#draining,
      servers,
    };
  }

  /** The Prometheus text exposition (format 0.0.4) of one snapshot; serve it as `PROMETHEUS_CONTENT_TYPE`. */
  metrics(): string {
    return renderMetrics(this.snapshot());
  }

  #serverSnapshot(entry: Entry, now: number): ServerSnapshot {
    const { server } = entry;
    const tcp = server instanceof TcpServer ? server : undefined;
    if (entry.listener === '' && server.state === ServerState.LISTENING) this.#listening(entry);
    const suspended = tcp?.suspended ?? false;
    const state = server.state;
    return {
      service: entry.service,
      transport: entry.transport,
      listener: entry.listener,
      state,
      suspended,
      ready: state === ServerState.LISTENING && !suspended,
      limit: tcp === undefined ? 0 : tcp.throttle().maxConnections,
      uptimeSeconds: entry.listeningSince === undefined ? 0 : (now - entry.listeningSince) / 1000,
      lastError: entry.lastError,
      stats: server.stats(),
      ...(entry.sessionDuration && { sessionDuration: entry.sessionDuration.snapshot() }),
      ...(entry.tlsHandshakeDuration && { tlsHandshakeDuration: entry.tlsHandshakeDuration.snapshot() }),
    };
  }

  #listening(entry: Entry): void {
    entry.listeningSince ??= performance.now();
    entry.listener = entry.server.addresses.map((address) => formatHostPort(address.address, address.port)).join(' ');
  }

  #subscribe(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    subscribe(DiagnosticsChannel.SESSION_CLOSE, this.#onSessionClose);
    subscribe(DiagnosticsChannel.CONNECTION_REJECT, this.#onReject);
    tlsHandshakeChannel.subscribe(this.#tlsHandlers);
  }

  #unsubscribe(): void {
    if (!this.#subscribed) return;
    this.#subscribed = false;
    unsubscribe(DiagnosticsChannel.SESSION_CLOSE, this.#onSessionClose);
    unsubscribe(DiagnosticsChannel.CONNECTION_REJECT, this.#onReject);
    tlsHandshakeChannel.unsubscribe(this.#tlsHandlers);
  }

  readonly #onSessionClose = (message: unknown): void => {
    const { server, session, reason } = message as { server: ObservedServer; session: TcpSession; reason: CloseReason };
    const entry = this.#entries.get(server);
    if (entry === undefined) return;
    entry.sessionDuration?.observe((performance.now() - session.openedTick) / 1000);
    if (reason.error !== undefined) entry.lastError = lastErrorOf(reason.error);
  };

  readonly #onReject = (message: unknown): void => {
    const { server, error } = message as { server: ObservedServer; error: SwitchboardError | undefined };
    const entry = this.#entries.get(server);
    if (entry !== undefined && error !== undefined) entry.lastError = lastErrorOf(error);
  };

  readonly #tlsHandlers = {
    start: (context: object): void => {
      this.#handshakes.set(context, { startedAt: performance.now(), port: (context as { socket?: { localPort?: number } }).socket?.localPort });
    },
    end: (): void => {},
    asyncStart: (): void => {},
    asyncEnd: (context: object): void => {
      const started = this.#handshakes.get(context);
      if (started === undefined) return;
      this.#handshakes.delete(context);
      this.#tlsEntryFor(started.port)?.tlsHandshakeDuration?.observe((performance.now() - started.startedAt) / 1000);
    },
    error: (): void => {},
  };

  /** The TLS server listening on `port` (the handshake's socket's local port). */
  #tlsEntryFor(port: number | undefined): Entry | undefined {
    if (port === undefined) return undefined;
    for (const entry of this.#entries.values()) {
      if (entry.tlsHandshakeDuration !== undefined && entry.server.addresses.some((address) => address.port === port)) return entry;
    }
    return undefined;
  }
}

function lastErrorOf(error: SwitchboardError): LastError {
  return { code: error.code, message: error.message, at: new Date().toISOString() };
}
