/**
 * Real peer servers for the client tests — `socat TCP-LISTEN`, `openssl s_server` — run as child
 * processes on a port they choose (port 0) and print; killed after the test. And a port nothing
 * listens on, for refusals.
 */
import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { LineCollector } from '../cli/cli-process.ts';
import { listenTcp, listenUdp } from '../../src/index.ts';

/** A listening peer program. */
export interface Peer {
  readonly port: number;
  readonly output: LineCollector;
}

/**
 * Starts `program` and resolves with the port from the first output line (stdout or stderr)
 * matching `listening`, whose last number is the port. Bounded; the process is killed after the test.
 */
export async function startPeer(t: TestContext, program: string, args: readonly string[], listening: RegExp): Promise<Peer> {
  const child = spawn(program, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = new LineCollector();
  child.stdout.setEncoding('utf8').on('data', (text: string) => output.push(text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => output.push(text));
  const exited = new Promise<void>((resolve) => child.once('close', () => {
    output.end();
    resolve();
  }));
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const line = await output.waitFor(listening, `${program} to listen`);
  const port = Number(/(\d+)\D*$/.exec(line)?.[1]);
  return { port, output };
}

/** A port nothing listens on (for `transport` at `host`): bound, read back, released. */
export async function closedPort(transport: 'tcp' | 'udp', host: string): Promise<number> {
  const server = transport === 'tcp' ? await listenTcp({ host, port: 0 }) : await listenUdp({ host, port: 0 });
  const port = server.addresses[0]!.port;
  await server.close();
  return port;
}
