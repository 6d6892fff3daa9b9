/**
 * A service's UDP side for `serve`: one library UDP server answering each datagram with the
 * service's responder, inside limits meant for a host on the Internet (a UDP service answers
 * whatever source address a datagram claims, so it must not be a good reflector).
 */
import { ErrorCode, UdpServer, type HostSpec, type UdpServerOptions } from '../index.ts';
import type { Logger } from './logger.ts';
import type { UdpResponder } from './services/service.ts';

/**
 * The UDP limits of `serve`: a reply may be as large as its request or 512 bytes, whichever is
 * more (enough for every RFC 862–868 answer; qotd stays under 512 characters), and one source
 * (an IPv6 /64) may send 50 datagrams and 64 KiB a second; datagrams over 8 KiB are dropped.
 */
export const SERVE_UDP_LIMITS = {
  maxDatagramSize: 8192,
  maxAmplification: 1,
  amplificationAllowance: 512,
  rateLimit: { datagrams: 50, bytes: 64 * 1024 },
} as const satisfies UdpServerOptions;

/** What to start. */
export interface UdpEndpoint {
  readonly host: HostSpec;
  readonly port: number;
  /** For log lines. */
  readonly name: string;
  readonly respond: UdpResponder;
}

/**
 * Binds `endpoint` (all or nothing, like TCP) and answers datagrams.
 * @throws {ListenError} (rejects) when an address cannot be bound
 */
export async function startUdpServer(endpoint: UdpEndpoint, log: Logger): Promise<UdpServer> {
  const { name, respond } = endpoint;
  const server = new UdpServer({ host: endpoint.host, port: endpoint.port, ...SERVE_UDP_LIMITS }, {
    message(datagram) {
      const reply = respond(datagram.data);
      if (reply !== undefined) datagram.reply(reply); // false when refused: counted, summarised by `drop`
    },
  });
  server.on('error', (error) => {
    // Refused and failed replies concern one datagram each and are summarised by `drop`.
    if (error.code === ErrorCode.AMPLIFICATION_REFUSED || error.code === ErrorCode.SEND_FAILED) return;
    log.error('udp-error', `${name} udp: ${error.message}`, { service: name, code: error.code });
  });
  server.on('warning', (warning) => log.warn('warning', `${name} udp: ${warning.message}`, { service: name }));
  server.on('drop', ({ total, reasons, durationMs }) => {
    const detail = Object.entries(reasons).map(([reason, count]) => `${count} ${reason}`).join(', ');
    log.warn('udp-drop', `${name} udp: dropped ${total} datagram(s) in ${(durationMs / 1000).toFixed(1)}s (${detail})`, { service: name, total, ...reasons });
  });
  await server.listen();
  return server;
}
