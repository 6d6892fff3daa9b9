/**
 * The contract every bench server follows, kept in one place: take the port from
 * argv[2] or $PORT (0 = any free port), listen on 127.0.0.1, print exactly
 * `READY <port>` on stdout, and exit 0 on SIGTERM.
 */

/** The port a bench server was asked to listen on: argv[2], else $PORT, else 0. */
export function requestedPort(): number {
  const raw = process.argv[2] ?? process.env.PORT ?? '0';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${raw}`);
  }
  return port;
}

/** Tell the runner the server is listening; the runner waits for this exact line. */
export function announceReady(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

/**
 * Run `stop` on SIGTERM and exit 0 once it settles. A second SIGTERM, or `stop`
 * taking longer than `graceMs`, exits at once: the runner must never wait on a server.
 */
export function exitOnSigterm(stop: () => unknown, graceMs = 2000): void {
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) process.exit(0);
    stopping = true;
    setTimeout(() => process.exit(0), graceMs).unref();
    Promise.resolve()
      .then(stop)
      .catch(() => {})
      .finally(() => process.exit(0));
  });
}
