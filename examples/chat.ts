/**
 * A line-based chat room: every line a client sends goes to every other client, prefixed with
 * its name. `/nick NAME` renames, `/who` lists who is here, `/quit` leaves.
 *
 *   switchboard run examples/chat.ts --listen localhost:7000
 *   nc localhost 7000
 *
 * What `switchboard run` takes from this module: the handler (the default export), server
 * options (`options`, under the command's flags), and `setup(server)`, called once each server
 * listens — here to keep the servers, whose `broadcast` sends a line to everyone.
 */
import { createLineCodec, framed, type FramedEventSession, type TcpServer, type TcpServerOptions } from 'switchboard';

type Member = FramedEventSession<string, string>;

/**
 * A client that stops reading may not make the server buffer for it without bound: once 64 KiB
 * of output wait for it, it is disconnected (`SWB_ERR_OUTPUT_OVERFLOW`), as IRC servers end a
 * client whose send queue is exceeded. Lines go out at once, not held back by Nagle.
 */
export const options: TcpServerOptions = { maxBufferedOutput: 64 * 1024, noDelay: true };

/** The servers serving the room: one per port given to `--listen`. */
const servers = new Set<TcpServer>();

export function setup(server: TcpServer): void {
  servers.add(server);
}

const names = new Map<Member, string>();
let guests = 0;
const lines = createLineCodec({ maxLineLength: 1024, newline: '\r\n' });

/** To every member but `sender` (server.broadcast reaches everyone unless told whom to skip). */
function broadcast(sender: Member, line: string): void {
  const bytes = lines.encode(line);
  for (const server of servers) server.broadcast(bytes, { except: sender });
}

function command(session: Member, name: string, line: string): void {
  const [verb, ...rest] = line.split(' ');
  const argument = rest.join(' ').trim();
  if (verb === '/nick' && /^[\w-]{1,20}$/.test(argument)) {
    broadcast(session, `* ${name} is now ${argument}`);
    names.set(session, argument);
    session.send(`* you are ${argument}`);
  } else if (verb === '/who') {
    session.send(`* here: ${[...names.values()].join(', ')}`);
  } else if (verb === '/quit') {
    session.end();
  } else {
    session.send('* commands: /nick NAME (letters, digits, _ and -; up to 20), /who, /quit');
  }
}

/**
 * The chat room: one line codec per session. A line over 1 KiB, or one that is not UTF-8, ends
 * that session only (`SWB_ERR_FRAME_TOO_LARGE`, `SWB_ERR_BAD_FRAME`), after telling it why.
 */
export default framed(() => createLineCodec({ maxLineLength: 1024, newline: '\r\n' }), {
  open(session) {
    const name = `guest-${++guests}`;
    names.set(session, name);
    session.send(`* welcome, ${name}; ${names.size - 1} other(s) here. /nick NAME to rename.`);
    broadcast(session, `* ${name} joined`);
  },
  frame(session, line) {
    const name = names.get(session)!;
    if (line.startsWith('/')) command(session, name, line);
    else if (line.trim() !== '') broadcast(session, `${name}: ${line}`);
  },
  close(session) {
    const name = names.get(session);
    names.delete(session);
    if (name !== undefined) broadcast(session, `* ${name} left`);
  },
}, {
  onCodecError: (error) => (error.code === 'SWB_ERR_FRAME_TOO_LARGE' ? '* line too long (1 KiB at most), bye' : '* not UTF-8, bye'),
});
