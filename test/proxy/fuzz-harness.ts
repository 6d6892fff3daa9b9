/**
 * The PROXY parser fuzzer behind `fuzz.test.ts` (a bounded, fixed-seed run inside `npm test`) and
 * `fuzz.ts` (the `proxy` target of `npm run fuzz`, a million cases by default, any seed). Each case
 * is one of three kinds:
 * - `round-trip`: a random header through the encoder, then fed split at random behind random
 *   payload; it must parse back to the header a model built independently (addresses in Node's
 *   own text via `SocketAddress`), with limits and `versions` sometimes set to refuse it;
 * - `mutated`: such a header with bits flipped, bytes set, inserted or cut, lengths rewritten;
 * - `random`: random bytes behind a random start (a signature, a v1 prefix, nothing).
 * Whatever the bytes, only a ProxyProtocolError may come out, the verdict must not depend on the
 * split, nothing past the header is read, at most one header is held, and a parsed header must
 * re-encode to bytes that parse back to it.
 */
import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import { encodeProxyHeader, parseProxyHeader } from '../../src/index.ts';
import type { ProxyHeader, ProxyHeaderInit, ProxyParserOptions, ProxyRawTlv, ProxySslInfo, ProxySslInit, ProxyTlvs } from '../../src/index.ts';
import { fuzzReplayCommand } from '../helpers/fuzz-runner.ts';
import { createSeededRandom, splitRandomly } from '../helpers/seeded-random.ts';
import type { SeededRandom } from '../helpers/seeded-random.ts';
import { feed, holdLimit } from './feed.ts';
import { ProxyHeaderParser, parseFirstChunk, parserLimits } from '../../src/proxy/proxy-parser.ts';
import type { Outcome } from './feed.ts';
import { NONE as NO_TLVS, SIGNATURE, ssl, unattributed } from './wire.ts';

/** The kinds of case, drawn in turn. */
export const FUZZ_KINDS = ['round-trip', 'mutated', 'random'] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

/** What to run. */
export interface ProxyFuzzOptions {
  cases: number;
  /** Seed of the whole run; case `i` replays alone from `seed` and `i`. */
  seed: number;
  /** @default 0 */
  firstCase?: number;
  /** @default 10 */
  maxFailures?: number;
}

/** One failed case, with what is needed to replay it. */
export interface ProxyFuzzFailure {
  caseIndex: number;
  kind: FuzzKind;
  message: string;
  stream: string;
  pieces: number[];
}

/** Counts for one kind. */
export interface KindSummary {
  cases: number;
  complete: number;
  errors: Record<string, number>;
}

/** The outcome of a run. */
export interface ProxyFuzzSummary {
  seed: number;
  cases: number;
  elapsedMs: number;
  kinds: Partial<Record<FuzzKind, KindSummary>>;
  failures: ProxyFuzzFailure[];
}

/** Runs the cases; a failing case is reported, never thrown. */
export function runProxyFuzz(options: ProxyFuzzOptions): ProxyFuzzSummary {
  const firstCase = options.firstCase ?? 0;
  const maxFailures = options.maxFailures ?? 10;
  const summary: ProxyFuzzSummary = { seed: options.seed, cases: 0, elapsedMs: 0, kinds: {}, failures: [] };
  const started = performance.now();
  const last = firstCase + options.cases;
  for (let index = firstCase; index < last && summary.failures.length < maxFailures; index++) {
    const verdict = runCase(options.seed, index);
    const counts = (summary.kinds[verdict.kind] ??= { cases: 0, complete: 0, errors: {} });
    counts.cases++;
    summary.cases++;
    if (verdict.failure !== undefined) summary.failures.push(verdict.failure);
    else if (verdict.code === undefined) counts.complete++;
    else counts.errors[verdict.code] = (counts.errors[verdict.code] ?? 0) + 1;
  }
  summary.elapsedMs = performance.now() - started;
  return summary;
}

/** Case `index` of the run seeded `seed`: its kind, and the error it ended in or how it failed the checks. */
function runCase(seed: number, index: number): { kind: FuzzKind; code?: string; failure?: ProxyFuzzFailure } {
  const kind = FUZZ_KINDS[index % FUZZ_KINDS.length]!;
  const random = createSeededRandom((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const testCase = kind === 'round-trip' ? roundTripCase(random) : kind === 'mutated' ? mutatedCase(random) : randomCase(random);
  const pieces = splitRandomly(random, testCase.stream, 10);
  try {
    const outcome = checkCase(testCase, pieces);
    return outcome.state === 'complete' ? { kind } : { kind, code: outcome.code };
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return { kind, failure: { caseIndex: index, kind, message, stream: testCase.stream.toString('hex'), pieces: pieces.map((piece) => piece.length) } };
  }
}

/** A one-paragraph report, with a replay hint for each failure. */
export function formatProxyFuzzSummary(summary: ProxyFuzzSummary): string {
  const lines = [`${summary.cases} cases in ${Math.round(summary.elapsedMs)} ms, seed ${summary.seed}`];
  for (const [kind, counts] of Object.entries(summary.kinds)) {
    const errors = Object.entries(counts.errors).map(([code, count]) => `${code.replace('SWB_ERR_PROXY_', '')} ${count}`).join(', ');
    lines.push(`  ${kind}: ${counts.cases} cases, ${counts.complete} complete; ${errors || 'no errors'}`);
  }
  for (const failure of summary.failures) {
    lines.push(`FAILED case ${failure.caseIndex} (${failure.kind}); replay: ${fuzzReplayCommand('proxy', summary.seed, failure.caseIndex)}`);
    lines.push(`  stream ${failure.stream} split ${failure.pieces.join(',')}`);
    lines.push(`  ${failure.message.split('\n').slice(0, 6).join('\n  ')}`);
  }
  return lines.join('\n');
}

interface FuzzCase {
  stream: Buffer;
  options: ProxyParserOptions | undefined;
  /** For a round trip: what the stream must give. */
  expected?: { header: ProxyHeader; length: number } | { code: string };
}

/** `parseFirstChunk` says what a fresh parser's first `push` says (undefined for partial). */
function assertFirstChunkAgrees(chunk: Buffer, options: ProxyParserOptions | undefined): void {
  let limits;
  try {
    limits = parserLimits(options);
  } catch {
    return; // options the parser refuses: no stage is ever built with them
  }
  const pushed = new ProxyHeaderParser(options).push(chunk);
  const first = parseFirstChunk(chunk, limits);
  if (pushed.state === 'partial') return assert.equal(first, undefined, 'parseFirstChunk decided a partial header');
  assert.ok(first !== undefined, `parseFirstChunk left undecided what push() found ${pushed.state}`);
  assert.equal(first.state, pushed.state);
  if (first.state === 'failed' && pushed.state === 'failed') {
    assert.equal(first.error.code, pushed.error.code);
    assert.equal(first.error.message, pushed.error.message);
  } else if (first.state === 'complete' && pushed.state === 'complete') {
    assert.deepEqual(first.header, pushed.header);
    assert.equal(first.consumed, pushed.consumed);
    assert.ok(first.rest.equals(pushed.rest));
  }
}

/** Feeds the case whole and in `pieces`, and checks every invariant. */
function checkCase(testCase: FuzzCase, pieces: Buffer[]): Outcome {
  const { stream, options } = testCase;
  const whole = feed([stream], options);
  const split = feed(pieces, options);
  // The TCP stage's parser-free first look gives the parser's first answer, for the whole stream and for its first piece.
  for (const first of [stream, pieces[0] ?? Buffer.alloc(0)]) assertFirstChunkAgrees(first, options);
  assert.ok(split.maxPending <= holdLimit(options), `held ${split.maxPending} bytes`);
  assert.deepEqual(comparable(split), comparable(whole), 'the verdict depends on the split');
  if (testCase.expected !== undefined) {
    if ('code' in testCase.expected) assert.equal(whole.state === 'failed' && whole.code, testCase.expected.code);
    else {
      assert.equal(whole.state, 'complete', whole.state === 'failed' ? whole.message : '');
      assert.deepEqual(whole.state === 'complete' && whole.header, testCase.expected.header);
      assert.equal(whole.state === 'complete' && whole.headerLength, testCase.expected.length);
    }
  }
  if (whole.state === 'complete') {
    assert.ok(whole.payload.equals(stream.subarray(whole.headerLength)), 'the payload is what follows the header');
    // Nothing past the header was read: other bytes after it change nothing.
    const otherTail = Buffer.concat([stream.subarray(0, whole.headerLength), Buffer.from('\r\n\0\xff', 'latin1')]);
    assert.deepEqual(comparable(feed([otherTail], options)), { ...comparable(whole), payload: '0d0a00ff' });
    const again = parseProxyHeader(encodeProxyHeader(whole.header), { maxHeaderBytes: 65551 });
    assert.equal(again.state, 'complete', again.state === 'failed' ? `re-encoded header: ${again.error.message}` : '');
    assert.deepEqual(again.state === 'complete' && again.header, whole.header, 're-encoded header parses back the same');
  }
  return whole;
}

function comparable(outcome: Outcome): Record<string, unknown> {
  return outcome.state === 'complete'
    ? { state: 'complete', header: outcome.header, headerLength: outcome.headerLength, payload: outcome.payload.toString('hex') }
    : { state: 'failed', code: outcome.code };
}

function roundTripCase(random: SeededRandom): FuzzCase {
  const { init, expected } = randomHeader(random);
  const encoded = encodeProxyHeader(init);
  const stream = Buffer.concat([encoded, randomPayload(random)]);
  const draw = random.below(20);
  if (draw === 0 && encoded.length > 16) {
    const maxHeaderBytes = random.between(16, encoded.length - 1);
    return { stream, options: { maxHeaderBytes }, expected: { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE' } };
  }
  if (draw === 1) return { stream, options: { versions: [init.version === 1 ? 2 : 1] }, expected: { code: 'SWB_ERR_PROXY_VERSION_REFUSED' } };
  if (draw === 2) {
    const cut = random.below(encoded.length);
    return { stream: encoded.subarray(0, cut), options: undefined, expected: { code: cut === 0 ? 'SWB_ERR_PROXY_HEADER_MISSING' : 'SWB_ERR_PROXY_TRUNCATED' } };
  }
  return { stream, options: draw === 3 ? { maxHeaderBytes: Math.max(16, encoded.length) } : undefined, expected: { header: expected, length: encoded.length } };
}

function mutatedCase(random: SeededRandom): FuzzCase {
  const { init } = randomHeader(random);
  let bytes: Buffer = Buffer.concat([encodeProxyHeader(init), randomPayload(random)]);
  const count = random.between(1, 4);
  for (let round = 0; round < count; round++) bytes = mutate(random, bytes, init.version);
  return { stream: bytes, options: random.below(4) === 0 ? { maxHeaderBytes: random.between(16, 600) } : undefined };
}

const SPECIAL_BYTES = [0x00, 0x0a, 0x0d, 0x20, 0x2e, 0x30, 0x31, 0x3a, 0x7f, 0x80, 0xff];

function mutate(random: SeededRandom, bytes: Buffer, version: 1 | 2): Buffer {
  const at = random.below(Math.max(1, bytes.length));
  const copy = Buffer.from(bytes);
  switch (random.below(version === 2 ? 8 : 6)) {
    case 0:
      if (copy.length > 0) copy[at] ^= 1 << random.below(8);
      return copy;
    case 1:
      if (copy.length > 0) copy[at] = random.pick(SPECIAL_BYTES);
      return copy;
    case 2:
      return Buffer.concat([bytes.subarray(0, at), random.bytes(random.between(1, 4)), bytes.subarray(at)]);
    case 3:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + random.between(1, 6)))]);
    case 4:
      return bytes.subarray(0, at);
    case 5:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(random.below(bytes.length + 1)), bytes.subarray(at)]);
    case 6: {
      // The v2 length field: small shifts, or anything.
      if (copy.length < 16) return copy;
      const length = copy.readUInt16BE(14);
      copy.writeUInt16BE(random.below(2) === 0 ? (length + random.between(-4, 4)) & 0xffff : random.below(0x10000), 14);
      return copy;
    }
    default: {
      // A TLV length somewhere after the fixed part.
      if (copy.length < 19) return copy;
      copy.writeUInt16BE(random.below(0x200), random.between(16, copy.length - 2));
      return copy;
    }
  }
}

const STARTS = [
  Buffer.alloc(0),
  Buffer.from('P'),
  Buffer.from('PROXY '),
  Buffer.from('PROXY TCP4 '),
  Buffer.from('PROXY TCP6 ::'),
  Buffer.from('PROXY UNKNOWN '),
  SIGNATURE,
  Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11])]),
  Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0x00])]),
];

function randomCase(random: SeededRandom): FuzzCase {
  const start = random.pick(STARTS);
  const tail = random.below(3) === 0 ? Buffer.from([...random.bytes(random.below(60))].map((byte) => random.below(2) === 0 ? random.pick(SPECIAL_BYTES) : byte)) : random.bytes(random.below(200));
  return { stream: Buffer.concat([start, tail]), options: random.below(8) === 0 ? { versions: [random.between(1, 2) as 1 | 2] } : undefined };
}

function randomPayload(random: SeededRandom): Buffer {
  return random.below(3) === 0 ? Buffer.alloc(0) : random.bytes(random.between(1, 24));
}

// ---- random headers, and the header each must parse to -------------------------------------

const TEXT_POOL = [...'abcxyzABC019-._/:@ ', '\u00e9', '\u00fc', '\u20ac', '\u{1f600}', '\u0000'];
const ASCII_POOL = [...'abcdefTLSv1.3_-AES0123456789 ', '\u0000', '\u007f'];

function randomText(random: SeededRandom, pool: readonly string[], maxLength: number): string {
  let text = '';
  const length = random.below(maxLength + 1);
  for (let index = 0; index < length; index++) text += random.pick(pool);
  return text;
}

function randomLatin1(random: SeededRandom, maxLength: number): string {
  return String.fromCharCode(...random.bytes(random.below(maxLength + 1)));
}

interface InetDraw {
  text: string;
  expected: string;
}

function randomIPv4(random: SeededRandom): InetDraw {
  const octets = [...random.bytes(4)].map((byte) => (random.below(4) === 0 ? random.pick([0, 255, 1]) : byte));
  const text = octets.join('.');
  return { text, expected: text };
}

function randomIPv6(random: SeededRandom): InetDraw {
  const bytes = Buffer.alloc(16);
  for (let group = 0; group < 8; group++) {
    const draw = random.below(5);
    bytes.writeUInt16BE(draw < 2 ? 0 : draw === 2 ? random.pick([1, 0xffff, 0x0db8]) : random.below(0x10000), group * 2);
  }
  if (random.below(6) === 0) {
    bytes.fill(0, 0, 10);
    bytes.writeUInt16BE(0xffff, 10);
  }
  const full = bytes.toString('hex').match(/.{4}/g)!;
  const expected = new SocketAddress({ address: full.join(':'), family: 'ipv6' }).address;
  const form = random.below(3);
  const text = form === 0 ? expected : form === 1 ? full.join(':').toUpperCase() : full.map((group) => group.replace(/^0+(?=.)/, '')).join(':');
  return { text, expected };
}

function randomUnixPath(random: SeededRandom): string {
  const draw = random.below(4);
  if (draw === 0) return '';
  if (draw === 1) {
    const name = randomText(random, TEXT_POOL, 20).replace(/\0+$/, '');
    return name === '' ? '\0x' : `\0${name}`;
  }
  let path = `/${randomText(random, TEXT_POOL.filter((char) => char !== '\u0000'), 30)}`;
  while (Buffer.byteLength(path) > 108) path = path.slice(0, -1);
  return path.isWellFormed() ? path : '/p';
}

const UNKNOWN_TYPES = [0x00, 0x06, 0x10, 0x1f, 0x21, 0x25, 0x31, 0x7f, 0xe0, 0xef, 0xf0, 0xf7, 0xf8, 0xff];
const SSL_UNKNOWN_TYPES = [0x00, 0x01, 0x04, 0x20, 0x26, 0x30, 0xe0, 0xff];

function randomRaw(random: SeededRandom, types: readonly number[]): ProxyRawTlv[] {
  return Array.from({ length: random.below(3) }, () => ({ type: random.pick(types), value: random.bytes(random.below(12)) }));
}

function randomHeader(random: SeededRandom): { init: ProxyHeaderInit; expected: ProxyHeader } {
  if (random.below(3) === 0) {
    const family = random.pick(['IPv4', 'IPv6', 'unspec'] as const);
    if (family === 'unspec') return { init: { version: 1 }, expected: unattributed(1, 'proxy') };
    const pair = randomInetPair(random, family);
    return { init: { version: 1, ...pair.init }, expected: { version: 1, command: 'proxy', family, transport: 'stream', ...pair.expected, tlvs: NO_TLVS } };
  }
  const { init: tlvInit, expected: tlvs } = randomTlvs(random);
  if (random.below(6) === 0) return { init: { version: 2, command: 'local', tlvs: tlvInit }, expected: unattributed(2, 'local', { tlvs }) };
  const family = random.pick(['IPv4', 'IPv6', 'unix', 'unspec'] as const);
  if (family === 'unspec') return { init: { version: 2, tlvs: tlvInit }, expected: unattributed(2, 'proxy', { tlvs }) };
  const transport = random.pick(['stream', 'dgram'] as const);
  const pair = family === 'unix' ? randomUnixPair(random) : randomInetPair(random, family);
  return { init: { version: 2, transport, ...pair.init, tlvs: tlvInit }, expected: { version: 2, command: 'proxy', family, transport, ...pair.expected, tlvs } };
}

interface EndpointPair {
  init: Pick<ProxyHeaderInit, 'source' | 'destination'>;
  expected: Pick<ProxyHeader, 'source' | 'destination'>;
}

function randomInetPair(random: SeededRandom, family: 'IPv4' | 'IPv6'): EndpointPair {
  const draw = family === 'IPv4' ? randomIPv4 : randomIPv6;
  const [source, destination] = [draw(random), draw(random)];
  const [sourcePort, destinationPort] = [random.below(0x10000), random.below(0x10000)];
  return {
    init: { source: { address: source.text, port: sourcePort }, destination: { address: destination.text, port: destinationPort } },
    expected: { source: { family, address: source.expected, port: sourcePort }, destination: { family, address: destination.expected, port: destinationPort } },
  };
}

function randomUnixPair(random: SeededRandom): EndpointPair {
  const [source, destination] = [randomUnixPath(random), randomUnixPath(random)];
  return {
    init: { source: { path: source }, destination: { path: destination } },
    expected: { source: { family: 'unix', path: source }, destination: { family: 'unix', path: destination } },
  };
}

function randomTlvs(random: SeededRandom): { init: NonNullable<ProxyHeaderInit['tlvs']>; expected: ProxyTlvs } {
  const maybe = <T>(make: () => T): T | undefined => (random.below(3) === 0 ? make() : undefined);
  const alpn = maybe(() => randomLatin1(random, 12));
  const authority = maybe(() => randomText(random, TEXT_POOL, 24));
  const crc32c = random.below(2) === 0;
  const uniqueId = maybe(() => random.bytes(random.pick([0, 1, 41, 127, 128])));
  const netns = maybe(() => randomText(random, ASCII_POOL, 10));
  const noop = maybe(() => random.below(12));
  const unknown = randomRaw(random, UNKNOWN_TYPES);
  let sslInit: ProxySslInit | undefined;
  let sslInfo: ProxySslInfo | undefined;
  if (random.below(3) === 0) {
    const client = random.below(8);
    const verify = random.below(2) === 0 ? 0 : random.below(0x100000000);
    const strings = {
      version: maybe(() => random.pick(['TLSv1.2', 'TLSv1.3', ''])),
      cn: maybe(() => randomText(random, TEXT_POOL, 16)),
      cipher: maybe(() => randomText(random, ASCII_POOL, 24)),
      sigAlg: maybe(() => randomText(random, ASCII_POOL, 8)),
      keyAlg: maybe(() => randomText(random, ASCII_POOL, 8)),
      unknown: randomRaw(random, SSL_UNKNOWN_TYPES),
    };
    sslInit = { client, verify, ...strings };
    sslInfo = ssl(client, verify, strings);
  }
  return {
    init: { alpn, authority, crc32c, uniqueId, ssl: sslInit, netns, noop, unknown },
    expected: { alpn, authority, crc32c, uniqueId, ssl: sslInfo, netns, unknown },
  };
}
