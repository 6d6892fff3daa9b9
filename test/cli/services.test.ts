import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventSession } from '../../src/index.ts';
import { CHARGEN_LINE_LENGTH, chargenLine, chargenLines, chargenService } from '../../src/cli/services/chargen.ts';
import { formatDaytime } from '../../src/cli/services/daytime.ts';
import { MAX_QUOTE_LENGTH, formatQuote, parseQuotes, qotdService } from '../../src/cli/services/qotd.ts';
import { BUILT_IN_QUOTES } from '../../src/cli/services/quotes.ts';
import { RFC868_EPOCH_OFFSET, decodeRfc868Time, encodeRfc868Time } from '../../src/cli/services/time.ts';

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

describe('chargen', () => {
  describe('chargenLine', () => {
    it('is 72 printable characters and CRLF, line 0 starting at space', () => {
      const line = chargenLine(0);
      assert.equal(line, `${PRINTABLE.slice(0, 72)}\r\n`);
      assert.equal(line.length, CHARGEN_LINE_LENGTH + 2);
    });

    it('starts each line one character further on, wrapping after ~ to space', () => {
      assert.equal(chargenLine(1)[0], '!');
      assert.equal(chargenLine(94), `~${PRINTABLE.slice(0, 71)}\r\n`);
      assert.equal(chargenLine(95), chargenLine(0));
      assert.equal(chargenLine(30), `${(PRINTABLE + PRINTABLE).slice(30, 102)}\r\n`);
    });
  });

  describe('chargenLines', () => {
    it('concatenates consecutive lines as bytes', () => {
      assert.equal(chargenLines(93, 3).toString('latin1'), chargenLine(93) + chargenLine(94) + chargenLine(0));
    });
  });

  describe('TCP handler', () => {
    it('writes until write() returns false, then again only on drain', () => {
      const writes: Buffer[] = [];
      let accept = 3;
      const session = {
        state: 'open',
        write(data: Buffer) {
          writes.push(data);
          return --accept > 0;
        },
      } as unknown as EventSession;
      const { tcp } = chargenService.create({});
      tcp.open!(session);
      assert.equal(writes.length, 3, 'stops at the first false');
      accept = 1;
      tcp.drain!(session);
      assert.equal(writes.length, 4, 'one more write per drain');
      const stream = Buffer.concat(writes).toString('latin1');
      const lines = stream.split('\r\n').slice(0, -1);
      lines.forEach((line, index) => assert.equal(`${line}\r\n`, chargenLine(index), `line ${index} continues the rotation`));
    });

    it('writes nothing once the session is no longer open', () => {
      let writes = 0;
      const session = { state: 'ending', write: () => ++writes > 0 } as unknown as EventSession;
      chargenService.create({}).tcp.open!(session);
      assert.equal(writes, 0);
    });
  });

  describe('UDP responder', () => {
    it('answers each datagram with the next line of the rotation', () => {
      const { udp } = chargenService.create({});
      const replies = [udp(Buffer.alloc(0)), udp(Buffer.from('x')), udp(Buffer.alloc(0))].map((reply) => reply!.toString('latin1'));
      assert.deepEqual(replies, [chargenLine(0), chargenLine(1), chargenLine(2)]);
    });

    it('cuts the line to the room the request allows, CRLF kept, and sends nothing when not even CRLF fits', () => {
      const { udp } = chargenService.create({});
      assert.equal(udp(Buffer.alloc(0), 56)!.toString('latin1'), `${chargenLine(0).slice(0, 54)}\r\n`, 'an empty IPv4 request: 56 bytes');
      assert.equal(udp(Buffer.alloc(0), 74)!.toString('latin1'), chargenLine(1), 'a whole line when it fits');
      assert.equal(udp(Buffer.alloc(0), 1), undefined);
      assert.equal(udp(Buffer.alloc(0), 500)!.toString('latin1'), chargenLine(3), 'never more than one line');
    });
  });
});

describe('time (RFC 868)', () => {
  it('counts seconds from 1900: the epoch of 1970 is 2,208,988,800', () => {
    assert.equal(encodeRfc868Time(0).readUInt32BE(0), RFC868_EPOCH_OFFSET);
    assert.equal(encodeRfc868Time(1_000_999).readUInt32BE(0), RFC868_EPOCH_OFFSET + 1000);
  });

  it('is four big-endian bytes', () => {
    assert.deepEqual([...encodeRfc868Time(0)], [0x83, 0xaa, 0x7e, 0x80]);
  });

  it('wraps after 2036 and decodes back into the right era', () => {
    const in2040 = Date.UTC(2040, 0, 1);
    const bytes = encodeRfc868Time(in2040);
    assert.ok(bytes.readUInt32BE(0) < RFC868_EPOCH_OFFSET, 'wrapped');
    assert.equal(decodeRfc868Time(bytes, in2040), in2040);
    const now = Date.now();
    assert.equal(decodeRfc868Time(encodeRfc868Time(now), now), Math.floor(now / 1000) * 1000);
  });
});

describe('daytime (RFC 867)', () => {
  it('is one line that Date.parse reads back to the same second', () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const line = formatDaytime(now);
    assert.match(line, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n$/);
    assert.equal(Date.parse(line), now.getTime());
  });
});

describe('qotd (RFC 865)', () => {
  it('ships quotes that are all under 512 characters as sent, in ASCII', () => {
    assert.ok(BUILT_IN_QUOTES.length >= 10);
    for (const quote of BUILT_IN_QUOTES) {
      const sent = formatQuote(quote);
      assert.ok(sent.length < MAX_QUOTE_LENGTH, `${sent.length} characters: ${quote}`);
      assert.match(sent, /^[\x20-\x7e\r\n]+\r\n$/);
      assert.ok(!/[^\r]\n/.test(sent), 'lines end in CRLF');
    }
  });

  it('answers TCP and UDP with one of its quotes', () => {
    const { udp } = qotdService.create({ quotes: ['only one'] });
    assert.equal(udp(Buffer.alloc(0))!.toString(), 'only one\r\n');
  });

  it('answers over UDP with a quote that fits the room, and offers one anyway when none does', () => {
    const long = 'x'.repeat(100);
    const { udp } = qotdService.create({ quotes: [long, 'short', 'tiny'] });
    const fitting = new Set(Array.from({ length: 50 }, () => udp(Buffer.alloc(0), 56)!.toString()));
    assert.deepEqual([...fitting].sort(), ['short\r\n', 'tiny\r\n'], 'chosen at random among those that fit');
    assert.equal(udp(Buffer.alloc(0), 6)!.toString(), 'tiny\r\n');
    // None fits: the server refuses what is offered, and counts it (amplification) for the log.
    assert.ok(udp(Buffer.alloc(0), 5)!.length > 5);
  });

  it('ships quotes short enough for an empty UDP request over IPv4 (56 bytes)', () => {
    const short = BUILT_IN_QUOTES.filter((quote) => Buffer.byteLength(formatQuote(quote)) <= 56);
    assert.ok(short.length >= 3, `${short.length} quotes of 56 bytes or less`);
  });

  describe('parseQuotes', () => {
    it('splits on % lines (fortune format)', () => {
      assert.deepEqual(parseQuotes('one\nline two\n%\nthree\n\nstill three\n%\n').quotes, ['one\nline two', 'three\n\nstill three']);
    });

    it('splits on blank lines when there is no % line', () => {
      assert.deepEqual(parseQuotes('a\r\nb\r\n\r\n\r\nc\n').quotes, ['a\nb', 'c']);
    });

    it('reports quotes too long to send, by number', () => {
      assert.deepEqual(parseQuotes(`short\n\n${'x'.repeat(510)}\n\nok`).tooLong, [2]);
    });
  });
});
