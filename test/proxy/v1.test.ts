import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertEverySplit, failurePoint } from './feed.ts';
import { inet, relayed, unattributed } from './wire.ts';

const line = (text: string): Buffer => Buffer.from(text, 'latin1');
const PAYLOAD = line('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
const MAX_FF = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

describe('PROXY v1', () => {
  describe('valid lines', () => {
    const valid: [string, string, ReturnType<typeof relayed>][] = [
      ['what HAProxy 2.6 sends (send-proxy)', 'PROXY TCP4 127.0.0.1 127.0.0.1 56208 18504\r\n', relayed(1, inet('127.0.0.1', 56208), inet('127.0.0.1', 18504))],
      ['the longest TCP4 line (56 bytes)', 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n', relayed(1, inet('255.255.255.255', 65535), inet('255.255.255.255', 65535))],
      ['zero octets and ports written as a single 0', 'PROXY TCP4 0.0.0.0 198.18.0.1 0 0\r\n', relayed(1, inet('0.0.0.0', 0), inet('198.18.0.1', 0))],
      ['the longest TCP6 line (104 bytes)', `PROXY TCP6 ${MAX_FF} ${MAX_FF} 65535 65535\r\n`, relayed(1, inet(MAX_FF, 65535), inet(MAX_FF, 65535))],
      ['IPv6 in upper case and in full, reported as Node writes it', 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:0:0:1 443 80\r\n', relayed(1, inet('2001:db8::1', 443), inet('::1', 80))],
      ['IPv6 groups with leading zeros (4 hex digits each, as the spec writes them)', 'PROXY TCP6 0001:0db8::0001 :: 1 2\r\n', relayed(1, inet('1:db8::1', 1), inet('::', 2))],
      ['IPv4-mapped IPv6 with a dotted tail', 'PROXY TCP6 ::ffff:192.0.2.1 ::FFFF:192.0.2.2 1 2\r\n', relayed(1, inet('::ffff:192.0.2.1', 1), inet('::ffff:192.0.2.2', 2))],
    ];
    for (const [title, text, header] of valid) {
      it(`parses ${title}, split anywhere, and hands back the payload after the CRLF`, () => {
        assertEverySplit(Buffer.concat([line(text), PAYLOAD]), { header, length: text.length });
      });
    }

    it('reads UNKNOWN alone as "use the real endpoints"', () => {
      assertEverySplit(Buffer.concat([line('PROXY UNKNOWN\r\n'), PAYLOAD]), { header: unattributed(1, 'proxy'), length: 15 });
    });

    it('ignores whatever follows UNKNOWN up to the CRLF, up to the 107-byte worst case', () => {
      const worst = `PROXY UNKNOWN ${MAX_FF} ${MAX_FF} 65535 65535\r\n`;
      assert.equal(worst.length, 107);
      assertEverySplit(Buffer.concat([line(worst), PAYLOAD]), { header: unattributed(1, 'proxy'), length: 107 });
      const junk = 'PROXY UNKNOWN \x00\xff anything at all TCP4 01.2.3.4\r\n';
      assertEverySplit(Buffer.concat([line(junk), PAYLOAD]), { header: unattributed(1, 'proxy'), length: junk.length });
    });

    it('stops at the first CRLF: a second PROXY line is payload', () => {
      const first = 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n';
      const stream = line(`${first}PROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n`);
      assertEverySplit(stream, { header: relayed(1, inet('1.2.3.4', 1), inet('5.6.7.8', 2)), length: first.length });
    });
  });

  describe('malformed lines', () => {
    const malformed: [string, string][] = [
      ['a lone LF ending the line', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
      ['a lone CR ending the line', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET'],
      ['a lone CR inside an UNKNOWN line', 'PROXY UNKNOWN a\rb\r\n'],
      ['a lone LF inside an UNKNOWN line', 'PROXY UNKNOWN a\nb\r\n'],
      ['CR CR LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n'],
      ['no space after PROXY', 'PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
      ['PROXY and nothing else', 'PROXY\r\n'],
      ['PROXY and a space', 'PROXY \r\n'],
      ['an unknown protocol', 'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'],
      ['a protocol in lower case', 'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'],
      ['UDP4, which v1 does not have', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
      ['UNKNOWN run into more letters', 'PROXY UNKNOWNX\r\n'],
      ['TCP4 with no fields', 'PROXY TCP4\r\n'],
      ['a missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
      ['a fifth field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'],
      ['a trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'],
      ['two spaces between fields', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'],
      ['a tab for a space', 'PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n'],
      ['a leading zero in the source address', 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'],
      ['a leading zero in the destination address', 'PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n'],
      ['a leading zero in the source port', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'],
      ['a leading zero in the destination port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n'],
      ['an octet above 255', 'PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n'],
      ['three octets', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n'],
      ['five octets', 'PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n'],
      ['an empty octet', 'PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n'],
      ['a port above 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'],
      ['a negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n'],
      ['a signed port', 'PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'],
      ['a six-digit port', 'PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n'],
      ['an IPv6 address on a TCP4 line', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n'],
      ['an IPv4 address on a TCP6 line', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n'],
      ['one address of each family', 'PROXY TCP6 ::1 1.2.3.4 1 2\r\n'],
      ['an IPv6 zone', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
      ['two double colons', 'PROXY TCP6 1::2::3 ::1 1 2\r\n'],
      ['nine IPv6 groups', 'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'],
      ['a five-digit IPv6 group', 'PROXY TCP6 12345::1 ::1 1 2\r\n'],
      ['a leading zero in a dotted IPv6 tail', 'PROXY TCP6 ::ffff:192.0.2.01 ::1 1 2\r\n'],
      ['a host name', 'PROXY TCP4 localhost 5.6.7.8 1 2\r\n'],
      ['a non-ASCII byte in a field', 'PROXY TCP4 1.2.3.4\xa05.6.7.8 1 2\r\n'],
    ];
    for (const [title, text] of malformed) {
      it(`rejects ${title} with SWB_ERR_PROXY_BAD_HEADER, split anywhere`, () => {
        assertEverySplit(Buffer.concat([line(text), PAYLOAD]), { code: 'SWB_ERR_PROXY_BAD_HEADER' });
      });
    }

    it('fails at the first byte that makes the line invalid, not at the CRLF', () => {
      const at = (text: string): number => failurePoint(line(text)).after;
      assert.equal(at('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'), 'PROXY TCP4 01'.length);
      assert.equal(at('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'PROXY TCP4 1.2.3.4 5.6.7.8 65536'.length);
      assert.equal(at('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), 'PROXY TCP5'.length);
      assert.equal(at('PROXYX'), 'PROXYX'.length);
      assert.equal(at('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET'), 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'.length);
      assert.equal(at('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET'), 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rG'.length);
      assert.equal(at('PROXY TCP4 1.2.3.4 ::1 1 2\r\n'), 'PROXY TCP4 1.2.3.4 :'.length);
    });
  });

  describe('length', () => {
    it('rejects a line with no CRLF within 107 bytes as soon as the 106th byte arrives', () => {
      const endless = line(`PROXY UNKNOWN ${'x'.repeat(300)}`);
      assertEverySplit(endless, { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE' });
      assert.deepEqual(failurePoint(endless), { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE', after: 106 });
    });

    it('rejects a 108-byte line, one more than the spec allows', () => {
      const long = `PROXY UNKNOWN ${MAX_FF} ${MAX_FF} 65535 655350\r\n`;
      assert.equal(long.length, 108);
      assertEverySplit(line(long), { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE' });
    });

    it('rejects a valid TCP6 line longer than 107 bytes (dotted tails at full length)', () => {
      const tail = 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255';
      assertEverySplit(line(`PROXY TCP6 ${tail} ${tail} 65535 65535\r\n`), { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE' });
    });

    it('holds v1 lines to maxHeaderBytes when that is shorter', () => {
      const text = 'PROXY TCP4 127.0.0.1 127.0.0.1 56208 18504\r\n';
      assertEverySplit(line(text), { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE' }, { maxHeaderBytes: text.length - 1 });
      assertEverySplit(line(text), { header: relayed(1, inet('127.0.0.1', 56208), inet('127.0.0.1', 18504)), length: text.length }, { maxHeaderBytes: text.length });
    });

    it('reports a line cut short as SWB_ERR_PROXY_TRUNCATED', () => {
      const text = line('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
      for (let length = 1; length < text.length; length++) {
        assertEverySplit(text.subarray(0, length), { code: 'SWB_ERR_PROXY_TRUNCATED' });
      }
    });
  });
});
