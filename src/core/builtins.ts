/**
 * The Node.js built-ins the library loads when a feature first needs them, not when it is
 * imported: a plain TCP server uses none of them, and a process that loaded them all carries
 * about 1 MB more heap, which makes every full collection longer (docs/benchmarks.md, "The
 * library's heap").
 *
 * Why not `import { x } from 'node:...'`: an ES module import of a built-in evaluates it and reads
 * every export, and some exports are getters that load more. `import { closeSync } from 'node:fs'`
 * loads `fs/promises`, streams and readline (30 internal modules); `node:tls` brings all of
 * `node:crypto` (46); even a dynamic `import('node:http')` loads undici. `process.getBuiltinModule()` (Node.js 22.3, below the 22.12 required) returns
 * the module's CommonJS exports, loading it on the first call; each getter here keeps what it returned.
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
import type * as Http from 'node:http';
import type * as Tls from 'node:tls';

/**
 * A getter for built-in `id`, loaded on its first call and kept: `process.getBuiltinModule()`
 * itself costs about 0.8 us a call (it re-syncs the module's ES facade each time), too much for
 * a per-connection path such as a TLS handshake.
 */
function onFirstUse<Module>(id: string): () => Module {
  let module: Module | undefined;
  return () => (module ??= process.getBuiltinModule(id) as Module);
}

/** `node:child_process`, loaded on first use. */
export const nodeChildProcess = onFirstUse<typeof ChildProcess>('node:child_process');
/**
 * `node:cluster`, loaded on first use: the cluster object itself, which is what the CommonJS
 * exports are (@types/node types the call as the ES namespace, whose `default` it is).
 */
export const nodeCluster = onFirstUse<Cluster.Cluster>('node:cluster');
/** `node:crypto`, loaded on first use. */
export const nodeCrypto = onFirstUse<typeof Crypto>('node:crypto');
/** `node:dgram`, loaded on first use. */
export const nodeDgram = onFirstUse<typeof Dgram>('node:dgram');
/** `node:dns/promises`, loaded on first use. */
export const nodeDns = onFirstUse<typeof Dns>('node:dns/promises');
/** `node:fs` (its synchronous calls), loaded on first use. */
export const nodeFs = onFirstUse<typeof Fs>('node:fs');
/**
 * `node:http`, loaded on first use (the metrics endpoint). Never through `import('node:http')`:
 * its ES facade reads the lazy `WebSocket`, `CloseEvent` and `MessageEvent` exports, which load
 * undici and with it crypto, tls, http2, zlib, worker_threads and assert (113 internal modules
 * against 38), a heap that slowed a pipelined echo in the same process by 10-25 %
 * (docs/benchmarks.md, "The columns with intervals").
 */
export const nodeHttp = onFirstUse<typeof Http>('node:http');
/** `node:tls`, loaded on first use. */
export const nodeTls = onFirstUse<typeof Tls>('node:tls');

/**
 * Whether `socket` is a `TLSSocket`, without loading `node:tls` to ask: one can only exist once
 * `node:tls` is loaded, and `encrypted` is set on every `TLSSocket` and on no plain socket.
 */
export function isTlsSocket(socket: unknown): socket is Tls.TLSSocket {
  return typeof socket === 'object' && socket !== null && (socket as Partial<Tls.TLSSocket>).encrypted === true;
}
