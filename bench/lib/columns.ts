/**
 * The columns of the report, as data: which servers a column measures (by kind),
 * the loadgen mode and workload arguments, and the figure read from its RESULT line.
 * Durations are not here: the runner adds them from the chosen profile.
 */
import type { ServerKind } from './servers.ts';

export type LoadgenMode = 'tcp-echo' | 'tcp-connect' | 'udp-echo' | 'tcp-idle' | TlsLoadgenMode;

/** The modes of bench/lib/tls-loadgen.c, the TLS load side (the plain loadgen speaks no TLS, and sends no PROXY header). */
export type TlsLoadgenMode = 'tls-connect' | 'tls-echo' | 'proxy-connect';

/** Whether a column measures TLS servers. */
export function isTlsColumn(column: BenchColumn): boolean {
  return column.mode === 'tls-connect' || column.mode === 'tls-echo';
}

/** Whether a column is driven by bench/lib/tls-loadgen.c (TLS, and the PROXY connect loop). */
export function usesTlsLoadgen(column: BenchColumn): column is BenchColumn & { mode: TlsLoadgenMode } {
  return isTlsColumn(column) || column.mode === 'proxy-connect';
}

export interface BenchColumn {
  /** Short name, used by `--only` and in the report. */
  readonly name: string;
  readonly kind: ServerKind;
  readonly mode: LoadgenMode;
  /** Workload arguments for loadgen (connections, depth, size). */
  readonly args: readonly string[];
  /** Key of the RESULT line holding the figure. */
  readonly metric: 'msgs_per_s' | 'conns_per_s' | 'dgrams_per_s' | 'bytes_per_conn';
  readonly unit: string;
  /** Memory columns: smaller is better, and the target is a ceiling. */
  readonly lowerIsBetter?: boolean;
  readonly description: string;
}

export const columns: readonly BenchColumn[] = [
  { name: 'pp16', kind: 'tcp', mode: 'tcp-echo', args: ['-c', '16', '-d', '1', '-s', '16'], metric: 'msgs_per_s', unit: 'msgs/s', description: 'ping-pong: 16 connections, one 16-byte message in flight on each' },
  { name: 'pp256', kind: 'tcp', mode: 'tcp-echo', args: ['-c', '16', '-d', '1', '-s', '256'], metric: 'msgs_per_s', unit: 'msgs/s', description: 'ping-pong: 16 connections, one 256-byte message in flight on each' },
  { name: 'pipe1k', kind: 'tcp', mode: 'tcp-echo', args: ['-c', '16', '-d', '16', '-s', '1024'], metric: 'msgs_per_s', unit: 'msgs/s', description: 'pipelined: 16 connections, 16 messages of 1 KiB in flight on each' },
  { name: 'pipe16k', kind: 'tcp', mode: 'tcp-echo', args: ['-c', '16', '-d', '16', '-s', '16384'], metric: 'msgs_per_s', unit: 'msgs/s', description: 'pipelined: 16 connections, 16 messages of 16 KiB in flight on each' },
  { name: 'connect', kind: 'tcp', mode: 'tcp-connect', args: ['-c', '16', '-s', '16', '-T', '1000'], metric: 'conns_per_s', unit: 'conns/s', description: '16 clients loop connect, send 16 B, read the echo, close' },
  { name: 'idle', kind: 'tcp', mode: 'tcp-idle', args: ['-c', '10000', '-s', '16'], metric: 'bytes_per_conn', unit: 'B/conn', lowerIsBetter: true, description: 'server RSS growth per connection with 10,000 idle connections open' },
  // Ping-pong cannot drive a line server: loadgen's payload does not end in '\n', so the
  // tail of a message waits for the next one. Pipelined 1 KiB messages hold ~4 '\n' each.
  { name: 'line-pipe1k', kind: 'tcp-lines', mode: 'tcp-echo', args: ['-c', '16', '-d', '16', '-s', '1024'], metric: 'msgs_per_s', unit: 'msgs/s', description: "line echo, pipelined: 16 connections, 16 messages of 1 KiB (about 4 '\\n' each) in flight" },
  // TLS, load from bench/lib/tls-loadgen.c (C against OpenSSL, pinned like loadgen): full
  // handshakes (no resumption) for tls-connect; ping-pong and pipelined over established sessions.
  { name: 'tls-connect', kind: 'tls', mode: 'tls-connect', args: ['-c', '16', '-s', '16'], metric: 'conns_per_s', unit: 'conns/s', description: '16 clients loop connect, full TLS handshake, send 16 B, read the echo, close_notify, close' },
  { name: 'tls-pp16', kind: 'tls', mode: 'tls-echo', args: ['-c', '16', '-d', '1', '-s', '16'], metric: 'msgs_per_s', unit: 'msgs/s', description: 'TLS ping-pong: 16 established connections, one 16-byte message in flight on each' },
  { name: 'tls-pipe16k', kind: 'tls', mode: 'tls-echo', args: ['-c', '16', '-d', '16', '-s', '16384'], metric: 'msgs_per_s', unit: 'msgs/s', description: 'TLS pipelined: 16 established connections, 16 messages of 16 KiB in flight on each' },
  // PROXY: the same connect loop from tls-loadgen.c without TLS, each connection's header (-x, per
  // server) and payload in one write; a trusted-PROXY listener against the same server without it.
  { name: 'proxy-connect', kind: 'proxy', mode: 'proxy-connect', args: ['-c', '16', '-s', '16'], metric: 'conns_per_s', unit: 'conns/s', description: '16 clients loop connect, send a PROXY header and 16 B in one write, read the 16 B echo, close' },
  { name: 'udp-pp64', kind: 'udp', mode: 'udp-echo', args: ['-c', '16', '-d', '1', '-s', '64'], metric: 'dgrams_per_s', unit: 'dgrams/s', description: 'ping-pong: 16 connected UDP sockets, one 64-byte datagram in flight on each' },
];

/** True when an `--only` selector names this column, its loadgen mode, its kind, or 'tcp'. */
export function columnMatches(column: BenchColumn, selector: string): boolean {
  return (
    selector === column.name ||
    selector === column.mode ||
    selector === column.kind ||
    (selector === 'tcp' && column.kind !== 'udp' && column.kind !== 'tls' && column.kind !== 'proxy')
  );
}
