/**
 * What a classic service is to the command: its name and standard port, a TCP event handler,
 * and a UDP responder (one reply, or none, per datagram). The protocol lives in each service's
 * module; the sockets live in the command.
 */
import type { TcpEventHandler } from '../../index.ts';

/**
 * Answers one datagram: the reply's bytes, or undefined to send nothing. `room` is the largest
 * reply the amplification limit allows for this request (`datagram.replyBudget`; no limit when
 * omitted): a service whose answer may be shortened (chargen) or chosen (qotd) fits it.
 */
export type UdpResponder = (request: Buffer, room?: number) => Buffer | undefined;

/** One running instance of a service. */
export interface ServiceHandlers {
  readonly tcp: TcpEventHandler;
  readonly udp: UdpResponder;
}

/** What a service may be configured with from the command line. */
export interface ServiceConfig {
  /** qotd: the quotes to choose from (already checked to be < 512 characters each). */
  readonly quotes?: readonly string[];
}

/** A classic Internet service. */
export interface ServiceDefinition {
  readonly name: string;
  /** Its well-known port (RFC 1700); `serve` listens at 10000 + this by default. */
  readonly standardPort: number;
  /** The RFC that defines it. */
  readonly rfc: number;
  create(config: ServiceConfig): ServiceHandlers;
}
