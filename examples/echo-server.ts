/**
 * An echo server on localhost port 7007 — both loopbacks — that closes gracefully on Ctrl-C.
 * In a checkout: `node --conditions=switchboard-source examples/echo-server.ts` (the condition
 * makes `switchboard` this checkout's src/index.ts; installed, `import 'switchboard'` needs none).
 */
import { formatAddress, listenTcp } from 'switchboard';

const server = await listenTcp({ host: 'localhost', port: Number(process.env.PORT ?? 7007) }, {
  data(session, chunk) {
    session.write(chunk);
  },
});
for (const { address, port } of server.addresses) {
  console.log(`listening tcp ${formatAddress(address, port)} echo`);
}

const stop = async (): Promise<void> => {
  process.off('SIGINT', stop).off('SIGTERM', stop);
  process.once('SIGINT', () => void server.destroy()).once('SIGTERM', () => void server.destroy());
  await server.close({ timeout: 5000 });
  process.exitCode = 0;
};
process.once('SIGINT', stop).once('SIGTERM', stop);
