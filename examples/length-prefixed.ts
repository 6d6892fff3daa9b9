/**
 * A binary request/response protocol over length-prefixed frames, served as an async session.
 *
 * Every frame is a 4-byte big-endian length, then that many bytes (at most 64 KiB).
 * A request's first byte is an operation, the rest its operand:
 *   0x01 ECHO     reply: the operand
 *   0x02 REVERSE  reply: the operand's bytes in reverse order
 *   0x03 SHA256   reply: the 32-byte SHA-256 digest of the operand
 * A response's first byte is a status — 0x00 ok, 0x01 error (the rest is a UTF-8 message) —
 * and the rest the reply. Responses come in request order.
 *
 *   switchboard run examples/length-prefixed.ts --listen localhost:7001
 */
import { createHash } from 'node:crypto';
import { createLengthFieldCodec, type AsyncSession } from 'switchboard';

/** Operation codes. */
export const Op = { ECHO: 0x01, REVERSE: 0x02, SHA256: 0x03 } as const;
/** Status codes. */
export const Status = { OK: 0x00, ERROR: 0x01 } as const;

/** The reply to one request payload: status byte, then the result or an error message. */
export function respond(request: Buffer): Buffer {
  const op = request[0];
  const operand = request.subarray(1);
  switch (op) {
    case Op.ECHO:
      return Buffer.concat([Buffer.of(Status.OK), operand]);
    case Op.REVERSE:
      return Buffer.concat([Buffer.of(Status.OK), Buffer.from(operand).reverse()]);
    case Op.SHA256:
      return Buffer.concat([Buffer.of(Status.OK), createHash('sha256').update(operand).digest()]);
    default:
      return Buffer.concat([Buffer.of(Status.ERROR), Buffer.from(op === undefined ? 'empty request' : `unknown operation 0x${op.toString(16).padStart(2, '0')}`)]);
  }
}

/** Serves one connection: decode frames, answer each in order, stop at end of stream. */
export default async function serve(session: AsyncSession): Promise<void> {
  const codec = createLengthFieldCodec({ lengthFieldLength: 4, maxFrameLength: 64 * 1024 });
  for await (const chunk of session) {
    const replies: Buffer[] = [];
    // A frame over 64 KiB throws SWB_ERR_FRAME_TOO_LARGE: the session is destroyed, nobody else is.
    codec.decode(chunk, (request) => replies.push(...[codec.encode(respond(request))].flat()));
    // Awaiting the write is the backpressure: no more reading until the kernel took the replies.
    if (replies.length > 0) await session.write(replies);
  }
  codec.finish(() => {});
}
