/**
 * Hostile peers for the chaos test, each a bounded episode against a line-echo server: it
 * connects, misbehaves one way, and resolves once its socket is closed (or destroys it at
 * a deadline). None of them ever throws.
 */
import { connect, type Socket } from 'node:net';

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What one episode needs: where to connect and how long it may take at most. */
export interface Target {
  readonly port: number;
  readonly random: () => number;
  /** Any socket still open after this many ms is destroyed. */
  readonly episodeLimit: number;
}

/** Opens a socket that is destroyed at the episode limit; resolves when it has closed. */
function open(target: Target): { socket: Socket; closed: Promise<void> } {
  const socket = connect({ port: target.port, host: '127.0.0.1', allowHalfOpen: false });
  socket.on('error', () => {});
  socket.on('data', () => {}); // read (and drop) whatever the server sends, unless paused
  const limit = setTimeout(() => socket.destroy(), target.episodeLimit);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      clearTimeout(limit);
      resolve();
    }),
  );
  return { socket, closed };
}

function connected(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    if (!socket.connecting) return resolve(!socket.destroyed);
    socket.once('connect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });
}

/** Random bytes, sometimes with line feeds in them. */
function noise(random: () => number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = random() < 0.05 ? 0x0a : Math.floor(random() * 256);
  return bytes;
}

/** Sends a little, then resets the connection (RST). */
export async function resetter(target: Target): Promise<void> {
  const { socket, closed } = open(target);
  if (await connected(socket)) {
    socket.write(target.random() < 0.5 ? 'partial line without end' : 'a whole line\nand half');
    socket.resetAndDestroy();
  }
  await closed;
}

/** Sends lines, half-closes, and reads the echo until the server closes its side. */
export async function halfCloser(target: Target): Promise<void> {
  const { socket, closed } = open(target);
  if (await connected(socket)) socket.end('first\nsecond\nlast without newline');
  await closed;
}

/** Trickles one endless line a byte at a time: the partial-frame deadline must close it. */
export async function slowloris(target: Target): Promise<void> {
  const { socket, closed } = open(target);
  let done = false;
  void closed.then(() => (done = true));
  if (await connected(socket)) {
    const drip = (): void => {
      if (done) return;
      socket.write('x');
      setTimeout(drip, 25);
    };
    drip();
  }
  await closed;
}

/** Sends a line far over the maximum line length. */
export async function oversized(target: Target): Promise<void> {
  const { socket, closed } = open(target);
  if (await connected(socket)) socket.write(Buffer.alloc(4096 + Math.floor(target.random() * 8192), 0x41));
  await closed;
}

/** Sends random bytes: invalid UTF-8 lines, overlong lines, or nothing wrong at all. */
export async function garbage(target: Target): Promise<void> {
  const { socket, closed } = open(target);
  if (await connected(socket)) {
    socket.write(noise(target.random, 1 + Math.floor(target.random() * 2048)));
    if (target.random() < 0.5) socket.end();
    else setTimeout(() => socket.destroy(), Math.floor(target.random() * 50));
  }
  await closed;
}

/** Never reads, and sends a flood of lines whose echoes pile up: the output cap must close it. */
export async function nonReader(target: Target): Promise<void> {
  const { socket, closed } = open(target);
  let done = false;
  void closed.then(() => (done = true));
  if (await connected(socket)) {
    socket.pause();
    const block = Buffer.from('echo me back please\n'.repeat(3277)); // ~64 KiB of lines
    const pump = (): void => {
      for (let i = 0; i < 16 && !done; i++) {
        if (!socket.write(block)) return void socket.once('drain', pump);
      }
      if (!done) setImmediate(pump);
    };
    pump();
  }
  await closed;
}

/** Opens many connections at once, holds them until all are up, then drops them every which way. */
export async function connectFlood(target: Target): Promise<void> {
  const sockets: { socket: Socket; closed: Promise<void> }[] = [];
  const count = 60 + Math.floor(target.random() * 120);
  for (let i = 0; i < count; i++) sockets.push(open(target));
  await Promise.all(sockets.map(({ socket }) => connected(socket)));
  for (const { socket } of sockets) {
    const roll = target.random();
    if (roll < 0.4) socket.resetAndDestroy();
    else if (roll < 0.7) socket.destroy();
    else socket.end('hi\n');
  }
  await Promise.all(sockets.map(({ closed }) => closed));
}

/** Connects and says nothing: idle until the episode limit or the first-byte deadline. */
export async function ghost(target: Target): Promise<void> {
  const { socket, closed } = open(target);
  if ((await connected(socket)) && target.random() < 0.5) setTimeout(() => socket.destroy(), Math.floor(target.random() * 100));
  await closed;
}

/** Every kind of hostile peer, with how often each is picked. */
export const hostilePeers: readonly (readonly [weight: number, run: (target: Target) => Promise<void>])[] = [
  [3, resetter],
  [2, halfCloser],
  [1, slowloris],
  [2, oversized],
  [3, garbage],
  [1, nonReader],
  [1, connectFlood],
  [2, ghost],
];

/** Picks a peer by weight. */
export function pickPeer(random: () => number): (target: Target) => Promise<void> {
  const total = hostilePeers.reduce((sum, [weight]) => sum + weight, 0);
  let roll = random() * total;
  for (const [weight, run] of hostilePeers) {
    roll -= weight;
    if (roll < 0) return run;
  }
  return hostilePeers[0]![1];
}
