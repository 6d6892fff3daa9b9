/**
 * The TLS of one TCP server: its contexts (replaced whole by `setTls`), every handshake it runs
 * -- implicit at accept, or STARTTLS on a session -- counted by outcome, failures summarised in
 * one `warning` per interval (a scanner must not flood the logs), and the certificate expiry
 * warning at listen, on every reload and daily.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import { tlsHandshakeChannel } from '../server/diagnostics.ts';
import type { ExpiringCertificate } from './certificates.ts';
import { HandshakeFailure, TlsHandshakeError } from './handshake-error.ts';
import { handshakeSettings, startHandshake, type HandshakeHooks } from './handshake.ts';
import { TlsContexts } from './secure-contexts.ts';
import { checkUpgradeOptions, startUpgrade } from './starttls.ts';
import type { TlsMode, TlsOptions } from './tls-options.ts';

/** Failed handshakes by reason. */
export type TlsFailureCounts = Record<HandshakeFailure, number>;

/** What `server.stats().tls` reports: handshakes run by the server, implicit and STARTTLS. */
export interface TlsServerStats {
  /** `implicit` or `starttls` (the `tls.mode` option). */
  readonly mode: TlsMode;
  /** Handshakes completed. */
  readonly handshakes: number;
  /** Handshakes running now. */
  readonly inProgress: number;
  /** Handshakes failed, all reasons together. */
  readonly failed: number;
  /** Handshakes failed, by reason (`handshake-timeout`, `not-tls`, ...; every reason, 0 included). */
  readonly failures: Readonly<TlsFailureCounts>;
  /** Successful `setTls()` calls (SIGHUP in the CLI). */
  readonly reloads: number;
}

/** Options of `session.startTls()`. */
export interface StartTlsOptions {
  /**
   * The go-ahead reply (`220 2.0.0 Ready to start TLS\r\n`): written by `startTls` itself once no
   * plaintext is pending, so never write it yourself first.
   */
  goAhead?: string | Uint8Array;
  /**
   * What your own parser holds after the command (its unparsed bytes, or their count); anything
   * but empty closes the session (`SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS`). Bytes the session
   * itself holds unread are counted too. @default 0
   */
  buffered?: number | Uint8Array;
  /** Milliseconds from the call until the session is closed unless the handshake completed. @default `tls.handshakeTimeout` */
  timeout?: number;
}

/**
 * The `warning` summarising failed TLS handshakes since the previous one: at most one per
 * interval (1 s), so a scanner or a flood of plaintext costs one log line a second.
 * @example
 * server.on('warning', (w) => { if (w instanceof TlsHandshakeSummary) metrics.add(w.reasons); });
 */
export class TlsHandshakeSummary extends SwitchboardError {
  /** Failures in this summary. */
  declare readonly total: number;
  /** Non-zero counts by reason. */
  declare readonly reasons: Readonly<Partial<TlsFailureCounts>>;
  /** How long the summary covers, in ms (from its first failure). */
  declare readonly durationMs: number;

  constructor(total: number, reasons: Partial<TlsFailureCounts>, durationMs: number) {
    const detail = Object.entries(reasons).map(([reason, count]) => `${reason} ${count}`).join(', ');
    super(ErrorCode.TLS_HANDSHAKE_FAILURES, `${total} TLS handshake${total === 1 ? '' : 's'} failed in ${durationMs} ms: ${detail}`);
    this.total = total;
    this.reasons = reasons;
    this.durationMs = durationMs;
  }
}

/**
 * The `warning` that a certificate in use expires within `tls.expiryWarning` (or has expired):
 * at listen, after every `setTls()`, and once a day while listening.
 */
export class TlsExpiryWarning extends SwitchboardError {
  /** The certificates concerned, soonest first (`expiresInMs` negative once expired). */
  declare readonly certificates: readonly ExpiringCertificate[];

  constructor(certificates: readonly ExpiringCertificate[]) {
    const first = certificates[0]!;
    const more = certificates.length > 1 ? ` (and ${certificates.length - 1} more)` : '';
    super(ErrorCode.TLS_CERTIFICATE_EXPIRING, `TLS certificate ${describeCertificate(first)}${more}`);
    this.certificates = certificates;
  }
}

/** How long failures are gathered into one summary, in ms. */
export const TLS_FAILURE_SUMMARY_INTERVAL = 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The TLS of one server. @internal */
export class ServerTls {
  readonly contexts: TlsContexts;
  readonly mode: TlsMode;
  readonly #warn: (warning: SwitchboardError) => void;
  readonly #interval: number;
  #handshakes = 0;
  #inProgress = 0;
  #reloads = 0;
  readonly #failures: TlsFailureCounts = zeroFailureCounts();
  #pending: Partial<TlsFailureCounts> = {};
  #pendingTotal = 0;
  #pendingSince = 0;
  #summaryTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #reporting = true;

  /**
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a malformed `tls` option
   * @throws {SwitchboardError} `SWB_ERR_TLS_CREDENTIALS` naming the material that does not load
   */
  constructor(options: TlsOptions, warn: (warning: SwitchboardError) => void, interval = TLS_FAILURE_SUMMARY_INTERVAL) {
    this.contexts = new TlsContexts(options);
    this.mode = this.contexts.current.options.mode;
    this.#warn = warn;
    this.#interval = interval;
  }

  /**
   * The implicit-TLS handshake of an accepted socket; `failed` hears of a failure before the
   * sockets close. Aborting `signal` closes the connection.
   */
  handshake(socket: Socket, signal: AbortSignal, failed: (error: TlsHandshakeError) => void): Promise<TLSSocket> {
    return this.#counted(startHandshake(socket, handshakeSettings(this.contexts, { signal }), this.#hooks({ failed })), socket);
  }

  /**
   * STARTTLS on a session's plaintext socket (its reader already detached): the check for
   * pipelined plaintext, the go-ahead, then the handshake.
   * @throws {InvalidOptionError} synchronously, before touching the socket, for a malformed option
   */
  upgrade(socket: Socket, options: StartTlsOptions, sessionBuffered: number, hooks: HandshakeHooks): Promise<TLSSocket> {
    const { goAhead, buffered = 0, timeout } = options;
    checkUpgradeOptions(buffered, goAhead);
    const settings = handshakeSettings(this.contexts, timeout === undefined ? {} : { timeout });
    const held = (typeof buffered === 'number' ? buffered : buffered.length) + sessionBuffered;
    return this.#counted(startUpgrade(socket, settings, held, goAhead, this.#hooks(hooks)), socket);
  }

  /**
   * Replaces every context at once (see `TlsContexts#replace`); `mode` cannot change. Warns at
   * once when a new certificate expires soon.
   * @throws {SwitchboardError} `SWB_ERR_TLS_RELOAD_FAILED`; the contexts in use stay
   */
  replace(options: TlsOptions): void {
    const mode = typeof options === 'object' && options !== null ? (options.mode ?? 'implicit') : this.mode;
    if (mode !== this.mode) {
      throw new SwitchboardError(ErrorCode.TLS_RELOAD_FAILED, `TLS reload failed, the certificates in use are kept: \`tls.mode\` cannot change on reload (it is "${this.mode}", got "${String(mode)}")`);
    }
    this.contexts.replace(options);
    this.#reloads++;
    if (this.#expiryTimer !== undefined) this.#checkExpiry();
  }

  /**
   * The server listens: check expiry now and daily. The first check waits for the next turn, so
   * that code after `await listenTcp(...)` has attached its `warning` listener.
   */
  start(): void {
    this.#reporting = true;
    this.#expiryTimer ??= setInterval(() => this.#checkExpiry(), DAY_MS).unref();
    setImmediate(() => {
      if (this.#expiryTimer !== undefined) this.#checkExpiry();
    }).unref();
  }

  /** The server closed: report what is pending, then stop reporting. */
  stop(): void {
    clearInterval(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#flush();
    this.#reporting = false;
  }

  stats(): TlsServerStats {
    let failed = 0;
    for (const count of Object.values(this.#failures)) failed += count;
    return { mode: this.mode, handshakes: this.#handshakes, inProgress: this.#inProgress, failed, failures: { ...this.#failures }, reloads: this.#reloads };
  }

  #hooks(hooks: HandshakeHooks): HandshakeHooks {
    return {
      ...(hooks.wrapped === undefined ? {} : { wrapped: hooks.wrapped }),
      failed: (error) => {
        const ours = hooks.failed?.(error) === true;
        this.#failed(ours ? HandshakeFailure.ABORTED : error.reason);
      },
    };
  }

  #counted(started: Promise<TLSSocket>, socket: Socket): Promise<TLSSocket> {
    const handshake = tlsHandshakeChannel.hasSubscribers ? tlsHandshakeChannel.tracePromise(() => started, { socket, mode: this.mode }) : started;
    this.#inProgress++;
    return handshake.then(
      (secure) => {
        this.#inProgress--;
        this.#handshakes++;
        return secure;
      },
      (error: unknown) => {
        // A refusal before anything was touched (SWB_ERR_TLS_INVALID_STATE) is no handshake.
        this.#inProgress--;
        throw error;
      },
    );
  }

  #failed(reason: HandshakeFailure): void {
    this.#failures[reason]++;
    // Handshakes cut short on our side (the server closing) are not the peers' failures: counted, not reported.
    if (!this.#reporting || reason === HandshakeFailure.ABORTED) return;
    this.#pending[reason] = (this.#pending[reason] ?? 0) + 1;
    if (this.#pendingTotal++ !== 0) return;
    this.#pendingSince = performance.now();
    this.#summaryTimer = setTimeout(() => this.#flush(), this.#interval).unref();
  }

  #flush(): void {
    clearTimeout(this.#summaryTimer);
    this.#summaryTimer = undefined;
    if (this.#pendingTotal === 0) return;
    const summary = new TlsHandshakeSummary(this.#pendingTotal, this.#pending, Math.round(performance.now() - this.#pendingSince));
    this.#pending = {};
    this.#pendingTotal = 0;
    this.#warn(summary);
  }

  #checkExpiry(): void {
    const expiring = this.contexts.current.expiringCertificates();
    if (expiring.length > 0) this.#warn(new TlsExpiryWarning(expiring));
  }
}

/** Zeroed counts for every failure reason. */
function zeroFailureCounts(): TlsFailureCounts {
  const counts = {} as TlsFailureCounts;
  for (const reason of Object.values(HandshakeFailure)) counts[reason] = 0;
  return counts;
}

/** `CN=localhost (tls) expires in 3.5 days (2026-05-01T00:00:00.000Z)` or `... expired 2.0 days ago (...)`. */
function describeCertificate(certificate: ExpiringCertificate): string {
  const days = Math.abs(certificate.expiresInMs) / DAY_MS;
  const when = certificate.expiresInMs >= 0 ? `expires in ${days.toFixed(1)} days` : `expired ${days.toFixed(1)} days ago`;
  const where = certificate.servername === null ? certificate.option : `${certificate.option}, server name ${certificate.servername}`;
  return `${certificate.subject} (${where}) ${when} (${certificate.validTo.toISOString()})`;
}
