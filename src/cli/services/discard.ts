/** Discard (RFC 863): everything received is thrown away and nothing is ever sent. */
import type { ServiceDefinition } from './service.ts';

/** RFC 863 discard over TCP and UDP. */
export const discardService: ServiceDefinition = {
  name: 'discard',
  standardPort: 9,
  rfc: 863,
  // Without a `data` handler the session reads and drops its input, so the peer never blocks.
  create: () => ({ tcp: {}, udp: () => undefined }),
};
