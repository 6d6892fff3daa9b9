/**
 * UDP beside TCP for `serve`. Pending: the library's UDP server (src/udp, `listenUdp`) has not
 * landed yet, so `serve` wires no UDP endpoints for now and this refuses clearly if asked.
 */
import type { BoundAddress } from '../index.ts';
import type { Logger } from './logger.ts';
import type { UdpResponder } from './services/service.ts';

/** A running UDP server, as the command uses it. */
export interface RunningUdpServer {
  readonly addresses: BoundAddress[];
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** Not yet available: see the module comment. */
export async function startUdpServer(_options: { host: unknown; port: number; name: string; respond: UdpResponder }, _log: Logger): Promise<RunningUdpServer> {
  throw new Error('UDP serving is not available in this build yet');
}
