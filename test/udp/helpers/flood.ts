/**
 * A UDP server and a flood of sources in two network namespaces the test creates, joined by a
 * veth pair; and the server namespace's IP byte counters, which measure amplification on the
 * wire independently of the library's own ledger.
 *
 *   server namespace                      client namespace
 *   v0: 198.19.0.1/24  ◄──── veth ────►  v1: 198.19.0.2/24
 *   198.18.0.0/16 via 198.19.0.2          local 198.18.0.0/16 dev lo: every address of it is
 *                                         the client's, so a socket may bind any of them
 *
 * Addresses come from the benchmarking range of RFC 2544 (198.18.0.0/15). IPv6 is off in both
 * namespaces and the neighbours are static, so nothing but the test's datagrams crosses the link.
 */
import { execFile } from 'node:child_process';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { createNetns } from '../../helpers/netns.ts';

const run = promisify(execFile);

/** The server's address on the link. */
export const FLOOD_SERVER_ADDRESS = '198.19.0.1';

/** The flood's source addresses: `198.18.x.y`, local to the client namespace. */
export const FLOOD_SOURCE_PREFIX = '198.18';

/** The two namespaces' names. */
export interface FloodPair {
  readonly server: string;
  readonly client: string;
}

/** Creates both namespaces and the link; removed after the test. */
export async function createFloodPair(t: TestContext): Promise<FloodPair> {
  const client = await createNetns(t, { disableIPv6: true });
  const server = await createNetns(t, { disableIPv6: true });
  const serverMac = '02:00:5e:00:00:01';
  const clientMac = '02:00:5e:00:00:02';
  await run('ip', ['-n', server, 'link', 'add', 'v0', 'address', serverMac, 'type', 'veth', 'peer', 'name', 'v1', 'address', clientMac, 'netns', client]);
  const serverSetup = [
    ['addr', 'add', `${FLOOD_SERVER_ADDRESS}/24`, 'dev', 'v0'],
    ['link', 'set', 'v0', 'up'],
    ['neigh', 'replace', '198.19.0.2', 'lladdr', clientMac, 'dev', 'v0', 'nud', 'permanent'],
    ['route', 'add', `${FLOOD_SOURCE_PREFIX}.0.0/16`, 'via', '198.19.0.2'],
  ];
  const clientSetup = [
    ['addr', 'add', '198.19.0.2/24', 'dev', 'v1'],
    ['link', 'set', 'v1', 'up'],
    ['neigh', 'replace', FLOOD_SERVER_ADDRESS, 'lladdr', serverMac, 'dev', 'v1', 'nud', 'permanent'],
    ['route', 'add', 'local', `${FLOOD_SOURCE_PREFIX}.0.0/16`, 'dev', 'lo'],
  ];
  for (const command of serverSetup) await run('ip', ['-n', server, ...command]);
  for (const command of clientSetup) await run('ip', ['-n', client, ...command]);
  return { server, client };
}

/** A namespace's traffic counters. */
export interface WireCounters {
  /** Bytes of IP packets received, headers included (`IpExt InOctets` in /proc/net/netstat). */
  readonly in: number;
  /** Bytes of IP packets sent, headers included (`IpExt OutOctets`). */
  readonly out: number;
  /** Datagrams the kernel dropped because a socket's receive buffer was full (`Udp RcvbufErrors` in /proc/net/snmp). */
  readonly rcvbufErrors: number;
}

/** Reads the namespace's counters. */
export async function readWireCounters(ns: string): Promise<WireCounters> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netstat', '/proc/net/snmp']);
  const counter = (table: string, name: string): number => {
    const [names, values] = stdout.split('\n').filter((line) => line.startsWith(`${table}:`)).map((line) => line.split(/\s+/).slice(1));
    const at = names?.indexOf(name) ?? -1;
    if (at === -1) throw new Error(`no ${table} ${name} counter in ${ns}`);
    return Number(values![at]);
  };
  return { in: counter('IpExt', 'InOctets'), out: counter('IpExt', 'OutOctets'), rcvbufErrors: counter('Udp', 'RcvbufErrors') };
}

/** What the flood client reports once every datagram was handed to the kernel. */
export interface FloodSent {
  readonly sources: number;
  readonly datagrams: number;
  readonly bytes: number;
}

/** What the flood client received, reported when it stops. */
export interface FloodReceived {
  readonly replies: number;
  readonly bytes: number;
}

/** The flood client's arguments (its one argv entry, as JSON). */
export interface FloodPlan {
  readonly target: string;
  readonly ports: readonly number[];
  /** Source addresses, `198.18.0.1` onwards. */
  readonly sources: number;
  /** Datagrams from each source to each port. */
  readonly perSource: number;
  /** Request payload sizes, used in turn. */
  readonly sizes: readonly number[];
  /** Datagrams sent at once before the client yields for `pauseMs`: a pace the server can take in (its receive buffer holds a few hundred). */
  readonly burst: number;
  readonly pauseMs: number;
}
