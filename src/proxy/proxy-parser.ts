/**
 * The streaming PROXY header parser: fed the first chunks of a connection, it says whether it
 * needs more, or returns the header with how many bytes of the last chunk it used, or a coded
 * error. It holds at most one header's bytes (107 for v1, `maxHeaderBytes` for v2) and never
 * reads past the header.
 */
import { ErrorCode, InvalidOptionError } from '../core/errors.ts';
import { integerOption, optionsObject } from '../core/options.ts';
import type { ProxyHeader } from './proxy-header.ts';
import { DEFAULT_MAX_PROXY_HEADER_BYTES, V1_MAX_LENGTH, V1_SIGNATURE, V2_FIXED_LENGTH, V2_MAX_LENGTH, V2_SIGNATURE } from './proxy-header.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import { inspectV1 } from './v1-line.ts';
import { inspectV2, parseV2 } from './v2-binary.ts';

/** Options of {@link ProxyHeaderParser} and {@link parseProxyHeader}. */
export interface ProxyParserOptions {
  /**
   * The longest header accepted, in bytes, from 16 to 65551; longer ones fail with
   * `SWB_ERR_PROXY_HEADER_TOO_LARGE` as soon as their length is known. v1 lines are also held to
   * the spec's 107 bytes.
   * @default 4096
   */
  maxHeaderBytes?: number;
  /** The versions accepted; a header of another fails with `SWB_ERR_PROXY_VERSION_REFUSED`. @default [1, 2] */
  versions?: readonly (1 | 2)[];
}

/** More bytes are needed; everything given so far is held as part of the header. */
export interface ProxyPartialResult {
  readonly state: 'partial';
}

/** The header is complete. */
export interface ProxyCompleteResult {
  readonly state: 'complete';
  readonly header: ProxyHeader;
  /** How many bytes of the chunk just given belong to the header (earlier chunks were all header). */
  readonly consumed: number;
  /** The rest of that chunk, a view of it: the connection's first payload bytes. */
  readonly rest: Buffer;
}

/** The header cannot be accepted; the connection should be closed. */
export interface ProxyFailedResult {
  readonly state: 'failed';
  readonly error: ProxyProtocolError;
}

/** What one {@link ProxyHeaderParser.push} says. */
export type ProxyParseResult = ProxyPartialResult | ProxyCompleteResult | ProxyFailedResult;

const PARTIAL: ProxyPartialResult = Object.freeze({ state: 'partial' });

/** What a parser's options come to: one record, computed once for every parser built from the same checked options. @internal */
export interface ParserLimits {
  readonly maxHeaderBytes: number;
  /** The longest v1 line accepted, CRLF included: 107, or less with a smaller `maxHeaderBytes`. */
  readonly v1MaxLength: number;
  readonly acceptV1: boolean;
  readonly acceptV2: boolean;
}

/** Option objects already checked by {@link checkedParserOptions}, with their limits: a parser per connection skips the checks. */
const checked = new WeakMap<ProxyParserOptions, ParserLimits>();

/**
 * Checks parser options once, for many parsers (one per connection): parsers built with the
 * returned object skip the checks. @internal
 * @throws {InvalidOptionError} for an option outside its range
 */
export function checkedParserOptions(options: ProxyParserOptions): ProxyParserOptions {
  const limits = parserLimits(options);
  const frozen = Object.freeze({ ...options, ...(options.versions ? { versions: Object.freeze([...options.versions]) } : {}) });
  checked.set(frozen, limits);
  return frozen;
}

/**
 * The limits of `options`, checked.
 * @throws {InvalidOptionError} for an option outside its range
 * @internal
 */
export function parserLimits(options: ProxyParserOptions | undefined): ParserLimits {
  const known = options === undefined ? undefined : checked.get(options);
  if (known !== undefined) return known;
  const given = optionsObject('options', options);
  const maxHeaderBytes = integerOption('maxHeaderBytes', given.maxHeaderBytes, DEFAULT_MAX_PROXY_HEADER_BYTES, V2_FIXED_LENGTH, V2_MAX_LENGTH);
  const versions = given.versions ?? [1, 2];
  if (!Array.isArray(versions) || versions.length === 0 || versions.some((version) => version !== 1 && version !== 2)) {
    throw new InvalidOptionError('versions', 'must be a non-empty array of 1 and 2', versions);
  }
  return Object.freeze({ maxHeaderBytes, v1MaxLength: Math.min(V1_MAX_LENGTH, maxHeaderBytes), acceptV1: versions.includes(1), acceptV2: versions.includes(2) });
}

/**
 * The common case without a parser: the header in a connection's first chunk, decided by that
 * chunk alone -- complete (with the rest of the chunk) or failed -- or undefined when the chunk is
 * a header's beginning, which a {@link ProxyHeaderParser} fed the same chunk then holds. The
 * answer is the one the parser's first `push` gives. @internal
 */
export function parseFirstChunk(bytes: Buffer, limits: ParserLimits): ProxyCompleteResult | ProxyFailedResult | undefined {
  try {
    const found = inspectHeader(bytes, bytes.length, limits);
    return found === undefined ? undefined : { state: 'complete', header: found.header, consumed: found.length, rest: bytes.subarray(found.length) };
  } catch (error) {
    if (!(error instanceof ProxyProtocolError)) throw error;
    return { state: 'failed', error };
  }
}
const EMPTY = Buffer.alloc(0);

/**
 * Parses the PROXY header at the start of one connection, chunk by chunk, however the bytes are
 * split. A connection that starts with neither signature fails at its first byte that differs.
 *
 * Errors: `push()` and `finish()` never throw for any input; a bad header is a `failed` result
 * carrying a {@link ProxyProtocolError}, and every later call returns the same failure.
 * @example
 * const parser = new ProxyHeaderParser();
 * socket.on('data', function onData(chunk) {
 *   const result = parser.push(chunk);
 *   if (result.state === 'partial') return;
 *   socket.off('data', onData);
 *   if (result.state === 'failed') return socket.destroy(result.error);
 *   serve(socket, result.header, result.rest); // rest: the first payload bytes
 * });
 */
export class ProxyHeaderParser {
  readonly #limits: ParserLimits;
  #buffer: Buffer = EMPTY;
  #held = 0;
  #result: ProxyCompleteResult | ProxyFailedResult | undefined;

  /** @throws {InvalidOptionError} for an option outside its range */
  constructor(options?: ProxyParserOptions) {
    this.#limits = parserLimits(options);
  }

  /** Bytes held of a header not yet complete: 0 before the first byte and after the end. */
  get pendingBytes(): number {
    return this.#held;
  }

  /**
   * Feeds the next chunk. Once complete, later chunks are all payload (`consumed` 0); once
   * failed, every call returns the same failure.
   */
  push(chunk: Uint8Array): ProxyParseResult {
    if (this.#result !== undefined) return this.#result.state === 'failed' ? this.#result : this.#after(chunk);
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    try {
      return this.#held === 0 ? this.#pushFirst(bytes) : this.#pushMore(bytes);
    } catch (error) {
      if (!(error instanceof ProxyProtocolError)) throw error;
      return this.#fail(error);
    }
  }

  /** Marks the end of the stream (or of the datagram): a header still partial is truncated. */
  finish(): ProxyCompleteResult | ProxyFailedResult {
    if (this.#result !== undefined) return this.#result.state === 'failed' ? this.#result : this.#after(EMPTY);
    if (this.#held === 0) return this.#fail(new ProxyProtocolError(ErrorCode.PROXY_HEADER_MISSING, undefined, 'the stream ended before any byte'));
    const version = this.#buffer[0] === V1_SIGNATURE[0] ? 1 : 2;
    return this.#fail(new ProxyProtocolError(ErrorCode.PROXY_TRUNCATED, version, `the stream ended after ${this.#held} bytes of the header`));
  }

  /** The common case: nothing held yet, so the chunk is read in place and copied only if partial. */
  #pushFirst(bytes: Buffer): ProxyParseResult {
    const found = inspectHeader(bytes, bytes.length, this.#limits);
    if (found !== undefined) return this.#complete(found.header, found.length, bytes);
    if (bytes.length === 0) return PARTIAL;
    this.#buffer = Buffer.allocUnsafe(this.#capacity(bytes, bytes.length));
    bytes.copy(this.#buffer);
    this.#held = bytes.length;
    return PARTIAL;
  }

  /** A header spanning chunks: copy in only what can still belong to it, then look again. */
  #pushMore(bytes: Buffer): ProxyParseResult {
    let offset = 0;
    for (;;) {
      const take = Math.min(this.#buffer.length - this.#held, bytes.length - offset);
      bytes.copy(this.#buffer, this.#held, offset, offset + take);
      this.#held += take;
      offset += take;
      const found = inspectHeader(this.#buffer, this.#held, this.#limits);
      if (found !== undefined) return this.#complete(found.header, offset - (this.#held - found.length), bytes);
      if (this.#held < this.#buffer.length) return PARTIAL;
      // The fixed part of a v2 header filled the buffer: grow it to the length just read.
      const capacity = this.#capacity(this.#buffer, this.#held);
      if (capacity <= this.#buffer.length) throw new Error(`ProxyHeaderParser: undecided after ${this.#held} bytes (a bug)`);
      const grown = Buffer.allocUnsafe(capacity);
      this.#buffer.copy(grown);
      this.#buffer = grown;
    }
  }

  /** How many bytes the header starting in `bytes[0, length)` may need held (that prefix is valid). */
  #capacity(bytes: Buffer, length: number): number {
    if (bytes[0] === V1_SIGNATURE[0]) return this.#limits.v1MaxLength;
    return length < V2_FIXED_LENGTH ? V2_FIXED_LENGTH : V2_FIXED_LENGTH + bytes.readUInt16BE(V2_FIXED_LENGTH - 2);
  }

  #complete(header: ProxyHeader, consumed: number, bytes: Buffer): ProxyCompleteResult {
    this.#release();
    const result: ProxyCompleteResult = { state: 'complete', header, consumed, rest: bytes.subarray(consumed) };
    this.#result = result;
    return result;
  }

  #after(chunk: Uint8Array): ProxyCompleteResult {
    const rest = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    return { state: 'complete', header: (this.#result as ProxyCompleteResult).header, consumed: 0, rest };
  }

  #fail(error: ProxyProtocolError): ProxyFailedResult {
    this.#release();
    const result: ProxyFailedResult = { state: 'failed', error };
    this.#result = result;
    return result;
  }

  #release(): void {
    this.#buffer = EMPTY;
    this.#held = 0;
  }
}

/**
 * The complete header in `bytes[0, length)`, or undefined while the bytes can still become
 * one. Every check looks only at bytes before the one it is about, in order, so the verdict
 * is the same however the stream is split.
 */
function inspectHeader(bytes: Buffer, length: number, limits: ParserLimits): { header: ProxyHeader; length: number } | undefined {
  if (length === 0) return undefined;
  const v1 = bytes[0] === V1_SIGNATURE[0];
  const signature = v1 ? V1_SIGNATURE : V2_SIGNATURE;
  const checked = Math.min(length, signature.length);
  for (let index = 0; index < checked; index++) {
    if (bytes[index] !== signature[index]) throw notASignature(bytes, index);
  }
  if (length < signature.length) return undefined;
  const version = v1 ? 1 : 2;
  if (!(v1 ? limits.acceptV1 : limits.acceptV2)) {
    throw new ProxyProtocolError(ErrorCode.PROXY_VERSION_REFUSED, version, `this parser accepts only version ${3 - version}`);
  }
  if (v1) return inspectV1(bytes, length, limits.v1MaxLength);
  const total = inspectV2(bytes, length, limits.maxHeaderBytes);
  if (total === undefined || length < total) return undefined;
  return { header: parseV2(bytes, total), length: total };
}

function notASignature(bytes: Buffer, index: number): ProxyProtocolError {
  const byte = bytes[index]!;
  const shown = byte >= 0x20 && byte < 0x7f ? ` (${JSON.stringify(String.fromCharCode(byte))})` : '';
  const where = index === 0 ? 'the first byte' : `byte ${index + 1}`;
  return new ProxyProtocolError(ErrorCode.PROXY_HEADER_MISSING, undefined, `${where}, 0x${byte.toString(16).padStart(2, '0')}${shown}, is not part of a v1 or v2 signature`);
}

/**
 * Parses a header that must lie wholly in `bytes` (a datagram, or input already buffered): a
 * partial header is `SWB_ERR_PROXY_TRUNCATED`. `rest` is what follows the header.
 * @example
 * const result = parseProxyHeader(datagram);
 * if (result.state === 'complete') handle(result.header.source, result.rest);
 */
export function parseProxyHeader(bytes: Uint8Array, options?: ProxyParserOptions): ProxyCompleteResult | ProxyFailedResult {
  const parser = new ProxyHeaderParser(options);
  const result = parser.push(bytes);
  return result.state === 'partial' ? parser.finish() : result;
}
