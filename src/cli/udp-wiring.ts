/**
 * A service's UDP side for `serve`: one library UDP server answering each datagram with the
 * service's responder, inside limits meant for a host on the Internet (a UDP service answers
 * whatever source address a datagram claims, so it must not be a good reflector).
 */
import { ErrorCode, UdpServer, type HostSpec, type SystemdListenOption, type UdpServerOptions } from '../index.ts';
import { parseByteRate, parseDatagramRate } from './args.ts';
import { SERVE_UDP_DEFAULTS, type UdpLimits } from './defaults.ts';
import type { Logger } from './logger.ts';
import type { UdpResponder } from './services/service.ts';

/**
 * The fixed UDP limits of `serve`: all replies to a request may be at most three times its size
 * on the wire, headers included (the library's default, QUIC's rule for an unvalidated peer: an
 * empty request may draw 56 bytes over IPv4, 96 over IPv6); one source may send 64 KiB a second;
 * datagrams over 8 KiB are dropped. The per-source datagram rate and the reply rate come from
 * flags ({@link readUdpLimits}).
 */
export const SERVE_UDP_LIMITS = {
  maxDatagramSize: 8192,
  maxAmplification: 3,
  rateBytes: 64 * 1024,
} as const;

/** The flag values behind {@link UdpLimits}, as `parseArgs` returns them. */
export interface UdpFlagValues {
  readonly 'udp-rate'?: string | undefined;
  readonly 'udp-reply-rate'?: string | undefined;
}

/** `--udp-rate` and `--udp-reply-rate`. @throws {UsageError} naming the flag with a bad value */
export function readUdpLimits(values: UdpFlagValues, defaults: UdpLimits = SERVE_UDP_DEFAULTS): UdpLimits {
  return {
    datagramsPerSecond: parseDatagramRate(values['udp-rate'], '--udp-rate', defaults.datagramsPerSecond),
    replyBytesPerSecond: parseByteRate(values['udp-reply-rate'], '--udp-reply-rate', defaults.replyBytesPerSecond),
  };
}

/** The library options for `limits`: `--udp-rate 0` turns the per-source limit off altogether. */
export function udpServerLimits(limits: UdpLimits): UdpServerOptions {
  return {
    maxDatagramSize: SERVE_UDP_LIMITS.maxDatagramSize,
    maxAmplification: SERVE_UDP_LIMITS.maxAmplification,
    rateLimit: limits.datagramsPerSecond === 0 ? false : { datagrams: limits.datagramsPerSecond, bytes: SERVE_UDP_LIMITS.rateBytes },
    replyRateLimit: limits.replyBytesPerSecond,
  };
}

/** What to start. */
export interface UdpEndpoint {
  readonly host?: HostSpec;
  readonly port?: number;
  /** The passed datagram sockets to answer on, instead of `host` and `port`. */
  readonly systemd?: SystemdListenOption;
  /** For log lines. */
  readonly name: string;
  readonly respond: UdpResponder;
}

/**
 * Binds `endpoint` (all or nothing, like TCP) and answers datagrams.
 * @throws {ListenError} (rejects) when an address cannot be bound
 */
export async function startUdpServer(endpoint: UdpEndpoint, log: Logger, limits: UdpLimits = SERVE_UDP_DEFAULTS): Promise<UdpServer> {
  const { name, respond } = endpoint;
  const where = endpoint.systemd === undefined ? { host: endpoint.host, port: endpoint.port } : { systemd: endpoint.systemd };
  const server = new UdpServer({ ...where, ...udpServerLimits(limits) }, {
    message(datagram) {
      const reply = respond(datagram.data, datagram.replyBudget);
      if (reply !== undefined) datagram.reply(reply); // false when refused: counted, summarised by `drop`
    },
  });
  server.on('error', (error) => {
    // Refused and failed replies concern one datagram each and are summarised by `drop`.
    if (error.code === ErrorCode.AMPLIFICATION_REFUSED || error.code === ErrorCode.SEND_FAILED) return;
    log.error('udp-error', `${name} udp: ${error.message}`, { service: name, code: error.code });
  });
  server.on('warning', (warning) => log.warn('warning', `${name} udp: ${warning.message}`, { service: name }));
  server.on('drop', ({ total, causes: reasons, durationMs }) => {
    const detail = Object.entries(reasons).map(([reason, count]) => `${count} ${reason}`).join(', ');
    log.warn('udp-drop', `${name} udp: dropped ${total} datagram(s) in ${(durationMs / 1000).toFixed(1)}s (${detail})`, { service: name, total, ...reasons });
  });
  await server.listen();
  return server;
}
