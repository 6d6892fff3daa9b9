/**
 * Variables a service manager sets for this process alone (`LISTEN_*`, `NOTIFY_SOCKET`,
 * `WATCHDOG_*`): read once, then removed from `process.env`, so that no child inherits them
 * (a child that saw `LISTEN_PID` could mistake our sockets for its own; one that saw
 * `NOTIFY_SOCKET` could report readiness for us). Later readers get the same first snapshot.
 */

const snapshots = new Map<string, Readonly<Record<string, string | undefined>>>();

/**
 * The values `names` had in `process.env` when first asked for; removes them from `process.env`
 * on that first call, whatever the values are (as `sd_listen_fds(unset_environment=1)` does).
 * @example
 * const { NOTIFY_SOCKET } = takeProcessEnvironment(['NOTIFY_SOCKET']);
 */
export function takeProcessEnvironment<Name extends string>(names: readonly Name[]): Readonly<Record<Name, string | undefined>> {
  const key = names.join('\0');
  let snapshot = snapshots.get(key);
  if (snapshot === undefined) {
    const values: Record<string, string | undefined> = {};
    for (const name of names) {
      values[name] = process.env[name];
      delete process.env[name];
    }
    snapshot = Object.freeze(values);
    snapshots.set(key, snapshot);
  }
  return snapshot as Readonly<Record<Name, string | undefined>>;
}
