/** The event handler `exec` serves: one {@link ChildLink} per session. */
import type { TcpEventHandler, EventSession } from '../../index.ts';
import type { Logger } from '../logger.ts';
import { ChildLink, type ExecProgram } from './child-link.ts';
import type { ChildProcesses } from './children.ts';

/** Runs `command` for every session; children left behind by a closed connection get `graceMs` after SIGTERM. */
export function createExecHandler(command: ExecProgram, children: ChildProcesses, log: Logger, graceMs: number): TcpEventHandler {
  const links = new WeakMap<EventSession, ChildLink>();
  return {
    open(session) {
      links.set(session, new ChildLink(session, command, children, log));
    },
    data(session, chunk) {
      links.get(session)?.fromPeer(chunk);
    },
    drain(session) {
      links.get(session)?.resumeOutput();
    },
    end(session) {
      links.get(session)?.peerEnded();
    },
    close(session) {
      links.get(session)?.connectionClosed(children, graceMs);
    },
  };
}
