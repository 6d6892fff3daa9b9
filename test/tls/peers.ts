/**
 * What the TLS tests share: a raw `node:net` server on loopback whose accepted sockets go
 * through a handshake function, the outcomes in accept order, and real TLS peers
 * (`openssl s_client`, `gnutls-cli`) run as bounded child processes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { hasProgram } from '../cli/cli-process.ts';
import { WAIT_MS, within } from '../helpers/net.ts';
import { describeTls, type TlsInfo } from '../../src/tls/describe-tls.ts';

/** How one accepted connection ended its handshake. */
export interface Outcome {
  /** The plaintext socket as accepted. */
  readonly raw: Socket;
  readonly secure?: TLSSocket;
  readonly info?: TlsInfo | null;
  readonly error?: Error & { code?: string; reason?: string; tlsCode?: string };
  /** `close` events seen on the accepted socket so far (must end at exactly 1). */
  readonly rawCloses: () => number;
  /** Milliseconds from accept to the promise settling. */
  readonly elapsedMs: number;
}

/** A listening raw server and the outcomes of its connections, in accept order. */
export interface HandshakeServer {
  readonly port: number;
  /** The outcome of the `index`-th connection (from 0), waited for with a bound. */
  outcome(index: number, ms?: number): Promise<Outcome>;
  /** Connections accepted so far. */
  accepted(): number;
}

/**
 * Listens on 127.0.0.1 (or `host`) port 0; each accepted socket goes through `upgrade`. On success
 * `onSecure` runs (default: write `hello\n` and end). The server and every socket are closed after the test.
 */
export async function listenHandshakes(
  t: TestContext,
  upgrade: (socket: Socket) => Promise<TLSSocket>,
  options: { host?: string; onSecure?: (secure: TLSSocket) => void } = {},
): Promise<HandshakeServer> {
  const outcomes: PromiseWithResolvers<Outcome>[] = [];
  const slot = (index: number): PromiseWithResolvers<Outcome> => (outcomes[index] ??= Promise.withResolvers<Outcome>());
  const sockets = new Set<Socket>();
  let accepted = 0;
  const onSecure = options.onSecure ?? ((secure: TLSSocket) => secure.end('hello\n'));
  const server = createServer((raw) => {
    const index = accepted++;
    const started = performance.now();
    let closes = 0;
    sockets.add(raw);
    raw.on('close', () => {
      closes++;
      sockets.delete(raw);
    });
    const rawCloses = (): number => closes;
    upgrade(raw).then(
      (secure) => {
        sockets.add(secure);
        secure.on('close', () => sockets.delete(secure));
        secure.on('error', () => {});
        const info = describeTls(secure);
        slot(index).resolve({ raw, secure, info, rawCloses, elapsedMs: performance.now() - started });
        onSecure(secure);
      },
      (error: Outcome['error']) => slot(index).resolve({ raw, error, rawCloses, elapsedMs: performance.now() - started }),
    );
  });
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    outcome: (index, ms = WAIT_MS) => within(slot(index).promise, `the outcome of connection ${index}`, ms),
    accepted: () => accepted,
  };
}

/** A finished peer program. */
export interface PeerRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together. */
  readonly output: string;
}

/**
 * Runs a peer program with `input` on its stdin and waits (bounded) for it to exit; any exit
 * status is a result. Killed, and an error, at the bound.
 */
export async function runPeer(program: string, args: readonly string[], options: { input?: string; ms?: number } = {}): Promise<PeerRun> {
  const child = spawn(program, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin.on('error', () => {}); // the peer may exit before reading its input
  child.stdin.end(options.input ?? '');
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  try {
    const code = await within(exited, `${program} ${args.join(' ')}`, options.ms ?? WAIT_MS);
    return { code, stdout, stderr, output: stdout + stderr };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${(error as Error).message}; output so far: ${stdout}${stderr}`);
  }
}

/** Skips the test loudly when `program` is missing (.ci/run installs openssl, gnutls-bin and socat). */
export function skipWithout(t: TestContext, program: string): boolean {
  if (hasProgram(program)) return false;
  t.skip(`SKIPPED LOUDLY: ${program} is not installed (.ci/run installs it)`);
  return true;
}

/** `openssl s_client` against 127.0.0.1:port that waits for the server to close (`-ign_eof`). */
export function sClient(port: number, args: readonly string[], options: { input?: string; ms?: number } = {}): Promise<PeerRun> {
  return runPeer('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-ign_eof', ...args], options);
}

/** `Key: value` from `openssl s_client` output (`-brief` leaves out the ALPN line). */
export function briefField(output: string, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'm').exec(output)?.[1]?.trim();
}

/** Sockets on this port that are ESTABLISHED, as the kernel sees them. */
export function establishedOn(port: number): number {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.trim() !== '').length;
}

/** The first bytes of a real ClientHello, captured from Node's TLS client. */
export async function partialClientHello(t: TestContext, bytes: number): Promise<Buffer> {
  const captured = Promise.withResolvers<Buffer>();
  const server = await listenHandshakes(t, (socket) => {
    socket.once('data', (chunk: Buffer) => {
      captured.resolve(chunk.subarray(0, bytes));
      socket.destroy();
    });
    return new Promise<never>(() => {});
  });
  const client = tlsConnect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await within(captured.promise, 'a ClientHello');
  client.destroy();
  assert.equal(hello[0], 0x16, 'a TLS handshake record');
  return hello;
}

/** A raw TCP client whose errors are expected (the server closes on it), and its close. */
export function rawClient(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  socket.on('data', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return within(new Promise((resolve) => socket.once('connect', () => resolve({ socket, closed }))), 'a raw connection');
}

/** A Node TLS client on 127.0.0.1, resolved once its handshake completed; destroyed after the test. */
export async function tlsClient(t: TestContext, port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  const socket = tlsConnect({ port, host: '127.0.0.1', ...options });
  t.after(() => socket.destroy());
  await within(new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  }), 'a TLS handshake');
  socket.on('error', () => {});
  return socket;
}

/** Everything a socket sends until it ends, as text (bounded). */
export function readToEnd(socket: Socket, what = 'the reply'): Promise<string> {
  return within(new Promise<string>((resolve) => {
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
    socket.once('close', () => resolve(text));
  }), what);
}

/** Writes `text` and asserts that the next chunk back is the same text (an echo, bounded). */
export async function assertEchoes(socket: Socket, text: string): Promise<void> {
  const reply = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
  socket.write(text);
  assert.equal(await within(reply, `the echo of ${text}`), text);
}
