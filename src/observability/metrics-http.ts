/**
 * A small HTTP listener for a {@link MetricsRegistry}: `/metrics` (Prometheus), `/healthz`
 * (process alive, event loop responsive), `/readyz` (every server serving, no drain begun),
 * `/status` (a live page for a person) and `/status.json`. Bounded like the servers it watches:
 * GET and HEAD only, small headers, a header deadline, its own connection cap.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { nodeHttp } from '../core/builtins.ts';
import { formatHostPort, InvalidOptionError, opErrorFromSystem } from '../core/errors.ts';
import { durationOption, integerOption, optionNames, optionsObject, portOption } from '../core/options.ts';
import { LoopMonitor } from './loop-monitor.ts';
import type { MetricsRegistry, MetricsSnapshot } from './metrics-registry.ts';
import { renderMetrics } from './metric-families.ts';
import { PROMETHEUS_CONTENT_TYPE, ExpositionWriter } from './prometheus-text.ts';
import { STATUS_PAGE_CSS, STATUS_PAGE_HTML, STATUS_PAGE_JS } from './status-page.ts';

/** Options of {@link listenMetrics}. */
export interface MetricsServerOptions {
  /** The address to listen on; keep it on loopback or a management network. @default '127.0.0.1' */
  host?: string;
  /** The port; 0 for a free one (read `server.address`). @default 9464 */
  port?: number;
  /** Connections open at once; more are closed as they arrive. @default 16 */
  maxConnections?: number;
  /** Request line plus headers, in bytes; more is answered 431. @default 8192 */
  maxHeaderSize?: number;
  /** Time to receive the request headers, in ms (slowloris); then 408 and close. @default 5000 */
  headersTimeout?: number;
  /** `/healthz` fails while an event-loop delay over this many ms was seen in the last `healthWindow` ms. @default 1000 */
  loopDelayThreshold?: number;
  /** How long `/healthz` remembers a delay, in ms. @default 10000 */
  healthWindow?: number;
  /** How often the status page's history is sampled (and the page polls), in ms. @default 2000 */
  statusInterval?: number;
  /** How many history samples are kept (x `statusInterval`: the chart's span). @default 150 */
  historySize?: number;
}

/** One point of the status page's chart: totals over every server at one moment. */
export interface StatusSample {
  /** ms since the epoch, read from the monotonic clock (`performance.timeOrigin + performance.now()`). */
  readonly t: number;
  readonly sessions: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** What `/status.json` returns: a snapshot, the loop health, and the chart's history. */
export interface StatusDocument extends MetricsSnapshot {
  readonly healthy: boolean;
  /** The largest recent event-loop delay, in seconds. */
  readonly eventLoopDelaySeconds: number;
  /** How often the page should poll, in ms. */
  readonly intervalMs: number;
  readonly history: readonly StatusSample[];
}

const OPTIONS = optionNames<MetricsServerOptions>({
  host: true,
  port: true,
  maxConnections: true,
  maxHeaderSize: true,
  headersTimeout: true,
  loopDelayThreshold: true,
  healthWindow: true,
  statusInterval: true,
  historySize: true,
});

/** The paths served, each to its handler. */
const ROUTES = ['/metrics', '/healthz', '/readyz', '/status', '/status.json', '/status.js', '/status.css', '/favicon.ico'] as const;
type Route = (typeof ROUTES)[number];

/**
 * The HTTP listener {@link listenMetrics} starts. `close()` closes it and every connection it has.
 */
export class MetricsServer implements AsyncDisposable {
  readonly #registry: MetricsRegistry;
  readonly #http: Server;
  readonly #loop: LoopMonitor;
  readonly #interval: number;
  readonly #historySize: number;
  readonly #history: StatusSample[] = [];
  #sampler: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  /** @internal use {@link listenMetrics} */
  constructor(registry: MetricsRegistry, http: Server, loop: LoopMonitor, interval: number, historySize: number) {
    this.#registry = registry;
    this.#http = http;
    this.#loop = loop;
    this.#interval = interval;
    this.#historySize = historySize;
    http.on('request', (request: IncomingMessage, response: ServerResponse) => this.#serve(request, response));
  }

  /** The bound address and port. */
  get address(): { address: string; port: number; family: string } {
    const bound = this.#http.address();
    if (bound === null || typeof bound === 'string') return { address: '', port: 0, family: '' };
    return { address: bound.address, port: bound.port, family: bound.family };
  }

  /** `http://HOST:PORT`, for logs. */
  get url(): string {
    const { address, port } = this.address;
    return `http://${formatHostPort(address, port)}`;
  }

  /** Every document `/status.json` would return now. */
  status(): StatusDocument {
    const snapshot = this.#registry.snapshot();
    return { ...snapshot, healthy: this.#loop.healthy, eventLoopDelaySeconds: this.#loop.delay / 1000, intervalMs: this.#interval, history: [...this.#history] };
  }

  /** Stops listening and closes every connection; idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      clearInterval(this.#sampler);
      this.#loop.stop();
      this.#http.close(() => resolve());
      this.#http.closeAllConnections();
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  startSampling(): void {
    this.#loop.start();
    this.#sample();
    this.#sampler = setInterval(() => void this.#registry.refresh().catch(() => {}).then(() => this.#sample()), this.#interval).unref();
  }

  #sample(): void {
    let sessions = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    for (const server of this.#registry.snapshot().servers) {
      sessions += 'sessions' in server.stats ? server.stats.sessions : 0;
      bytesIn += server.stats.bytesIn;
      bytesOut += server.stats.bytesOut;
    }
    // Monotonic (the page divides by differences of `t`), expressed as ms since the epoch.
    this.#history.push({ t: Math.round(performance.timeOrigin + performance.now()), sessions, bytesIn, bytesOut });
    if (this.#history.length > this.#historySize) this.#history.shift();
  }

  #serve(request: IncomingMessage, response: ServerResponse): void {
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed: GET or HEAD only\n', true);
    }
    // A request with a body is not one of ours; the connection is not kept to read it.
    if (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0') return send(response, 400, 'text/plain; charset=utf-8', 'a request body is not accepted\n', true);
    if (request.headers['transfer-encoding'] !== undefined) return send(response, 400, 'text/plain; charset=utf-8', 'a request body is not accepted\n', true);
    const url = request.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    // Exact paths only: nothing is read from the file system, so `..` and encodings lead nowhere.
    if (!(ROUTES as readonly string[]).includes(path)) return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
    const head = method === 'HEAD';
    // Sources elsewhere (worker processes) are asked for fresh ledgers first; a failed refresh answers with what was there.
    const fresh = path === '/metrics' || path === '/readyz' || path === '/status.json' ? this.#registry.refresh().catch(() => {}) : undefined;
    if (fresh === undefined) this.#route(path as Route, response, head);
    else void fresh.then(() => this.#route(path as Route, response, head));
  }

  #route(path: Route, response: ServerResponse, head: boolean): void {
    switch (path) {
      case '/metrics':
        return send(response, 200, PROMETHEUS_CONTENT_TYPE, renderMetrics(this.#registry.snapshot()) + this.#processMetrics(), false, head);
      case '/healthz': {
        const delay = this.#loop.delay;
        const ok = this.#loop.healthy;
        return send(response, ok ? 200 : 503, 'text/plain; charset=utf-8', `${ok ? 'ok' : 'unhealthy'}: event loop delay ${Math.round(delay)} ms\n`, false, head);
      }
      case '/readyz': {
        const snapshot = this.#registry.snapshot();
        return send(response, isReady(snapshot) ? 200 : 503, 'text/plain; charset=utf-8', describeReadiness(snapshot), false, head);
      }
      case '/status.json':
        return send(response, 200, 'application/json; charset=utf-8', `${JSON.stringify(this.status())}\n`, false, head);
      case '/status':
        response.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
        return send(response, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML, false, head);
      case '/status.js':
        return send(response, 200, 'text/javascript; charset=utf-8', STATUS_PAGE_JS, false, head);
      case '/status.css':
        return send(response, 200, 'text/css; charset=utf-8', STATUS_PAGE_CSS, false, head);
      case '/favicon.ico':
        // Browsers ask for it; no icon, and no 404 in their console either.
        response.statusCode = 204;
        return void response.end();
    }
  }

  /** Process-wide series beside the servers': the event-loop delay the health check uses. */
  #processMetrics(): string {
    const out = new ExpositionWriter();
    out.family('switchboard_event_loop_delay_seconds', 'gauge', 'The largest event-loop delay seen recently (what /healthz checks).');
    out.sample('switchboard_event_loop_delay_seconds', {}, this.#loop.delay / 1000);
    return out.text();
  }
}

/** Ready: at least one server, every one listening and not suspended, and no drain begun. */
function isReady(snapshot: MetricsSnapshot): boolean {
  return snapshot.ready && snapshot.servers.length > 0;
}

/** One line per server, then the verdict, so a failing probe says which server is not ready. */
function describeReadiness(snapshot: MetricsSnapshot): string {
  const lines = snapshot.servers.map((server) => `${server.ready ? 'ready' : 'not ready'}: ${server.transport} ${server.listener || '(not bound)'} ${server.service}: ${server.suspended ? 'suspended' : server.state}`);
  if (snapshot.servers.length === 0) lines.push('not ready: no servers');
  if (snapshot.draining) lines.push('not ready: draining (shutdown begun)');
  return `${lines.join('\n')}\n`;
}

function send(response: ServerResponse, status: number, type: string, body: string, close = false, head = false): void {
  response.statusCode = status;
  response.setHeader('Content-Type', type);
  response.setHeader('Content-Length', Buffer.byteLength(body));
  if (close) response.setHeader('Connection', 'close');
  response.end(head ? undefined : body);
}

/**
 * Serves `registry` over HTTP: `/metrics`, `/healthz`, `/readyz`, `/status`, `/status.json`.
 * Resolves once listening.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` synchronously for a bad option
 * @throws {OpError} (rejects) when the address cannot be bound (`SWB_ERR_ADDRESS_IN_USE`, ...)
 * @example
 * const registry = new MetricsRegistry().add(server, { service: 'echo' });
 * const metrics = await listenMetrics(registry, { host: '127.0.0.1', port: 9464 });
 * // curl -s http://127.0.0.1:9464/metrics | promtool check metrics
 */
export function listenMetrics(registry: MetricsRegistry, options?: MetricsServerOptions): Promise<MetricsServer> {
  const given = optionsObject('options', options, OPTIONS);
  const host = given.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new InvalidOptionError('host', 'must be a non-empty string', host);
  const port = given.port === undefined ? 9464 : portOption(given.port);
  const maxConnections = integerOption('maxConnections', given.maxConnections, 16, 1, 1024);
  const maxHeaderSize = integerOption('maxHeaderSize', given.maxHeaderSize, 8192, 256, 65536);
  const headersTimeout = integerOption('headersTimeout', given.headersTimeout, 5000, 100, 600_000);
  const threshold = durationOption('loopDelayThreshold', given.loopDelayThreshold, 1000);
  const window = durationOption('healthWindow', given.healthWindow, 10_000);
  const interval = integerOption('statusInterval', given.statusInterval, 2000, 100, 3_600_000);
  const historySize = integerOption('historySize', given.historySize, 150, 2, 100_000);

  // node:http is loaded here, on first use, not with the library: it is 1.5 MB of heap that a
  // server without a metrics endpoint would carry for nothing (docs/benchmarks.md). Through
  // nodeHttp(), not import(): the ES facade would load undici too (src/core/builtins.ts).
  return Promise.resolve().then(() => {
    const http = nodeHttp().createServer({
      maxHeaderSize,
      headersTimeout,
      requestTimeout: headersTimeout * 2,
      keepAliveTimeout: 5000,
      // How often Node checks the two deadlines above: a fraction of the header deadline.
      connectionsCheckingInterval: Math.max(50, Math.floor(headersTimeout / 4)),
    });
    http.maxConnections = maxConnections;
    http.maxRequestsPerSocket = 100;
    // A malformed request, headers over the size or past the deadline: Node's own `clientError`
    // answer (400, 431, 408) and close, for that connection only.
    http.on('connection', (socket: Socket) => socket.setNoDelay(true));
    const server = new MetricsServer(registry, http, new LoopMonitor(threshold, window), interval, historySize);
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(opErrorFromSystem({ op: 'listen', transport: 'tcp', address: host, port }, error));
      http.once('error', onError);
      http.listen({ host, port }, () => {
        http.off('error', onError);
        server.startSampling();
        resolve(server);
      });
    });
  });
}
