/**
 * The TLS session-ticket keys a set of workers shares: made by the primary, given to every
 * worker (a respawned one included), and rotated on a schedule, so that a client resuming a
 * session lands on any worker and resumes. Node holds one ticket key per context, so a rotation
 * ends the tickets issued before it: those clients make one full handshake, then resume again.
 * The keys are also what an upgrade hands its successor ({@link ticketKeysForHandover}).
 */

import { InvalidOptionError } from '../core/errors.ts';
import { TICKET_KEYS_LENGTH } from '../tls/tls-options.ts';
import { nodeCrypto } from '../core/builtins.ts';

/** How often the shared keys are replaced by default: 12 hours (ms). */
export const DEFAULT_TICKET_KEY_ROTATION = 12 * 60 * 60 * 1000;


/** The keys as they travel (IPC, the upgrade's handover): base64, and when they were made. */
export interface TicketKeyState {
  /** 48 bytes, base64. */
  readonly keys: string;
  /**
   * When they were made, in ms of CLOCK_MONOTONIC ({@link monotonicMs}), which every process of
   * the machine shares: a successor rotates on the same schedule, and a step of the wall clock
   * changes nothing.
   */
  readonly createdAt: number;
}

/**
 * The shared keys and their rotation timer. `onRotate` gets every new set (the primary sends it
 * to each worker).
 */
export class TicketKeys {
  #state: TicketKeyState;
  readonly #rotation: number;
  readonly #onRotate: (state: TicketKeyState) => void;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param rotation ms between rotations
   * @param onRotate called with each new set
   * @param inherited the keys of a predecessor (an upgrade), kept until their rotation is due
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a bad rotation period
   */
  constructor(rotation: number, onRotate: (state: TicketKeyState) => void, inherited?: TicketKeyState, now = monotonicMs()) {
    if (!Number.isInteger(rotation) || rotation < 1_000 || rotation > 2 ** 31 - 1) throw new InvalidOptionError('ticketKeyRotation', 'must be an integer number of ms from 1000 to 2147483647', rotation);
    this.#rotation = rotation;
    this.#onRotate = onRotate;
    const fresh = inherited !== undefined && now - inherited.createdAt < rotation && decodeTicketKeys(inherited) !== undefined;
    this.#state = fresh ? inherited : newTicketKeys(now);
    this.#schedule(Math.max(0, this.#state.createdAt + rotation - now));
  }

  /** The keys in force. */
  get state(): TicketKeyState {
    return this.#state;
  }

  /** Replaces the keys now (and restarts the schedule); returns the new ones. */
  rotate(now = monotonicMs()): TicketKeyState {
    this.#state = newTicketKeys(now);
    this.#schedule(this.#rotation);
    this.#onRotate(this.#state);
    return this.#state;
  }

  /** Stops the rotation timer. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delay: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.rotate(), delay).unref();
  }
}

/** CLOCK_MONOTONIC in ms: the same clock in every process of the machine (not only this one's, as `performance.now()`). @internal */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** A new random set, made at `now`. */
export function newTicketKeys(now = monotonicMs()): TicketKeyState {
  return { keys: nodeCrypto().randomBytes(TICKET_KEYS_LENGTH).toString('base64'), createdAt: now };
}

/** The 48 bytes of `state`, or undefined when it is not a well-formed set. */
export function decodeTicketKeys(state: unknown): Buffer | undefined {
  if (typeof state !== 'object' || state === null) return undefined;
  const { keys, createdAt } = state as Partial<TicketKeyState>;
  if (typeof keys !== 'string' || typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return undefined;
  const bytes = Buffer.from(keys, 'base64');
  return bytes.length === TICKET_KEYS_LENGTH ? bytes : undefined;
}
