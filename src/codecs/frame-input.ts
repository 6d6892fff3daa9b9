import type { FrameInput } from './codec.ts';

/**
 * The bytes of a frame given to an encoder, without copying when it already is bytes.
 * @throws {TypeError} when `frame` is neither a string nor a Uint8Array.
 */
export function frameInputToBuffer(frame: FrameInput, encoding: BufferEncoding = 'utf8'): Buffer {
  if (typeof frame === 'string') return Buffer.from(frame, encoding);
  if (Buffer.isBuffer(frame)) return frame;
  if (frame instanceof Uint8Array) return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  throw new TypeError(`A frame must be a string or a Uint8Array, got ${typeof frame}`);
}
