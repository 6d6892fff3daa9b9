/**
 * A client for examples/length-prefixed.ts, in async style: `connectTcp` with the same
 * length-field codec the server frames with, requests pipelined, replies read in order.
 *
 *   switchboard run examples/length-prefixed.ts --listen localhost:7001
 *   node --conditions=switchboard-source examples/length-prefixed-client.ts localhost 7001 reverse hello
 */
import { fileURLToPath } from 'node:url';
import { SwitchboardError, connectTcp, createLengthFieldCodec, framed, ErrorCode } from 'switchboard';

/** Operation codes, as the server defines them. */
export const Op = { echo: 0x01, reverse: 0x02, sha256: 0x03 } as const;

/** One reply: `ok` and the result, or not and the server's error message in `body`. */
export interface Reply {
  readonly ok: boolean;
  readonly body: Buffer;
}

/** The request frame for `op` and its operand. */
export function encodeRequest(op: number, operand: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(op), operand]);
}

/**
 * Sends every request on one connection (pipelined: all are written before the first reply is
 * read) and resolves with the replies, in request order.
 * @throws {OpError} (rejects) when the connection cannot be made (`SWB_ERR_CONNECTION_REFUSED`, …)
 * @throws {SwitchboardError} (rejects) when the server closed before answering every request, or the session failed
 */
export async function call(host: string, port: number, requests: readonly Buffer[]): Promise<Reply[]> {
  const replies: Reply[] = [];
  const session = await connectTcp({ host, port, timeout: 10_000 }, framed(() => createLengthFieldCodec({ lengthFieldLength: 4, maxFrameLength: 64 * 1024 }), async (connection) => {
    for (const request of requests) await connection.send(request);
    while (replies.length < requests.length) {
      const frame = await connection.readFrame();
      if (frame === null) break;
      replies.push({ ok: frame[0] === 0x00, body: Buffer.from(frame.subarray(1)) });
    }
  }));
  const reason = await session.closed;
  if (reason.error) throw reason.error;
  if (replies.length < requests.length) {
    throw new SwitchboardError(ErrorCode.SESSION_CLOSED, `the server closed after ${replies.length} of ${requests.length} replies`);
  }
  return replies;
}

// Run as a program: one request from the command line, its reply printed.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [host = 'localhost', port = '7001', op = 'echo', ...words] = process.argv.slice(2);
  const code = Op[op as keyof typeof Op];
  if (code === undefined) {
    console.error(`length-prefixed-client: unknown operation ${op} (echo, reverse, sha256)`);
    process.exitCode = 2;
  } else {
    try {
      const [reply] = await call(host, Number(port), [encodeRequest(code, Buffer.from(words.join(' ')))]);
      console.log(reply!.ok ? (op === 'sha256' ? reply!.body.toString('hex') : reply!.body.toString()) : `error: ${reply!.body}`);
    } catch (error) {
      console.error(`length-prefixed-client: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  }
}
