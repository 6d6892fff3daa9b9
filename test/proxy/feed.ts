/**
 * Feeding a PROXY parser as a connection would, and the split checks every vector goes through:
 * the same verdict however the stream is cut (every offset, every pair for short streams, byte by
 * byte, at random), the header's bytes consumed exactly, the payload after it handed back whole,
 * and never more held than one header.
 */
import assert from 'node:assert/strict';
import { ProxyHeaderParser, ProxyProtocolError } from '../../src/index.ts';
import type { ProxyHeader, ProxyParserOptions } from '../../src/index.ts';
import { createSeededRandom, splitAt, splitRandomly } from '../helpers/seeded-random.ts';

/** What feeding a stream came to. */
export type Outcome =
  | { state: 'complete'; header: ProxyHeader; headerLength: number; payload: Buffer; maxPending: number }
  | { state: 'failed'; code: string; message: string; failedAfter: number; maxPending: number };

/**
 * Pushes `pieces` in order until the parser decides, then collects the rest as payload; calls
 * `finish()` if the pieces run out first. `failedAfter` counts the bytes pushed up to the failure.
 */
export function feed(pieces: readonly Buffer[], options?: ProxyParserOptions): Outcome {
  const parser = new ProxyHeaderParser(options);
  let pushed = 0;
  let headerLength = 0;
  let maxPending = 0;
  for (const [index, piece] of pieces.entries()) {
    const result = parser.push(piece);
    maxPending = Math.max(maxPending, parser.pendingBytes);
    if (result.state === 'partial') {
      assert.equal(parser.pendingBytes, pushed + piece.length, 'a partial header holds every byte given');
      pushed += piece.length;
      continue;
    }
    if (result.state === 'failed') return failed(result.error, pushed + piece.length, maxPending);
    assert.equal(parser.pendingBytes, 0, 'nothing is held after the header');
    assert.ok(result.consumed >= 0 && result.consumed <= piece.length, `consumed ${result.consumed} of a ${piece.length}-byte piece`);
    assert.ok(result.rest.equals(piece.subarray(result.consumed)), 'rest is what follows the header in that piece');
    headerLength = pushed + result.consumed;
    const payload = Buffer.concat([result.rest, ...pieces.slice(index + 1)]);
    return { state: 'complete', header: result.header, headerLength, payload, maxPending };
  }
  const end = parser.finish();
  if (end.state === 'failed') return failed(end.error, pushed, maxPending);
  throw new Error('finish() completed a header that push() had not');
}

function failed(error: unknown, failedAfter: number, maxPending: number): Outcome {
  assert.ok(error instanceof ProxyProtocolError, `expected a ProxyProtocolError, got ${String(error)}`);
  assert.equal(error.name, 'ProxyProtocolError');
  assert.match(error.code, /^SWB_ERR_PROXY_[A-Z_]+$/);
  return { state: 'failed', code: error.code, message: error.message, failedAfter, maxPending };
}

/** The limit on bytes held: one v1 line or one v2 header of the maximum size. */
export function holdLimit(options?: ProxyParserOptions): number {
  return Math.max(107, options?.maxHeaderBytes ?? 4096);
}

/**
 * Asserts that `stream` gives `expected` (a header with its length, or an error code) whole, split
 * at every offset, at every pair of offsets (streams up to 128 bytes), byte by byte and at random.
 */
export function assertEverySplit(stream: Buffer, expected: Expectation, options?: ProxyParserOptions): void {
  const check = (pieces: Buffer[], how: string): void => {
    const outcome = feed(pieces, options);
    assert.ok(outcome.maxPending <= holdLimit(options), `${how}: held ${outcome.maxPending} bytes`);
    if ('code' in expected) {
      assert.equal(outcome.state, 'failed', `${how}: expected ${expected.code}`);
      assert.equal(outcome.state === 'failed' && outcome.code, expected.code, `${how}: ${outcome.state === 'failed' ? outcome.message : ''}`);
      return;
    }
    assert.equal(outcome.state, 'complete', `${how}: ${outcome.state === 'failed' ? outcome.message : ''}`);
    if (outcome.state !== 'complete') return;
    assert.deepEqual(outcome.header, expected.header, how);
    assert.equal(outcome.headerLength, expected.length, `${how}: header length`);
    assert.ok(outcome.payload.equals(stream.subarray(expected.length)), `${how}: payload after the header`);
  };
  check([stream], 'whole');
  for (let offset = 0; offset <= stream.length; offset++) check(splitAt(stream, [offset]), `split at ${offset}`);
  if (stream.length <= 128) {
    for (let first = 1; first < stream.length; first++) {
      for (let second = first + 1; second < stream.length; second++) check(splitAt(stream, [first, second]), `split at ${first} and ${second}`);
    }
  }
  check([...stream].map((byte) => Buffer.from([byte])), 'byte by byte');
  const random = createSeededRandom(stream.length * 7919 + 17);
  for (let round = 0; round < 50; round++) {
    const pieces = splitRandomly(random, stream, 12);
    check(pieces, `pieces ${pieces.map((piece) => piece.length).join(',')}`);
  }
}

/** A header and its length on the wire, or the code it must fail with. */
export type Expectation = { header: ProxyHeader; length: number } | { code: string };

/** Feeds `stream` one byte at a time and returns how many bytes had been given when it failed. */
export function failurePoint(stream: Buffer, options?: ProxyParserOptions): { code: string; after: number } {
  const outcome = feed([...stream].map((byte) => Buffer.from([byte])), options);
  assert.equal(outcome.state, 'failed', 'expected a failure');
  return outcome.state === 'failed' ? { code: outcome.code, after: outcome.failedAfter } : { code: '', after: -1 };
}
