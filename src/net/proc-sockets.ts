/**
 * What a passed fd is, read on Linux without touching it: `/proc/self/fd/N` names the socket's
 * inode (`socket:[12345]`), and the inode's line in `/proc/self/net/{tcp,tcp6,udp,udp6,unix}`
 * gives its type, family, bound address and state. Node has no `getsockopt(SO_TYPE)`, and
 * `listen({ fd })` of a datagram fd fails deep inside with `EINVAL`; this is how the kind is
 * known first. The parsers are pure functions over the files' text.
 */
import { SocketAddress } from 'node:net';
import { endianness } from 'node:os';
import { nodeFs } from '../core/builtins.ts';

/** A socket's type, as far as Switchboard tells them apart. */
export type SocketKind = 'stream' | 'datagram' | 'seqpacket';

/** A socket family Switchboard can name. */
export type SocketFamily = 'IPv4' | 'IPv6' | 'unix';

/** `listening`: listen() was called; `connected`: it has a peer; `unconnected`: bound (or not) with neither. */
export type SocketState = 'listening' | 'connected' | 'unconnected';

/** A socket's line in /proc/net. */
export interface ProcSocket {
  readonly inode: number;
  readonly kind: SocketKind;
  readonly family: SocketFamily;
  /** The bound IP address (canonical text), or the unix path (`@name` when abstract, empty when unbound). */
  readonly address: string;
  /** The bound port; undefined for unix sockets. */
  readonly port: number | undefined;
  readonly state: SocketState;
}

/** What can be learnt about an fd without touching it. */
export interface FdInspection {
  /** The fd is open in this process. */
  readonly open: boolean;
  /** It is a socket (fstat); undefined when not open. */
  readonly socket: boolean | undefined;
  /** FD_CLOEXEC is set (from /proc/self/fdinfo); undefined where that cannot be read. */
  readonly closeOnExec: boolean | undefined;
  /** Its line in /proc/net; undefined off Linux, for a socket of another network namespace, or of a family not listed. */
  readonly details: ProcSocket | undefined;
}

const TCP_LISTEN = 0x0a;
const TCP_CLOSE = 0x07;
const UNIX_ACCEPTING = 0x10000; // __SO_ACCEPTCON: listen() was called
const UNIX_CONNECTED = 0x03; // SS_CONNECTED
const UNIX_TYPES: Readonly<Record<number, SocketKind>> = { 1: 'stream', 2: 'datagram', 5: 'seqpacket' };
const O_CLOEXEC = 0o2000000; // Linux's generic value (x86, arm, riscv, ...)

/** A /proc/net file that lists sockets. */
export type ProcTable = 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'unix';

const ALL_TABLES: readonly ProcTable[] = ['tcp', 'tcp6', 'udp', 'udp6', 'unix'];

/** The /proc/net files that list sockets, and what each line is. */
const INET_TABLES = [
  { file: 'tcp', kind: 'stream', family: 'IPv4' },
  { file: 'tcp6', kind: 'stream', family: 'IPv6' },
  { file: 'udp', kind: 'datagram', family: 'IPv4' },
  { file: 'udp6', kind: 'datagram', family: 'IPv6' },
] as const;

/**
 * The sockets of `inodes` found in the text of /proc/net/tcp, tcp6, udp or udp6.
 * @param littleEndian how the kernel printed the address words (this host's byte order)
 * @example
 * parseInetTable('  0: 0100007F:1F90 00000000:0000 0A ... 0 0 4242 ...', 'stream', 'IPv4', new Set([4242]));
 * // Map { 4242 => { kind: 'stream', family: 'IPv4', address: '127.0.0.1', port: 8080, state: 'listening', ... } }
 */
export function parseInetTable(text: string, kind: SocketKind, family: 'IPv4' | 'IPv6', inodes: ReadonlySet<number>, littleEndian = endianness() === 'LE'): Map<number, ProcSocket> {
  const found = new Map<number, ProcSocket>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    const inode = Number(fields[9]);
    if (fields.length < 10 || !inodes.has(inode)) continue;
    const [hexAddress, hexPort] = (fields[1] ?? '').split(':');
    const address = hexAddress === undefined ? undefined : decodeAddress(hexAddress, family, littleEndian);
    const state = Number.parseInt(fields[3] ?? '', 16);
    if (address === undefined || hexPort === undefined || !Number.isInteger(state)) continue;
    found.set(inode, { inode, kind, family, address, port: Number.parseInt(hexPort, 16), state: inetState(kind, state) });
  }
  return found;
}

/**
 * The sockets of `inodes` found in the text of /proc/net/unix.
 * @example
 * parseUnixTable('0000: 00000002 00000000 00010000 0001 01 4242 /run/echo.sock', new Set([4242])).get(4242)?.state; // 'listening'
 */
export function parseUnixTable(text: string, inodes: ReadonlySet<number>): Map<number, ProcSocket> {
  const found = new Map<number, ProcSocket>();
  // Num RefCount Protocol Flags Type St Inode Path (the path may hold spaces, or be absent)
  const pattern = /^\s*[0-9a-f]+:\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+)(?: (.*))?$/i;
  for (const line of text.split('\n')) {
    const match = pattern.exec(line);
    if (match === null) continue;
    const inode = Number(match[4]);
    const kind = UNIX_TYPES[Number.parseInt(match[2]!, 16)];
    if (!inodes.has(inode) || kind === undefined) continue;
    const flags = Number.parseInt(match[1]!, 16);
    const st = Number.parseInt(match[3]!, 16);
    const state: SocketState = (flags & UNIX_ACCEPTING) !== 0 ? 'listening' : st === UNIX_CONNECTED ? 'connected' : 'unconnected';
    found.set(inode, { inode, kind, family: 'unix', address: match[5] ?? '', port: undefined, state });
  }
  return found;
}

/**
 * The socket inode in a `/proc/self/fd/N` link (`socket:[4242]` -> 4242); undefined for anything else.
 * @example
 * socketInodeOf('socket:[4242]'); // 4242
 */
export function socketInodeOf(link: string): number | undefined {
  const match = /^socket:\[(\d+)\]$/.exec(link);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Whether the `flags:` line of `/proc/self/fdinfo/N` has O_CLOEXEC; undefined if there is none.
 * @example
 * closeOnExecOf('pos:\t0\nflags:\t02000002\n'); // true
 */
export function closeOnExecOf(fdinfo: string): boolean | undefined {
  const match = /^flags:\s+([0-7]+)$/m.exec(fdinfo);
  return match === null ? undefined : (Number.parseInt(match[1]!, 8) & O_CLOEXEC) !== 0;
}

/**
 * Inspects each of `fds` without touching the socket: open, a socket, close-on-exec, and (on
 * Linux, for sockets of this network namespace) its type, family, address and state. Each
 * /proc/net table is read at most once.
 * @example
 * inspectFds([3]).get(3)?.details?.kind; // 'datagram' for a `ListenDatagram=` socket
 */
export function inspectFds(fds: readonly number[], options: { readonly tables?: readonly ProcTable[] } = {}): Map<number, FdInspection> {
  const tables = options.tables ?? ALL_TABLES;
  const result = new Map<number, FdInspection>();
  const inodeOf = new Map<number, number>();
  for (const fd of fds) {
    let socket: boolean;
    try {
      socket = nodeFs().fstatSync(fd).isSocket();
    } catch {
      result.set(fd, { open: false, socket: undefined, closeOnExec: undefined, details: undefined });
      continue;
    }
    result.set(fd, { open: true, socket, closeOnExec: closeOnExecOf(readProc(`/proc/self/fdinfo/${fd}`) ?? ''), details: undefined });
    const inode = socket ? socketInodeOf(readLink(`/proc/self/fd/${fd}`) ?? '') : undefined;
    if (inode !== undefined) inodeOf.set(fd, inode);
  }
  const wanted = new Set(inodeOf.values());
  const details = new Map<number, ProcSocket>();
  for (const table of INET_TABLES) {
    if (details.size === wanted.size) break;
    if (!tables.includes(table.file)) continue;
    const text = readProc(`/proc/self/net/${table.file}`);
    if (text !== undefined) for (const [inode, found] of parseInetTable(text, table.kind, table.family, wanted)) details.set(inode, found);
  }
  if (details.size < wanted.size && tables.includes('unix')) {
    const text = readProc('/proc/self/net/unix');
    if (text !== undefined) for (const [inode, found] of parseUnixTable(text, wanted)) details.set(inode, found);
  }
  for (const [fd, inode] of inodeOf) result.set(fd, { ...result.get(fd)!, details: details.get(inode) });
  return result;
}

/**
 * This process's IP sockets (TCP or UDP) that are open without close-on-exec above fd 2: what a
 * process started with passed sockets holds, and what it would leak to its own children beside
 * the fds it maps for them. Node opens its own sockets close-on-exec, so they are never listed.
 * Empty off Linux.
 * @example
 * inheritedInetSockets(); // [3, 4] in a process started with two listening sockets
 */
export function inheritedInetSockets(): number[] {
  // Only /proc/net/unix is read (short): /proc/net/tcp lists every TIME_WAIT connection too, and
  // takes seconds to generate on a busy host. A socket not listed there is an IP socket here.
  return [...inspectFds(openFdsAbove2(), { tables: ['unix'] })].filter(([, found]) => found.socket === true && found.closeOnExec === false && found.details === undefined).map(([fd]) => fd);
}

/**
 * Every IP socket (TCP or UDP) open in this process above fd 2, by fd, with what /proc says of
 * it: how a process finds the fd of a socket Node gave it no number for. Only `tables` are read
 * (`['udp', 'udp6']` to find datagram sockets). Empty off Linux.
 * @example
 * [...openInetSockets()].find(([, s]) => s.details?.kind === 'datagram' && s.details.port === 5353)?.[0]; // its fd
 */
export function openInetSockets(tables: readonly ProcTable[] = ['tcp', 'tcp6', 'udp', 'udp6']): Map<number, FdInspection & { readonly details: ProcSocket }> {
  const found = new Map<number, FdInspection & { readonly details: ProcSocket }>();
  for (const [fd, inspection] of inspectFds(openFdsAbove2(), { tables })) {
    const details = inspection.details;
    if (details !== undefined && details.family !== 'unix') found.set(fd, { ...inspection, details });
  }
  return found;
}

function openFdsAbove2(): number[] {
  try {
    return nodeFs().readdirSync('/proc/self/fd')
      .map(Number)
      .filter((fd) => Number.isInteger(fd) && fd > 2);
  } catch {
    return [];
  }
}

function inetState(kind: SocketKind, state: number): SocketState {
  if (kind === 'stream' && state === TCP_LISTEN) return 'listening';
  return state === TCP_CLOSE ? 'unconnected' : 'connected';
}

/** The kernel prints each 32-bit word of the address with %08X, in host byte order. */
function decodeAddress(hex: string, family: 'IPv4' | 'IPv6', littleEndian: boolean): string | undefined {
  const length = family === 'IPv4' ? 8 : 32;
  if (hex.length !== length || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  if (littleEndian) for (let word = 0; word < bytes.length; word += 4) bytes.subarray(word, word + 4).reverse();
  if (family === 'IPv4') return bytes.join('.');
  const groups: string[] = [];
  for (let offset = 0; offset < 16; offset += 2) groups.push(bytes.readUInt16BE(offset).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

function readProc(path: string): string | undefined {
  try {
    return nodeFs().readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readLink(path: string): string | undefined {
  try {
    return nodeFs().readlinkSync(path);
  } catch {
    return undefined;
  }
}
