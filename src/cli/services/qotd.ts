/**
 * Quote of the Day (RFC 865): a short message, under 512 characters, chosen at random per
 * connection or datagram. Quotes come from a built-in set or a file (`--quotes FILE`).
 */
import { randomInt } from 'node:crypto';
import { BUILT_IN_QUOTES } from './quotes.ts';
import type { ServiceDefinition } from './service.ts';

/** RFC 865's bound on a quote, in characters. */
export const MAX_QUOTE_LENGTH = 512;

/** A quote as sent: lines joined with CRLF and a final CRLF. */
export function formatQuote(quote: string): string {
  return `${quote.trim().split(/\r?\n/).join('\r\n')}\r\n`;
}

/**
 * Splits a quotes file into quotes: separated by lines holding only `%` (the fortune format) or,
 * when there are none, by blank lines.
 * @returns the quotes, and the 1-based numbers of any too long to send (>= 512 characters)
 */
export function parseQuotes(text: string): { quotes: string[]; tooLong: number[] } {
  const normalized = text.replace(/\r\n?/g, '\n');
  const separator = /^%$/m.test(normalized) ? /^%$/m : /\n\s*\n/;
  const quotes = normalized
    .split(separator)
    .map((quote) => quote.replace(/^\n+|\s+$/g, ''))
    .filter((quote) => quote.trim() !== '');
  const tooLong = quotes.flatMap((quote, index) => (formatQuote(quote).length >= MAX_QUOTE_LENGTH ? [index + 1] : []));
  return { quotes, tooLong };
}

/**
 * RFC 865 qotd: TCP sends a quote and closes; UDP answers any datagram with one that fits the
 * request's amplification limit, chosen at random among those that do. When none fits, it offers
 * one anyway: the server refuses it, and the refusal is counted and logged (`amplification`).
 */
export const qotdService: ServiceDefinition = {
  name: 'qotd',
  standardPort: 17,
  rfc: 865,
  create: (config) => {
    const quotes = (config.quotes ?? BUILT_IN_QUOTES).map((quote) => Buffer.from(formatQuote(quote)));
    const shortestFirst = [...quotes].sort((a, b) => a.length - b.length);
    const pick = (): Buffer => quotes[randomInt(quotes.length)] ?? Buffer.alloc(0);
    return {
      tcp: {
        open(session) {
          session.write(pick());
          session.end();
        },
      },
      udp: (_request, room = Infinity) => {
        let fitting = 0;
        while (fitting < shortestFirst.length && shortestFirst[fitting]!.length <= room) fitting++;
        return fitting === 0 ? pick() : shortestFirst[randomInt(fitting)];
      },
    };
  },
};
