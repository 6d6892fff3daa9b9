/**
 * sd_notify messages as pure data: newline-separated `KEY=value` assignments, and the queue
 * rule that lets at most one `systemd-notify` run at a time without losing a state change.
 */
import { InvalidOptionError } from '../core/errors.ts';

/** One message: its assignments in order (`READY` -> `1`, `STATUS` -> `...`). */
export type NotifyMessage = Map<string, string>;

/** The keys that change the service's state; two of them never share a message, so their order holds. */
const STATE_KEYS = ['READY', 'RELOADING', 'STOPPING'] as const;

/**
 * A message from `assignments`, values made single-line (a newline would start another
 * assignment: `STATUS=x\nREADY=1` must not report readiness).
 * @throws InvalidOptionError for a key that is not upper case letters, digits and `_`
 * @example
 * notifyMessage({ READY: '1', STATUS: 'serving\n2 sessions' }); // Map { READY => '1', STATUS => 'serving 2 sessions' }
 */
export function notifyMessage(assignments: Readonly<Record<string, string>>): NotifyMessage {
  const message: NotifyMessage = new Map();
  for (const [key, value] of Object.entries(assignments)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new InvalidOptionError('notify key', 'must be upper case letters, digits and _', key);
    message.set(key, String(value).replace(/[\r\n\0]+/g, ' '));
  }
  return message;
}

/**
 * Queues `message` behind `queue`, merging it into the last queued message unless both change
 * the state (`READY=1` then `STOPPING=1` stay two messages, in order). Later values win
 * (`STATUS`), repeated pings count once (`WATCHDOG=1`): a burst while one is in flight costs
 * one more helper, not one per call.
 * @example
 * const queue: NotifyMessage[] = [];
 * enqueueNotification(queue, notifyMessage({ STATUS: 'a' }));
 * enqueueNotification(queue, notifyMessage({ WATCHDOG: '1', STATUS: 'b' })); // queue: one message, STATUS=b, WATCHDOG=1
 */
export function enqueueNotification(queue: NotifyMessage[], message: NotifyMessage): void {
  const last = queue.at(-1);
  if (last === undefined || (changesState(last) && changesState(message))) {
    queue.push(new Map(message));
    return;
  }
  for (const [key, value] of message) {
    last.delete(key); // a later value goes last, as it was said last
    last.set(key, value);
  }
}

/** The command-line form: `['READY=1', 'STATUS=serving']`. */
export function notifyArguments(message: NotifyMessage): string[] {
  return [...message].map(([key, value]) => `${key}=${value}`);
}

function changesState(message: NotifyMessage): boolean {
  return STATE_KEYS.some((key) => message.has(key));
}
