/**
 * A line-based chat room: every line a client sends goes to every other client, prefixed with
 * its name. `/nick NAME` renames, `/who` lists who is here, `/quit` leaves.
 *
 *   switchboard run examples/chat.ts --listen localhost:7000
 *   nc localhost 7000
 *
 * A client that stops reading is not allowed to make the server buffer without bound: once its
 * output is backed up, it is disconnected ("send queue exceeded", as IRC servers do).
 */
import { createLineCodec, type EventHandler, type EventSession, type FrameCodec, type FrameInput } from '../src/index.ts';

interface Member {
  name: string;
  readonly codec: FrameCodec<FrameInput, string>;
  /** The last write returned false and no `drain` came yet. */
  congested: boolean;
}

const members = new Map<EventSession, Member>();
let guests = 0;

function send(session: EventSession, member: Member, line: string): void {
  if (member.congested) {
    session.destroy(new Error('send queue exceeded'));
    return;
  }
  const bytes = member.codec.encode(line);
  for (const piece of [bytes].flat()) member.congested = !session.write(piece);
}

function broadcast(from: EventSession | undefined, line: string): void {
  for (const [session, member] of members) if (session !== from) send(session, member, line);
}

function command(session: EventSession, member: Member, line: string): void {
  const [verb, ...rest] = line.split(' ');
  const argument = rest.join(' ').trim();
  if (verb === '/nick' && /^[\w-]{1,20}$/.test(argument)) {
    broadcast(session, `* ${member.name} is now ${argument}`);
    member.name = argument;
    send(session, member, `* you are ${argument}`);
  } else if (verb === '/who') {
    send(session, member, `* here: ${[...members.values()].map((m) => m.name).join(', ')}`);
  } else if (verb === '/quit') {
    session.end();
  } else {
    send(session, member, '* commands: /nick NAME (letters, digits, _ and -; up to 20), /who, /quit');
  }
}

/** The chat room, as an event handler. */
const chat: EventHandler = {
  open(session) {
    const member: Member = { name: `guest-${++guests}`, codec: createLineCodec({ maxLineLength: 1024, newline: '\r\n' }), congested: false };
    members.set(session, member);
    send(session, member, `* welcome, ${member.name}; ${members.size - 1} other(s) here. /nick NAME to rename.`);
    broadcast(session, `* ${member.name} joined`);
  },
  data(session, chunk) {
    const member = members.get(session);
    if (!member) return;
    // A line over 1 KiB throws SWB_ERR_FRAME_TOO_LARGE, which ends this session only.
    member.codec.decode(chunk, (line) => {
      if (line.startsWith('/')) command(session, member, line);
      else if (line.trim() !== '') broadcast(session, `${member.name}: ${line}`);
    });
  },
  drain(session) {
    const member = members.get(session);
    if (member) member.congested = false;
  },
  close(session) {
    const member = members.get(session);
    members.delete(session);
    if (member) broadcast(undefined, `* ${member.name} left`);
  },
};

export default chat;
