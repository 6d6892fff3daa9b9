/**
 * Echo (RFC 862): every byte received is sent back. TCP honours backpressure both ways: reading
 * pauses while the peer is not reading our output.
 */
import type { ServiceDefinition } from './service.ts';

/** RFC 862 echo over TCP and UDP. */
export const echoService: ServiceDefinition = {
  name: 'echo',
  standardPort: 7,
  rfc: 862,
  create: () => ({
    tcp: {
      data(session, chunk) {
        if (!session.write(chunk)) session.pause();
      },
      drain(session) {
        session.resume();
      },
    },
    udp: (request) => request,
  }),
};
