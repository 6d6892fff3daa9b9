import assert from 'node:assert/strict';
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { closeOnExecOf, inspectFds, parseInetTable, parseUnixTable, socketInodeOf } from '../../src/net/proc-sockets.ts';
import { within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

// Lines as Linux 6.1 printed them (x86-64, little-endian).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:8CDD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 539314 1 0000000035a9de73 100 0 0 10 0
   5: 0100007F:EAD6 0100007F:77BA 01 00000001:00000000 01:00000012 00000000     0        0 539418 2 000000005daa04cf 20 0 0 11 -1
   6: 0100007F:B409 0100007F:BCCC 06 00000000:00000000 03:0000065F 00000000     0        0 0 3 00000000dfebfd83
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:77BA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 539393 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 539394 1 0000000000000000 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1234: 0100007F:77BA 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 539419 2 0000000000000000 0
`;
const UNIX = `Num       RefCount Protocol Flags    Type St Inode Path
00000000e56b3aaf: 00000002 00000000 00010000 0001 01 637417 /run/echo server.sock
0000000054b6f9ed: 00000002 00000000 00000000 0002 01 637446 @abstract
00000000f480408f: 00000002 00000000 00010000 0005 01 637468 /run/seq.sock
00000000f480408e: 00000003 00000000 00000000 0001 03 637469
`;

describe('parseInetTable', () => {
  it('reads a listener, a connection and the bound address of /proc/net/tcp', () => {
    const found = parseInetTable(TCP, 'stream', 'IPv4', new Set([539314, 539418, 1]), true);
    assert.deepEqual([...found.values()], [
      { inode: 539314, kind: 'stream', family: 'IPv4', address: '127.0.0.1', port: 0x8cdd, state: 'listening' },
      { inode: 539418, kind: 'stream', family: 'IPv4', address: '127.0.0.1', port: 0xead6, state: 'connected' },
    ]);
  });

  it('reads IPv6 addresses word by word, IPv4-mapped ones too', () => {
    const found = parseInetTable(TCP6, 'stream', 'IPv6', new Set([539393, 539394]), true);
    assert.equal(found.get(539393)?.address, '::1');
    assert.equal(found.get(539394)?.address, '::ffff:127.0.0.1');
    assert.equal(found.get(539394)?.port, 8080);
  });

  it('reads a big-endian host’s words as printed', () => {
    const found = parseInetTable('   0: 7F000001:0007 00000000:0000 07 0:0 0:0 0 0 0 77 2', 'datagram', 'IPv4', new Set([77]), false);
    assert.deepEqual(found.get(77), { inode: 77, kind: 'datagram', family: 'IPv4', address: '127.0.0.1', port: 7, state: 'unconnected' });
  });

  it('reads /proc/net/udp and skips the header and lines it was not asked for', () => {
    const found = parseInetTable(UDP, 'datagram', 'IPv4', new Set([539419, 0]), true);
    assert.deepEqual([...found.keys()], [539419]);
    assert.equal(found.get(539419)?.state, 'unconnected');
  });
});

describe('parseUnixTable', () => {
  it('reads type, listening flag, state and a path with spaces, abstract or absent', () => {
    const found = parseUnixTable(UNIX, new Set([637417, 637446, 637468, 637469]));
    assert.deepEqual([...found.values()].map(({ inode, kind, address, state }) => ({ inode, kind, address, state })), [
      { inode: 637417, kind: 'stream', address: '/run/echo server.sock', state: 'listening' },
      { inode: 637446, kind: 'datagram', address: '@abstract', state: 'unconnected' },
      { inode: 637468, kind: 'seqpacket', address: '/run/seq.sock', state: 'listening' },
      { inode: 637469, kind: 'stream', address: '', state: 'connected' },
    ]);
  });
});

describe('socketInodeOf and closeOnExecOf', () => {
  it('reads the inode of a socket link only', () => {
    assert.equal(socketInodeOf('socket:[539314]'), 539314);
    assert.equal(socketInodeOf('pipe:[539314]'), undefined);
    assert.equal(socketInodeOf('/dev/null'), undefined);
  });

  it('reads O_CLOEXEC from the octal flags of fdinfo', () => {
    assert.equal(closeOnExecOf('pos:\t0\nflags:\t02000002\nmnt_id:\t10\n'), true);
    assert.equal(closeOnExecOf('pos:\t0\nflags:\t02\nmnt_id:\t10\n'), false);
    assert.equal(closeOnExecOf('nothing'), undefined);
  });
});

/** The fd under a server or socket (Node's own handle; Linux test only). */
function fdOf(target: Server | Socket | DatagramSocket): number {
  const symbol = Object.getOwnPropertySymbols(target).find((candidate) => candidate.description === 'state symbol');
  const handle = symbol === undefined ? (target as unknown as { _handle: { fd: number } })._handle : (target as unknown as Record<symbol, { handle: { fd: number } }>)[symbol]!.handle;
  return handle.fd;
}

async function listening(t: TestContext, options: { host: string; port: number } | { path: string }): Promise<Server> {
  const server = createServer((connection) => connection.destroy());
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve) => server.listen(options, resolve));
  return server;
}

describe('inspectFds', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  it('tells listeners, a connection, a datagram and a unix socket apart without touching them', async (t) => {
    const tcp4 = await listening(t, { host: '127.0.0.1', port: 0 });
    const port = (tcp4.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'swb-inspect-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const unix = await listening(t, { path: join(dir, 'echo.sock') });
    const client = connect({ host: '127.0.0.1', port });
    t.after(() => void client.destroy());
    await within(new Promise((resolve) => client.once('connect', resolve)), 'a connection');
    const udp = createSocket('udp4');
    t.after(() => new Promise<void>((resolve) => udp.close(() => resolve())));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));

    const fds = [fdOf(tcp4), fdOf(client), fdOf(udp), fdOf(unix)];
    const found = inspectFds(fds);
    assert.deepEqual(
      fds.map((fd) => {
        const { kind, family, address, state } = found.get(fd)!.details!;
        return `${kind} ${family} ${address} ${state}`;
      }),
      [
        'stream IPv4 127.0.0.1 listening',
        'stream IPv4 127.0.0.1 connected',
        'datagram IPv4 127.0.0.1 unconnected',
        `stream unix ${join(dir, 'echo.sock')} listening`,
      ],
    );
    assert.equal(found.get(fdOf(tcp4))?.details?.port, port);
    assert.equal(found.get(fdOf(udp))?.details?.port, udp.address().port);
    assert.ok(fds.every((fd) => found.get(fd)?.closeOnExec === true), 'libuv opens sockets close-on-exec');
  });

  it('reads an IPv6 listener', { skip: !hostHasIPv6() && 'no IPv6 on this host' }, async (t) => {
    const tcp6 = await listening(t, { host: '::1', port: 0 });
    const details = inspectFds([fdOf(tcp6)]).get(fdOf(tcp6))?.details;
    assert.deepEqual({ family: details?.family, address: details?.address, port: details?.port }, { family: 'IPv6', address: '::1', port: (tcp6.address() as { port: number }).port });
  });

  it('says what a file and a closed fd are', (t) => {
    const file = openSync('/dev/null', 'r');
    t.after(() => closeSync(file));
    const closed = openSync('/dev/null', 'r');
    closeSync(closed);
    const found = inspectFds([file, closed]);
    assert.deepEqual(found.get(file), { open: true, socket: false, closeOnExec: true, details: undefined });
    assert.deepEqual(found.get(closed), { open: false, socket: undefined, closeOnExec: undefined, details: undefined });
  });
});
