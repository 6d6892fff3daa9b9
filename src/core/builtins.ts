/**
 * The Node.js built-ins the library loads when a feature first needs them, not when it is
 * imported: a plain TCP server uses none of them, and a process that loaded them all carries
 * about 1 MB more heap, which makes every full collection longer (docs/benchmarks.md, "The
 * library's heap").
 *
 * Why not `import { x } from 'node:...'`: an ES module import of a built-in evaluates it and reads
 * every export, and some exports are getters that load more. `import { closeSync } from 'node:fs'`
 * loads `fs/promises`, streams and readline (30 internal modules); `node:tls` brings all of
 * `node:crypto` (46). `process.getBuiltinModule()` (Node.js 22.3, below the 22.12 required) returns
 * the module's CommonJS exports, loading it on the first call and from Node's cache after.
 *
 * `import type` from these modules stays free: it is erased. Only values come from here.
 * test/package/library-heap.test.ts keeps the rule: importing the library loads none of them.
 */
import type * as ChildProcess from 'node:child_process';
import type * as Cluster from 'node:cluster';
import type * as Crypto from 'node:crypto';
import type * as Dgram from 'node:dgram';
import type * as Dns from 'node:dns/promises';
import type * as Fs from 'node:fs';
import type * as Tls from 'node:tls';

/** `node:child_process`, loaded on first use. */
export const nodeChildProcess = (): typeof ChildProcess => process.getBuiltinModule('node:child_process');
/**
 * `node:cluster`, loaded on first use: the cluster object itself, which is what the CommonJS
 * exports are (@types/node types the call as the ES namespace, whose `default` it is).
 */
export const nodeCluster = (): Cluster.Cluster => process.getBuiltinModule('node:cluster') as unknown as Cluster.Cluster;
/** `node:crypto`, loaded on first use. */
export const nodeCrypto = (): typeof Crypto => process.getBuiltinModule('node:crypto');
/** `node:dgram`, loaded on first use. */
export const nodeDgram = (): typeof Dgram => process.getBuiltinModule('node:dgram');
/** `node:dns/promises`, loaded on first use. */
export const nodeDns = (): typeof Dns => process.getBuiltinModule('node:dns/promises');
/** `node:fs` (its synchronous calls), loaded on first use. */
export const nodeFs = (): typeof Fs => process.getBuiltinModule('node:fs');
/** `node:tls`, loaded on first use. */
export const nodeTls = (): typeof Tls => process.getBuiltinModule('node:tls');

/**
 * Whether `socket` is a `TLSSocket`, without loading `node:tls` to ask: one can only exist once
 * `node:tls` is loaded, and `encrypted` is set on every `TLSSocket` and on no plain socket.
 */
export function isTlsSocket(socket: unknown): socket is Tls.TLSSocket {
  return typeof socket === 'object' && socket !== null && (socket as Partial<Tls.TLSSocket>).encrypted === true;
}
