/**
 * The handler module a worker of `up` imports for a built-in service (`workers` on a
 * `builtin = "echo"` service): which service, its quotes file and its UDP limits come in
 * {@link BUILTIN_WORKER_ENV} (a worker cannot receive a closure); the exports are what
 * `serveWorkers` expects of a module -- the TCP handler, `udp`, and `udpOptions`.
 */
import { readFileSync } from 'node:fs';
import type { UdpHandler, UdpServerOptions } from '../../index.ts';
import { udpServerLimits } from '../udp-wiring.ts';
import { BUILTIN_WORKER_ENV, type BuiltinWorkerSpec } from './builtin-worker-spec.ts';
import { parseQuotes } from './qotd.ts';
import { findService } from './registry.ts';

const spec = JSON.parse(process.env[BUILTIN_WORKER_ENV] ?? 'null') as BuiltinWorkerSpec | null;
const service = spec === null ? undefined : findService(spec.builtin);
if (spec === null || service === undefined) throw new Error(`${BUILTIN_WORKER_ENV} names no built-in service`);
const handlers = service.create(spec.quotes === undefined ? {} : { quotes: parseQuotes(readFileSync(spec.quotes, 'utf8')).quotes });

export default handlers.tcp;

/** Each datagram answered by the service's responder, as `serve` does in one process. */
export const udp: UdpHandler = (datagram) => {
  const reply = handlers.udp(datagram.data, datagram.replyBudget);
  if (reply !== undefined) datagram.reply(reply);
};

export const udpOptions: UdpServerOptions = spec.udp === undefined ? {} : udpServerLimits(spec.udp);
