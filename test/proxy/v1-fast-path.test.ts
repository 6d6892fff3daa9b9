/**
 * The v1 TCP4 fast path (`scanTcp4Line`) accepts exactly the lines the general parser accepts,
 * with the same header: checked on edge cases and on seeded mutations of valid lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSeededRandom } from '../../src/testing/index.ts';
import { parseValidLine, scanTcp4Line } from '../../src/proxy/v1-line.ts';

function both(line: string): { fast: unknown; general: unknown } {
  const bytes = Buffer.from(line, 'latin1');
  return { fast: scanTcp4Line(bytes, bytes.length), general: parseValidLine(line) };
}

/** The fast path either agrees with the general parser or declines (undefined) and leaves it to it. */
function assertAgrees(line: string): void {
  const { fast, general } = both(line);
  if (fast !== undefined) assert.deepEqual(fast, general, JSON.stringify(line));
}

describe('PROXY v1 TCP4 fast path', () => {
  it('parses the usual line as the general parser does', () => {
    const { fast, general } = both('PROXY TCP4 198.18.0.1 198.18.0.2 56324 443');
    assert.notEqual(fast, undefined);
    assert.deepEqual(fast, general);
  });

  it('declines every malformed edge case the general parser refuses', () => {
    const refused = [
      'PROXY TCP4 198.18.0.01 198.18.0.2 1 2', // leading zero in an octet
      'PROXY TCP4 198.18.0.256 198.18.0.2 1 2', // octet above 255
      'PROXY TCP4 198.18.0 198.18.0.2 1 2', // three octets
      'PROXY TCP4 198.18.0.1.5 198.18.0.2 1 2', // five octets
      'PROXY TCP4 198.18.0.1 198.18.0.2 65536 2', // port above 65535
      'PROXY TCP4 198.18.0.1 198.18.0.2 01 2', // leading zero in a port
      'PROXY TCP4 198.18.0.1 198.18.0.2 1', // a field missing
      'PROXY TCP4 198.18.0.1 198.18.0.2 1 2 3', // a field too many
      'PROXY TCP4 198.18.0.1  198.18.0.2 1 2', // two spaces
      'PROXY TCP4 198.18.0.1 198.18.0.2 1 2 ', // trailing space
      'PROXY TCP4 ::1 ::1 1 2',
    ];
    for (const line of refused) {
      assert.equal(both(line).general, undefined, `the general parser refuses ${line}`);
      assert.equal(both(line).fast, undefined, `the fast path refuses ${line}`);
    }
    for (const line of ['PROXY TCP4 0.0.0.0 255.255.255.255 0 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 9 10']) assertAgrees(line);
  });

  it('agrees with the general parser on 20,000 seeded mutations of valid lines', () => {
    const seeded = createSeededRandom(0x5b0a);
    const random = (): number => seeded.next();
    const alphabet = '0123456789. :TCP4x';
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const octets = () => Array.from({ length: 4 }, () => Math.floor(random() * 256)).join('.');
      let line = `PROXY TCP4 ${octets()} ${octets()} ${Math.floor(random() * 65536)} ${Math.floor(random() * 65536)}`;
      const edits = Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const at = 11 + Math.floor(random() * (line.length - 11));
        const char = alphabet[Math.floor(random() * alphabet.length)]!;
        line = random() < 0.5 ? line.slice(0, at) + char + line.slice(at + 1) : line.slice(0, at) + char + line.slice(at);
      }
      const { fast, general } = both(line);
      if (general !== undefined) accepted++;
      // Where the general parser accepts a TCP4 line, the fast path must too, and the same way.
      if (general !== undefined) assert.deepEqual(fast, general, JSON.stringify(line));
      else assert.equal(fast, undefined, JSON.stringify(line));
    }
    assert.ok(accepted > 5_000, `${accepted} valid lines among the mutations`);
  });
});
