/**
 * The pending stage: every socket the kernel hands over is owned here from its `connection` event
 * until it becomes a session or closes. Between the two run the admission stages -- the `accept`
 * handler, then the TLS handshake; a PROXY header read would be another -- each an async step
 * with a deadline that may refuse the socket. A refused socket stays owned until its `close`, so
 * the ledger, `destroy()` and the close deadline see every socket (docs/lifecycle.md).
 *
 * A stage may also learn who the peer really is (the PROXY header): its handover then carries the
 * new ends, admission screens them and takes the per-address slot for them, and later stages and
 * the session see them.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SwitchboardError } from '../core/errors.ts';
import type { ServerTls } from '../tls/server-tls.ts';
import { PeriodicSweep, sweepPeriodFor } from '../server/periodic-sweep.ts';
import { RejectCause } from './reject-reason.ts';
import type { ConnectionInfo } from './connection-info.ts';
import { isThenable } from './tcp-handlers.ts';
import { reportListenerFailure } from '../server/server-lifecycle.ts';
import { releaseSocket, takeSocket, type SocketOwner } from './socket-owner.ts';

/**
 * What a stage decides: `undefined` passes the connection on; `{ socket }` passes it on over a
 * socket that replaces the one it was given (a `TLSSocket` over the accepted one: later stages
 * and the session get it, and destroying it closes the accepted socket too); a cause refuses
 * it, and `{ cause, error }` refuses it saying why in detail (the `rejected` event carries `error`).
 */
export type StageVerdict = RejectCause | undefined | StageHandover | StageRefusal;

/** A stage passes the connection on over a replacement socket (or the same one), and maybe with its real ends. @internal */
export interface StageHandover {
  readonly socket: Socket;
  /**
   * The connection's ends as the stage learnt them (the client a PROXY header names): admission
   * checks them and counts the connection under their address from here on.
   */
  readonly info?: ConnectionInfo;
  /**
   * Set by a stage that read the socket in flowing mode and left it flowing (the PROXY header):
   * the bytes it read past its own part (maybe none), which the next reader must get first. With
   * no stage after it they go to the session as its first data, after its `open` handler, with no
   * pause, buffer round trip or extra tick; before a later stage the socket is paused and they are
   * put back into it (`unshift`), so that stage (the TLS engine) reads them first.
   */
  readonly unread?: Buffer;
}

/** A stage refuses the connection, with the error that says why. @internal */
export interface StageRefusal {
  readonly cause: RejectCause;
  readonly error: SwitchboardError;
}

/**
 * One step between accept and open. A stage is added by appending it to the server's list: it
 * runs once the stages before it have passed the connection, may take up to `timeout` ms, and is
 * told to stop through its signal when the connection stops waiting for it (its deadline, a reset,
 * the server closing). Whatever it returns after that is ignored. @internal
 */
export interface PendingStage {
  /** Names the stage in failure reports: `accept handler`. */
  readonly name: string;
  /** How long the step may take, in ms (measured on the monotonic clock); 0 means no deadline. */
  readonly timeout: number;
  /** The refusal once `timeout` has passed. */
  readonly timeoutReason: RejectCause;
  /** The refusal when the step throws or rejects (the failure is reported first). */
  readonly failureReason: RejectCause;
  /** The error a `timeoutReason` refusal carries, if any. */
  timeoutError?(info: ConnectionInfo): SwitchboardError;
  /**
   * Runs the step for one connection. `socket` is the connection's socket as the stages before
   * handed it on; a stage that works on it must stop when `signal` aborts and must never destroy
   * a socket it did not make (the pending stage closes the connection through the last socket
   * handed on).
   */
  run?(info: ConnectionInfo, signal: AbortSignal, socket: Socket): StageVerdict | PromiseLike<StageVerdict>;
  /**
   * Instead of `run`: starts the step for one connection and answers at once, or returns
   * {@link STAGE_DEFERRED} and answers later through `ticket.settle`. A stage that reads from the
   * socket and leaves it paused has it resumed as the connection is handed to its session.
   */
  start?(ticket: StageTicket): StageVerdict | typeof STAGE_DEFERRED;
  /** A deferred `start` is abandoned: the connection stopped waiting (deadline, reset, server closing). */
  stop?(ticket: StageTicket): void;
  /** The peer sent FIN while a deferred `start` waits (a stage that reads: the PROXY header). */
  ended?(ticket: StageTicket): void;
}

/**
 * A connection waiting on a stage that answers through it rather than through a promise (the
 * PROXY header read): the stage's `start` returns {@link STAGE_DEFERRED}, then calls `settle`
 * once, from whatever event completes the step, and the next stage runs in that same call. No
 * promise, no abort signal: if the connection stops waiting first, the stage's `stop` is called
 * instead, and a later `settle` is ignored. @internal
 */
export interface StageTicket {
  /** The connection's ends as the stages before it left them. */
  readonly info: ConnectionInfo;
  /** The connection's socket as the stages before it handed it on. */
  readonly socket: Socket;
  /** The stage's answer, as `run`'s verdict would be; ignored once the connection stopped waiting. */
  settle(verdict: StageVerdict): void;
  /** The running stage's own state for this connection (the header read), found again from the socket through {@link ownerOf}. */
  stageState: unknown;
}

/** What a stage's `start` returns when it will answer later through its {@link StageTicket}. @internal */
export const STAGE_DEFERRED: unique symbol = Symbol('switchboard.stage-deferred');

/** What the pending stage needs from its server. @internal */
export interface PendingHost {
  /** The last check as the stages pass a connection (server closing, suspended, a new deny rule). */
  recheck(info: ConnectionInfo): RejectCause | undefined;
  /**
   * A stage learnt the connection's real ends: check them (the lists) and take the per-address
   * slot for their address (giving back the one held under `previous`, if any); a refusal takes nothing.
   */
  readmit(info: ConnectionInfo, previous: ConnectionInfo | undefined): RejectCause | undefined;
  /**
   * Every stage passed: from this call on the socket belongs to a session. `unread`: bytes a
   * stage read past its part, to reach the session before anything else the socket reads.
   */
  open(socket: Socket, info: ConnectionInfo, unread: Buffer | undefined): void;
  /** A connection was refused; `reserved` says whether it held a per-address slot (under `info.remoteAddress`) to give back; `error` is what failed, if anything did. */
  refused(info: ConnectionInfo, reason: RejectCause, reserved: boolean, error?: SwitchboardError): void;
  /** A socket owned here (one that never became a session) has closed. */
  closed(): void;
  /** A stage threw or rejected: report it, and return the error the refusal carries. */
  failed(stage: PendingStage, info: ConnectionInfo, error: unknown): SwitchboardError;
  /** The bytes to write to a peer refused for `reason` before the close, if any. */
  busyMessageFor(reason: RejectCause): Buffer | undefined;
}

/**
 * One socket owned by the pending stage: waiting on a stage, or refused and closing. It owns the
 * accepted socket through the listeners its session inherits (src/tcp/socket-owner.ts).
 */
class PendingConnection implements StageTicket, SocketOwner {
  /** The socket as accepted: ownership listens for its `close`. */
  readonly accepted: Socket;
  /** The socket the stages hand on: the accepted one, or a stage's replacement (TLS). */
  socket: Socket;
  info: ConnectionInfo;
  readonly owner: PendingConnections;
  /** Set while a stage is running asynchronously: the stage's own controller. */
  controller: AbortController | undefined;
  /** Set while a stage started with `start` answers later through this ticket. */
  deferred = false;
  /** Which stage is running. */
  stage = 0;
  /** When the running stage started (performance.now()). */
  startedAt = 0;
  /** Whether the connection still waits on the stages, holding a slot in the limits. */
  waiting: boolean;
  /** Whether it is counted under `info.remoteAddress` (not yet, for a connection whose client a stage will name). */
  holdsAddress: boolean;
  /** What the last stage to pass it read past its part, with the socket left flowing (see {@link StageHandover.unread}). */
  unread: Buffer | undefined = undefined;
  stageState: unknown = undefined;
  /** Whether it is still owned here (in the owner's list). */
  owned = true;
  /** Its neighbours in the owner's list of owned sockets, in the order they were accepted. */
  previous: PendingConnection | undefined = undefined;
  next: PendingConnection | undefined = undefined;

  constructor(owner: PendingConnections, socket: Socket, info: ConnectionInfo, waiting: boolean, holdsAddress: boolean) {
    this.owner = owner;
    this.accepted = socket;
    this.socket = socket;
    this.info = info;
    this.waiting = waiting;
    this.holdsAddress = holdsAddress;
  }

  settle(verdict: StageVerdict): void {
    this.owner.settled(this, verdict);
  }

  /** A reset while pending is heard here; its close says so. */
  socketError(): void {}

  socketEnded(): void {
    if (this.deferred && this.waiting) this.owner.ended(this);
  }

  socketClosed(): void {
    if (this.owned) this.owner.socketClosed(this);
  }
}

/** Owns every accepted socket that is not a session: the stages it waits on, or its refusal. @internal */
export class PendingConnections {
  readonly #stages: readonly PendingStage[];
  readonly #host: PendingHost;
  // The sockets owned here, as a list threaded through them (first accepted first): owning one is
  // two field writes, with no hash table that grows and shrinks as connections come and go.
  #first: PendingConnection | undefined = undefined;
  #last: PendingConnection | undefined = undefined;
  #size = 0;
  #waiting = 0;
  readonly #sweep: PeriodicSweep | undefined;
  #emptyWaiters: (() => void)[] = [];

  constructor(stages: readonly PendingStage[], host: PendingHost) {
    this.#stages = stages;
    this.#host = host;
    const deadlines = stages.map((stage) => stage.timeout).filter((ms) => ms > 0);
    if (deadlines.length > 0) this.#sweep = new PeriodicSweep(sweepPeriodFor(Math.min(...deadlines)), (now) => this.#expire(now));
  }

  /** Sockets owned here: waiting on a stage, or refused and not closed yet. */
  get size(): number {
    return this.#size;
  }

  /** Connections waiting on a stage; each holds a slot in `maxConnections` and the per-address count. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Takes a connection that was given a slot in the limits through the stages, then opens it
   * (or refuses it, giving the slot back). With no stage it opens at once. `holdsAddress` false:
   * it is not counted under its address yet (a stage will name the real client).
   */
  admit(socket: Socket, info: ConnectionInfo, holdsAddress = true): void {
    if (this.#stages.length === 0) return this.#host.open(socket, info, undefined);
    const connection = this.#own(socket, info, true, holdsAddress);
    this.#waiting++;
    this.#run(connection, 0);
  }

  /** Refuses a connection as it arrives (it holds no slot); its socket is owned here until it closes. */
  refuse(socket: Socket, info: ConnectionInfo, reason: RejectCause): void {
    this.#own(socket, info, false, false);
    this.#close(socket, reason);
    this.#host.refused(info, reason, false);
  }

  /**
   * Refuses every connection still waiting on a stage and destroys every socket owned here. Every
   * socket is destroyed before any `rejected` event is emitted, and a listener that throws is
   * reported, so the server's close always completes.
   */
  destroyAll(reason: RejectCause): void {
    const refused: PendingConnection[] = [];
    for (const connection of this.#snapshot()) {
      if (connection.waiting) {
        this.#stopWaiting(connection, reason);
        refused.push(connection);
      }
      connection.socket.destroy();
    }
    for (const connection of refused) {
      try {
        this.#host.refused(connection.info, reason, connection.holdsAddress);
      } catch (error) {
        reportListenerFailure('rejected', error);
      }
    }
  }

  /** Resolves once no socket is owned here. */
  empty(): Promise<void> {
    if (this.#size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.push(resolve));
  }

  /** The 'close' of a socket owned here: the ledger first, then (for a reset while waiting) the `rejected` event. @internal */
  socketClosed(connection: PendingConnection): void {
    const waiting = connection.waiting;
    if (waiting) this.#stopWaiting(connection, RejectCause.PEER_GONE);
    this.#disown(connection);
    this.#host.closed();
    if (waiting) this.#host.refused(connection.info, RejectCause.PEER_GONE, connection.holdsAddress);
  }

  /** The peer sent FIN while a deferred stage waits: the stage hears it. @internal */
  ended(connection: PendingConnection): void {
    this.#stages[connection.stage]!.ended?.(connection);
  }

  /** A deferred stage answered through its ticket: the next stages run now, in this call. @internal */
  settled(connection: PendingConnection, verdict: StageVerdict): void {
    if (!connection.deferred || !connection.waiting) return;
    connection.deferred = false;
    if (this.#passes(connection, verdict)) this.#run(connection, connection.stage + 1);
  }

  #own(socket: Socket, info: ConnectionInfo, waiting: boolean, holdsAddress: boolean): PendingConnection {
    const connection = new PendingConnection(this, socket, info, waiting, holdsAddress);
    takeSocket(socket, connection);
    const last = this.#last;
    connection.previous = last;
    if (last === undefined) this.#first = connection;
    else last.next = connection;
    this.#last = connection;
    this.#size++;
    return connection;
  }

  /** The sockets owned now, in a list of their own: walked while the events it causes may disown any of them. */
  #snapshot(): PendingConnection[] {
    const owned: PendingConnection[] = [];
    for (let connection = this.#first; connection !== undefined; connection = connection.next) owned.push(connection);
    return owned;
  }

  /**
   * The socket is owned here no more. One that closed, or goes to its session as it was accepted,
   * keeps its listeners (the session takes them over at once); an accepted socket a stage wrapped
   * (TLS) lets them go, since its session owns the wrapper.
   */
  #disown(connection: PendingConnection): void {
    connection.owned = false;
    if (connection.socket !== connection.accepted) releaseSocket(connection.accepted);
    const { previous, next } = connection;
    if (previous === undefined) this.#first = next;
    else previous.next = next;
    if (next === undefined) this.#last = previous;
    else next.previous = previous;
    connection.previous = connection.next = undefined;
    // Nearly every connection of a steady stream empties the stage as it passes. The sweep stops
    // itself at its next tick once nothing waits on a deadline (stopping it here would restart a
    // timer per connection), and empty() has a waiter only while a server closes.
    if (--this.#size > 0 || this.#emptyWaiters.length === 0) return;
    const waiters = this.#emptyWaiters;
    this.#emptyWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Runs the stages from `index` on, synchronously as far as they answer synchronously. */
  #run(connection: PendingConnection, index: number): void {
    const stages = this.#stages;
    for (; index < stages.length; index++) {
      const stage = stages[index]!;
      // A stage before this one left the socket flowing: it waits, paused, with those bytes in front.
      if (connection.unread !== undefined) putBack(connection);
      if (stage.start !== undefined) {
        connection.stage = index;
        let answer: StageVerdict | typeof STAGE_DEFERRED;
        try {
          answer = stage.start(connection);
        } catch (error) {
          if (connection.waiting) this.#failed(connection, stage, error);
          return;
        }
        if (!connection.waiting) return;
        if (answer === STAGE_DEFERRED) {
          connection.deferred = true;
          connection.startedAt = performance.now();
          if (stage.timeout > 0) this.#sweep!.start();
          return;
        }
        if (!this.#passes(connection, answer)) return;
        continue;
      }
      const controller = new AbortController();
      connection.stage = index;
      connection.controller = controller;
      let verdict: StageVerdict | PromiseLike<StageVerdict>;
      try {
        verdict = stage.run!(connection.info, controller.signal, connection.socket);
      } catch (error) {
        if (!controller.signal.aborted) this.#failed(connection, stage, error);
        return;
      }
      // The stage itself may have ended the wait (a handler that called server.close()).
      if (controller.signal.aborted) return;
      if (isThenable(verdict)) {
        connection.startedAt = performance.now();
        if (stage.timeout > 0) this.#sweep!.start();
        verdict.then(
          (answer) => this.#answered(connection, controller, index, answer),
          (error: unknown) => {
            if (!controller.signal.aborted) this.#failed(connection, stage, error);
          },
        );
        return;
      }
      connection.controller = undefined;
      if (!this.#passes(connection, verdict)) return;
    }
    this.#pass(connection);
  }

  #answered(connection: PendingConnection, controller: AbortController, index: number, verdict: StageVerdict): void {
    if (controller.signal.aborted) return; // the connection stopped waiting: the answer is moot
    connection.controller = undefined;
    if (this.#passes(connection, verdict)) this.#run(connection, index + 1);
  }

  /** Applies a stage's verdict: true when the connection goes on to the next stage. */
  #passes(connection: PendingConnection, verdict: StageVerdict): boolean {
    if (verdict === undefined) return true;
    if (typeof verdict === 'string') this.#refuseWaiting(connection, verdict);
    else if ('socket' in verdict) {
      connection.socket = verdict.socket;
      connection.unread = verdict.unread;
      if (verdict.info === undefined) return true;
      const previous = connection.holdsAddress ? connection.info : undefined;
      connection.info = verdict.info;
      connection.holdsAddress = false;
      const refused = this.#host.readmit(verdict.info, previous);
      if (refused === undefined) {
        connection.holdsAddress = true;
        return true;
      }
      this.#refuseWaiting(connection, refused);
    } else this.#refuseWaiting(connection, verdict.cause, verdict.error);
    return false;
  }

  #failed(connection: PendingConnection, stage: PendingStage, error: unknown): void {
    const failure = this.#host.failed(stage, connection.info, error);
    if (connection.waiting) this.#refuseWaiting(connection, stage.failureReason, failure);
  }

  /** Every stage passed: one last check, then the socket is handed to its session. */
  #pass(connection: PendingConnection): void {
    const refused = this.#host.recheck(connection.info);
    if (refused !== undefined) return this.#refuseWaiting(connection, refused);
    connection.waiting = false;
    this.#waiting--;
    this.#disown(connection);
    const socket = connection.socket;
    const unread = connection.unread;
    connection.unread = undefined;
    // A stage that read the socket and left it paused (its bytes after the header still buffered,
    // a later stage waited): flowing again from here, the session's reader gets them first.
    if (unread === undefined && socket.isPaused()) socket.resume();
    this.#host.open(socket, connection.info, unread);
  }

  #refuseWaiting(connection: PendingConnection, reason: RejectCause, error?: SwitchboardError): void {
    this.#stopWaiting(connection, reason);
    this.#host.refused(connection.info, reason, connection.holdsAddress, error);
  }

  /** The connection waits no longer: its stage is told to stop and its socket is closed. */
  #stopWaiting(connection: PendingConnection, reason: RejectCause): void {
    connection.waiting = false;
    this.#waiting--;
    const controller = connection.controller;
    connection.controller = undefined;
    controller?.abort(reason);
    if (connection.deferred) {
      connection.deferred = false;
      this.#stages[connection.stage]!.stop?.(connection);
    }
    if (!connection.socket.destroyed) this.#close(connection.socket, reason);
  }

  #close(socket: Socket, reason: RejectCause): void {
    const busy = this.#host.busyMessageFor(reason);
    // The message fits the send buffer of a fresh socket, so 'finish' comes at once.
    if (busy && !socket.destroyed) socket.end(busy, () => socket.destroy());
    else socket.destroy();
  }

  #expire(now: number): void {
    let timed = false;
    for (const connection of this.#snapshot()) {
      if (!connection.waiting || (connection.controller === undefined && !connection.deferred)) continue;
      const stage = this.#stages[connection.stage]!;
      if (stage.timeout === 0) continue;
      if (now - connection.startedAt >= stage.timeout) this.#refuseWaiting(connection, stage.timeoutReason, stage.timeoutError?.(connection.info));
      else timed = true;
    }
    if (!timed) this.#sweep!.stop();
  }
}

/** The socket waits for a later stage: paused, with what the last stage read past its part back in front. */
function putBack(connection: PendingConnection): void {
  const unread = connection.unread!;
  connection.unread = undefined;
  const socket = connection.socket;
  socket.pause();
  if (unread.length > 0) socket.unshift(unread);
}

/**
 * The `accept` handler as a stage: `false` refuses (`accept-hook`), anything else passes; a throw
 * or rejection refuses and is reported; past `timeout` ms the connection is refused
 * (`accept-timeout`) and `signal` aborts. @internal
 */
export function acceptHandlerStage(
  accept: (info: ConnectionInfo, signal: AbortSignal) => unknown,
  receiver: unknown,
  timeout: number,
): PendingStage {
  const judge = (answer: unknown): StageVerdict => (answer === false ? RejectCause.ACCEPT_HOOK : undefined);
  return {
    name: 'accept handler',
    timeout,
    timeoutReason: RejectCause.ACCEPT_TIMEOUT,
    failureReason: RejectCause.ACCEPT_HOOK,
    run(info, signal) {
      const answer = accept.call(receiver, info, signal);
      return isThenable(answer) ? answer.then(judge) : judge(answer);
    },
  };
}

/**
 * The TLS handshake as a stage (implicit TLS): passes the connection on over its `TLSSocket`, or
 * refuses it (`tls-handshake`, the `TlsHandshakeError` as `error`) once the handshake has failed
 * and closed it. Its deadline is the handshake's own (`tls.handshakeTimeout`), which closes the
 * connection, so the stage sets none; the server closing aborts it through `signal`. @internal
 */
export function tlsHandshakeStage(tls: ServerTls): PendingStage {
  return {
    name: 'TLS handshake',
    timeout: 0,
    timeoutReason: RejectCause.TLS_HANDSHAKE,
    failureReason: RejectCause.TLS_HANDSHAKE,
    run(_info, signal, socket) {
      return new Promise<StageVerdict>((resolve) => {
        // The refusal is known before the sockets close: heard then, it is `tls-handshake`, not `peer-gone`.
        const failed = (error: SwitchboardError): void => resolve({ cause: RejectCause.TLS_HANDSHAKE, error });
        tls.handshake(socket, signal, failed).then((secure) => resolve({ socket: secure }), () => {});
      });
    },
  };
}
