/**
 * A client for examples/chat.ts: lines you type go to the room, the room's lines are printed.
 * It is the server's own machinery from the other end — `connectTcp` with the same `framed()`
 * line codec, so a line over 1 KiB from the server ends the session here just as one from a
 * client ends it there.
 *
 *   switchboard run examples/chat.ts --listen localhost:7000
 *   node --conditions=switchboard-source examples/chat-client.ts localhost 7000
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connectTcp, createLineCodec, framed, type FramedEventSession } from 'switchboard';

/** A connection to the room, as a framed session: `send(line)` to speak, `end()` to leave. */
export type ChatConnection = FramedEventSession<string, string>;

/**
 * Joins the room at `host`:`port`; every line from the room goes to `print`, then one saying
 * why the connection ended. `host` may be a name: every address is tried (Happy Eyeballs).
 */
export function joinChat(host: string, port: number, print: (line: string) => void): Promise<ChatConnection> {
  return connectTcp({ host, port, noDelay: true, timeout: 10_000 }, framed(() => createLineCodec({ maxLineLength: 1024, newline: '\r\n' }), {
    frame(_session, line) {
      print(line);
    },
    close(_session, reason) {
      print(`* disconnected (${reason.cause}${reason.error ? `: ${reason.error.message}` : ''})`);
    },
  }));
}

// Run as a program: stdin to the room, the room to stdout; end of input leaves the room.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [host = 'localhost', port = '7000'] = process.argv.slice(2);
  try {
    const room = await joinChat(host, Number(port), (line) => console.log(line));
    const input = createInterface({ input: process.stdin });
    input.on('line', (line) => room.send(line));
    input.on('close', () => room.end());
    await room.closed;
    input.close();
  } catch (error) {
    console.error(`chat-client: ${(error as Error).message}`); // dial tcp 127.0.0.1:7000: connection refused (ECONNREFUSED)
    process.exitCode = 1;
  }
}
