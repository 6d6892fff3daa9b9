/**
 * Parse cost of PROXY protocol headers, in headers/s: v1 (TCP4, TCP6), v2 bare (TCP4, TCP6) and
 * v2 with the TLVs HAProxy sends from a TLS frontend (CRC32C, ALPN, AUTHORITY, UNIQUE_ID, SSL with
 * version, CN, cipher, signature and key algorithm). Each header is parsed three ways: by a fresh
 * `ProxyHeaderParser` per header from one chunk that also holds 64 bytes of payload (a
 * connection's first segment), from two chunks cut in the middle of the header (a header that
 * straddles segments), and by `parseProxyHeader` (a datagram). Pure CPU, no sockets.
 *
 *   node bench/proxy.ts [--quick] [--ms N] [--rounds N]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ProxyHeaderParser, encodeProxyHeader, parseProxyHeader } from '../src/index.ts';
import type { ProxyHeaderInit } from '../src/index.ts';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, ms: { type: 'string' }, rounds: { type: 'string' } },
});
const caseMs = values.ms === undefined ? (values.quick ? 40 : 150) : Number(values.ms);
const rounds = values.rounds === undefined ? (values.quick ? 1 : 3) : Number(values.rounds);
if (!(caseMs > 0) || !Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: node bench/proxy.ts [--quick] [--ms N>0] [--rounds N>=1]');
  process.exit(2);
}

const IPV4 = { source: { address: '203.0.113.7', port: 51000 }, destination: { address: '192.0.2.1', port: 443 } };
const IPV6 = { source: { address: '2001:db8:85a3::8a2e:370:7334', port: 51000 }, destination: { address: '2001:db8::1', port: 443 } };
/** What HAProxy 2.6 sends from a TLS frontend with a client certificate (test/proxy/haproxy-capture.test.ts). */
const HAPROXY_TLS_TLVS: ProxyHeaderInit['tlvs'] = {
  crc32c: true,
  alpn: 'h2',
  authority: 'sb.test',
  uniqueId: Buffer.from('203.0.113.7:51000_192.0.2.1:443_1796117916_1:23708'),
  ssl: { client: 0x07, verify: 0, version: 'TLSv1.3', cn: 'proxy-client.test', cipher: 'TLS_AES_256_GCM_SHA384', sigAlg: 'ecdsa-with-SHA256', keyAlg: 'EC256' },
};

const headers: { name: string; bytes: Buffer }[] = [
  { name: 'v1 TCP4', bytes: encodeProxyHeader({ version: 1, ...IPV4 }) },
  { name: 'v1 TCP6', bytes: encodeProxyHeader({ version: 1, ...IPV6 }) },
  { name: 'v2 TCP4 bare', bytes: encodeProxyHeader({ version: 2, ...IPV4 }) },
  { name: 'v2 TCP6 bare', bytes: encodeProxyHeader({ version: 2, ...IPV6 }) },
  { name: 'v2 TCP4 HAProxy TLS TLVs', bytes: encodeProxyHeader({ version: 2, ...IPV4, tlvs: HAPROXY_TLS_TLVS }) },
];
const PAYLOAD = Buffer.alloc(64, 0x16);

/** One way of parsing a header: returns a function that parses it once and says whether it completed. */
const ways: { name: string; prepare(header: Buffer): () => boolean }[] = [
  {
    name: 'one chunk',
    prepare(header) {
      const chunk = Buffer.concat([header, PAYLOAD]);
      return () => new ProxyHeaderParser().push(chunk).state === 'complete';
    },
  },
  {
    name: 'two chunks',
    prepare(header) {
      const cut = header.length >> 1;
      const [first, second] = [Buffer.from(header.subarray(0, cut)), Buffer.concat([header.subarray(cut), PAYLOAD])];
      return () => {
        const parser = new ProxyHeaderParser();
        return parser.push(first).state === 'partial' && parser.push(second).state === 'complete';
      };
    },
  },
  {
    name: 'parseProxyHeader',
    prepare(header) {
      const datagram = Buffer.concat([header, PAYLOAD]);
      return () => parseProxyHeader(datagram).state === 'complete';
    },
  },
];

const cpus = os.cpus();
console.log(`node ${process.version} · ${cpus[0]?.model.trim() ?? 'unknown CPU'} (${cpus.length} cores) · ${os.type()} ${os.arch()}`);
console.log(`best of ${rounds} × ${caseMs} ms per figure, the ways alternating; headers/s (ns per header), a fresh parser per header\n`);
const nameWidth = Math.max(...headers.map((header) => header.name.length));
console.log(`${'header'.padEnd(nameWidth)} ${'bytes'.padStart(5)}  ${ways.map((way) => way.name.padStart(22)).join('')}`);
for (const header of headers) {
  const parses = ways.map((way) => way.prepare(header.bytes));
  const best = ways.map(() => 0);
  // Alternate and keep each way's best round: other load on the machine only ever slows a round down.
  for (let round = 0; round < rounds; round++) {
    for (const [index, parse] of parses.entries()) best[index] = Math.max(best[index]!, measure(parse, round === 0));
  }
  const figures = best.map((perSecond) => `${format(perSecond)} (${(1e9 / perSecond).toFixed(0)} ns)`.padStart(22));
  console.log(`${header.name.padEnd(nameWidth)} ${String(header.bytes.length).padStart(5)}  ${figures.join('')}`);
}

/** Parses over and over for `caseMs` (after a warm-up of half that when asked); headers per second. */
function measure(parse: () => boolean, warmUp: boolean): number {
  const warmUntil = performance.now() + (warmUp ? caseMs / 2 : 0);
  while (performance.now() < warmUntil) parse();
  let count = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 1000; i++) {
      if (!parse()) throw new Error('a benchmark header did not parse');
    }
    count += 1000;
    elapsed = performance.now() - started;
  } while (elapsed < caseMs);
  return count / (elapsed / 1000);
}

function format(value: number): string {
  return value >= 1e6 ? `${(value / 1e6).toFixed(2)} M/s` : `${(value / 1e3).toFixed(0)} k/s`;
}
