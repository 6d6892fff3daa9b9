/**
 * The errors a framed session closes with: the codec's own (frame too large, bad frame) and
 * the partial-frame deadline.
 */
import { CodecError } from '../codecs/codec-error.ts';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';

/** The codec's error as it is (any Switchboard error), or anything else a codec threw as a `SWB_ERR_BAD_FRAME`. */
export function asCodecFailure(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CodecError(ErrorCode.BAD_FRAME, `decoding failed: ${message}`, { cause: error });
}

/** `SWB_ERR_DEADLINE_EXCEEDED` for a partial frame that did not complete in time. */
export function partialFrameExpired(sessionId: number, pendingBytes: number, timeout: number): SwitchboardError {
  return new SwitchboardError(
    ErrorCode.DEADLINE_EXCEEDED,
    `session ${sessionId}: a partial frame (${pendingBytes} bytes) did not complete within partialFrameTimeout (${timeout} ms)`,
  );
}
