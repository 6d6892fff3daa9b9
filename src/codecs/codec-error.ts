import { ErrorCode, SwitchboardError } from '../core/errors.ts';

/** The codes a {@link CodecError} carries. */
export type CodecErrorCode = typeof ErrorCode.FRAME_TOO_LARGE | typeof ErrorCode.BAD_FRAME;

/**
 * Input a codec cannot frame: `SWB_ERR_FRAME_TOO_LARGE` when a frame exceeds the codec's
 * maximum, `SWB_ERR_BAD_FRAME` when the bytes are malformed or the stream ends inside a frame.
 * @example
 * try {
 *   codec.decode(chunk, onFrame);
 * } catch (error) {
 *   if (error instanceof CodecError && error.code === 'SWB_ERR_FRAME_TOO_LARGE') session.destroy(error);
 *   else throw error;
 * }
 */
export class CodecError extends SwitchboardError {
  declare readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A `SWB_ERR_FRAME_TOO_LARGE` codec error. */
export function frameTooLarge(message: string): CodecError {
  return new CodecError(ErrorCode.FRAME_TOO_LARGE, message);
}

/** A `SWB_ERR_BAD_FRAME` codec error. */
export function badFrame(message: string): CodecError {
  return new CodecError(ErrorCode.BAD_FRAME, message);
}

/**
 * What a codec threw, as the error a session closes with: any `SwitchboardError` as it is, anything
 * else (a custom codec's own throw) as a `SWB_ERR_BAD_FRAME` with it as `cause`.
 */
export function asCodecFailure(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CodecError(ErrorCode.BAD_FRAME, `decoding failed: ${message}`, { cause: error });
}
