/**
 * How `up` tells a worker which built-in service to serve: the module the worker imports
 * (builtin-worker.ts) and the JSON it reads from the environment. Kept apart from that module,
 * whose top level serves the service as soon as it is imported.
 */
import { fileURLToPath } from 'node:url';
import type { UdpLimits } from '../defaults.ts';

/** The environment variable holding a {@link BuiltinWorkerSpec}. @internal */
export const BUILTIN_WORKER_ENV = 'SWITCHBOARD_BUILTIN';

/** The module a built-in service's workers import, for `serveWorkers({ module })`. @internal */
export const BUILTIN_WORKER_MODULE = fileURLToPath(new URL('./builtin-worker' + (import.meta.url.endsWith('.ts') ? '.ts' : '.js'), import.meta.url));

/** What a built-in service's worker serves. @internal */
export interface BuiltinWorkerSpec {
  readonly builtin: string;
  /** qotd: the quotes file (checked by the primary). */
  readonly quotes?: string;
  /** With a UDP server: its limits. */
  readonly udp?: UdpLimits;
}
