// Bun peer for the native-transport comparison (issue 17): Bun.listen (uSockets underneath)
// echoing every chunk, under the bench server contract (port in argv[2], 127.0.0.1, `READY <port>`,
// exit 0 on SIGTERM). Bytes the socket does not take are kept and sent on `drain`.
/* global Bun */
const pending = new Map();

const server = Bun.listen({
  hostname: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  socket: {
    data(socket, chunk) {
      const queued = pending.get(socket);
      if (queued) {
        pending.set(socket, Buffer.concat([queued, chunk]));
        return;
      }
      const written = socket.write(chunk);
      if (written < chunk.length) pending.set(socket, Buffer.from(chunk.subarray(written)));
    },
    drain(socket) {
      const queued = pending.get(socket);
      if (!queued) return;
      const written = socket.write(queued);
      if (written < queued.length) pending.set(socket, queued.subarray(written));
      else pending.delete(socket);
    },
    close(socket) {
      pending.delete(socket);
    },
    error() {},
  },
});
process.stdout.write(`READY ${server.port}\n`);
process.on('SIGTERM', () => {
  server.stop(true);
  process.exit(0);
});
