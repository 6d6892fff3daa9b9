/**
 * A worker process: imports the handler module its primary named, serves the addresses it was
 * told (in mode reuseport the listening sockets the primary holds for it, passed as fds 3, 4, ...;
 * under `cluster` through the cluster primary's shared one), reports
 * `ready`, answers stats requests, and drains on `close`. It never outlives its primary: when
 * the IPC channel closes (the primary exited, even by SIGKILL) it drains briefly and exits.
 */
import { pathToFileURL } from 'node:url';
import { TcpServer } from '../tcp/tcp-server.ts';
import type { TcpHandler } from '../tcp/tcp-handlers.ts';
import type { TlsOptions } from '../tls/tls-options.ts';
import { UdpServer, type UdpHandler } from '../udp/udp-server.ts';
import { SwitchboardError } from '../core/errors.ts';
import { inheritedInetSockets } from '../net/proc-sockets.ts';
import { decodeTicketKeys } from './ticket-keys.ts';
import { WorkerTls } from './worker-tls.ts';
import { WORKER_ENV, isSwitchboardMessage, withoutAddress, type JsonOptions, type PrimaryMessage, type WorkerMessage, type WorkerSettings, type WorkerStats } from './worker-messages.ts';
import { nodeFs } from '../core/builtins.ts';

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env[WORKER_ENV] ?? 'null') as WorkerSettings | null;
  delete process.env[WORKER_ENV]; // it holds the ticket keys: not for the programs the module may start
  if (settings === null || process.send === undefined) {
    process.stderr.write('switchboard worker: started without a primary (no IPC channel or settings)\n');
    process.exitCode = 1;
    return;
  }
  let tcp: TcpServer | undefined;
  let tls: WorkerTls | undefined;
  let udp: UdpServer | undefined;
  let closing: Promise<void> | undefined;
  const ledger = (): WorkerStats => ({ ...(tcp && { tcp: tcp.stats() }), ...(udp && { udp: udp.stats() }) });
  const close = (timeout: number): Promise<void> => {
    // The final ledger goes to the primary before the exit, so that nothing counted is lost.
    closing ??= Promise.allSettled([tcp?.close({ timeout }), udp?.close({ timeout })]).then(() => {
      if (!process.connected) process.exit(0);
      process.send?.({ swb: 'stats', id: 0, stats: ledger() } satisfies WorkerMessage, () => process.exit(0));
    });
    return closing;
  };
  // Sockets a parent held without close-on-exec would be inherited beside ours: close them, so
  // that no socket outlives the processes meant to hold it.
  const mine = new Set([...(settings.tcpFds ?? []), ...(settings.udpFds ?? [])]);
  for (const fd of inheritedInetSockets()) if (!mine.has(fd)) nodeFs().closeSync(fd);
  // Orphaned (the primary died, or disconnected us): drain what is open, briefly, and go.
  process.on('disconnect', () => void close(settings.orphanDrainTimeout));
  process.on('message', (message: unknown) => {
    if (!isSwitchboardMessage(message)) return;
    const request = message as PrimaryMessage;
    if (request.swb === 'stats') send({ swb: 'stats', id: request.id, stats: ledger() });
    else if (request.swb === 'close') void close(request.timeout);
    else if (request.swb === 'ticket-keys') {
      const keys = decodeTicketKeys(request.keys);
      if (keys === undefined || tls === undefined) return;
      tls.setTicketKeys(keys);
      try {
        applyTls(tcp, tls);
      } catch {
        // the material in use does not load again (it did at start): the old keys stay
      }
    } else if (request.swb === 'reload-tls') {
      try {
        tls?.reload();
        applyTls(tcp, tls);
        send({ swb: 'tls-reloaded', id: request.id });
      } catch (error) {
        send({ swb: 'tls-reloaded', id: request.id, error: error instanceof Error ? error.message : String(error) });
      }
    } else if (request.swb === 'udp-sockets') {
      // Only the sockets this worker bound itself: those the primary passed, it holds already.
      const own = settings.udpFds === undefined ? (udp?.sockets() ?? []) : [];
      own.forEach((socket, index) => {
        const { address, port, family } = socket.address();
        process.send?.({ swb: 'udp-socket', index, address, port, family: family === 'IPv6' ? 'IPv6' : 'IPv4' } satisfies WorkerMessage, socket);
      });
      send({ swb: 'udp-sockets-done', count: own.length });
    } else if (request.swb === 'udp-relay') {
      // What the primary read from our socket while it held a copy for the upgrade (src/workers/udp-relay.ts).
      const socket = udp?.sockets()[request.socket];
      const data = Buffer.from(request.data, 'base64');
      const served = socket !== undefined && udp!.receiveRelayed(socket, data, { address: request.address, port: request.port, family: request.family, size: data.length });
      if (!served) send({ swb: 'udp-relay-lost', count: 1 });
    }
  });
  // A graceful stop of the whole set comes from the primary; a terminal's Ctrl-C or hang-up
  // reaches the process group, and the primary drains us, so those signals are ignored here.
  // SIGTERM (to this worker, or to the group by a service manager) drains this worker.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('SIGTERM', () => void close(settings.orphanDrainTimeout));
  try {
    const namespace = (await import(settings.module.startsWith('file:') ? settings.module : pathToFileURL(settings.module).href)) as Record<string, unknown>;
    const handler = (namespace.default ?? namespace.handler) as TcpHandler | undefined;
    // Mode cluster needs TCP's `exclusive: false`, which routes listen() through the primary's
    // shared socket; a UDP socket (never exclusive here) is shared by the primary the same way.
    const reuse = settings.reusePort ? { reusePort: true } : {};
    if (settings.tcp !== null) {
      if (handler === undefined) throw new Error(`${settings.module} exports no handler (export default, or export const handler)`);
      const moduleOptions = namespace.options as { tls?: TlsOptions } | undefined;
      tls = new WorkerTls(settings.tlsFiles, moduleOptions?.tls, decodeTicketKeys(settings.ticketKeys));
      const tlsOption = tls.options();
      const where = settings.tcpFds === undefined ? { ...reuse, exclusive: false } : { fds: settings.tcpFds };
      tcp = new TcpServer({ ...moduleOptionsFor(moduleOptions, settings.tcpFds), ...settings.tcp, ...(tlsOption && { tls: tlsOption }), ...where }, handler);
    }
    if (settings.udp !== null) {
      const udpHandler = namespace.udp as UdpHandler | undefined;
      if (udpHandler === undefined) throw new Error(`${settings.module} exports no UDP handler (export const udp)`);
      const where = settings.udpFds === undefined ? reuse : { fds: settings.udpFds };
      udp = new UdpServer({ ...moduleOptionsFor(namespace.udpOptions, settings.udpFds), ...settings.udp, ...where }, udpHandler);
    }
    const [tcpAddresses = [], udpAddresses = []] = await Promise.all([tcp?.listen(), udp?.listen()]);
    send({ swb: 'ready', addresses: [...tcpAddresses, ...udpAddresses] });
  } catch (error) {
    send({ swb: 'failed', message: error instanceof Error ? error.message : String(error), ...(error instanceof SwitchboardError && { code: error.code }) });
    await Promise.allSettled([tcp?.destroy(), udp?.destroy()]);
    process.exitCode = 1;
    process.disconnect?.();
  }
}

/** The server's TLS rebuilt (new keys, re-read files); the contexts in use stay when it fails. @throws {Error} */
function applyTls(tcp: TcpServer | undefined, tls: WorkerTls | undefined): void {
  const options = tls?.options();
  if (tcp !== undefined && options !== undefined) tcp.setTls(options);
}


/** The module's server options; less what chooses an address when the primary passed the sockets (`fds`). */
function moduleOptionsFor(options: unknown, fds: readonly number[] | undefined): object | undefined {
  if (typeof options !== 'object' || options === null || fds === undefined) return options as object | undefined;
  return withoutAddress(options as JsonOptions);
}

await main();
