/** Framing codecs: pure transforms between byte streams and frames, with no sockets. */
export type { FrameCodec, FrameInput } from './codec.ts';
export { CodecError } from './codec-error.ts';
export type { CodecErrorCode } from './codec-error.ts';
export { DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_LINE_LENGTH } from './codec-options.ts';
export { createLineCodec } from './line-codec.ts';
export type { LineCodecOptions, LineEncoding } from './line-codec.ts';
export { createDelimiterCodec } from './delimiter-codec.ts';
export type { DelimiterCodecOptions } from './delimiter-codec.ts';
export { createLengthFieldCodec } from './length-field-codec.ts';
export type { ByteOrder, LengthFieldCodecOptions, LengthFieldLength } from './length-field-codec.ts';
export { createFixedLengthCodec } from './fixed-length-codec.ts';
export type { FixedLengthCodecOptions } from './fixed-length-codec.ts';
