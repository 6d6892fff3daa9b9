/**
 * The built-in quotes of the qotd service: short, ASCII, attributed, all well under 512 characters.
 * Some are 56 bytes or less as sent, so that an empty UDP request, which may draw 56 bytes over
 * IPv4 (three times its 28 bytes on the wire, less the reply's own header), still gets a quote.
 */
export const BUILT_IN_QUOTES: readonly string[] = [
  '"Be conservative in what you do, be liberal in what you accept from others."\n    -- Jon Postel, RFC 761',
  '"We reject kings, presidents and voting. We believe in rough consensus and running code."\n    -- David Clark',
  '"The Net interprets censorship as damage and routes around it."\n    -- John Gilmore',
  '"There are two ways of constructing a software design: one way is to make it so simple that\nthere are obviously no deficiencies, and the other way is to make it so complicated that there\nare no obvious deficiencies."\n    -- C. A. R. Hoare',
  '"Simplicity is prerequisite for reliability."\n    -- Edsger W. Dijkstra',
  '"A distributed system is one in which the failure of a computer you didn\'t even know existed\ncan render your own computer unusable."\n    -- Leslie Lamport',
  '"The most important property of a program is whether it accomplishes the intention of its user."\n    -- C. A. R. Hoare',
  '"Premature optimization is the root of all evil."\n    -- Donald Knuth',
  '"Controlling complexity is the essence of computer programming."\n    -- Brian Kernighan',
  '"Write programs that do one thing and do it well. Write programs to work together."\n    -- Doug McIlroy',
  '"Don\'t communicate by sharing memory; share memory by communicating."\n    -- Rob Pike',
  '"It is easier to write an incorrect program than understand a correct one."\n    -- Alan Perlis',
  '"The purpose of computing is insight, not numbers."\n    -- Richard Hamming',
  '"Make it work, make it right, make it fast."\n    -- Kent Beck',
  '"Any sufficiently advanced technology is indistinguishable from magic."\n    -- Arthur C. Clarke',
  '"The best way to predict the future is to invent it."\n    -- Alan Kay',
  '"Worse is better."\n    -- Richard P. Gabriel',
  '"Plan to throw one away."\n    -- Fred Brooks',
  '"Data dominates."\n    -- Rob Pike',
  '"When in doubt, use brute force."\n    -- Ken Thompson',
];
