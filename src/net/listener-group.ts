/**
 * Binds one socket per listen target, all or nothing, for any transport: the CE procedure's
 * steps 2-4 with Switchboard's group rules (one shared port for port 0, rollback on failure,
 * an unsupported family skipped only for wildcards and names).
 */
import { hostHasIPv6, resolveListenTargets, type AddressFamily, type HostSpec, type ListenTarget, type LookupFunction } from './addresses.ts';
import { ErrorCode, ListenError, OpError, SwitchboardError, opErrorFromSystem, type Transport } from '../core/errors.ts';

/**
 * Where an adopted socket came from: `systemd` -- the service manager passed it (the `systemd`
 * option); `passed` -- an fd already open in this process (the `fds` option: an upgrade's
 * predecessor, a supervisor, or the caller's own).
 */
export type SocketOrigin = 'systemd' | 'passed';

/** A bound address as the server reports it in `server.addresses`. */
export interface BoundAddress {
  readonly address: string;
  readonly port: number;
  readonly family: AddressFamily;
  readonly transport: Transport;
  /** Where an adopted socket came from (the `systemd` or `fds` option); absent for one the server bound. */
  readonly origin?: SocketOrigin;
  /** The passed fd, for an adopted socket. */
  readonly fd?: number;
  /** The name the manager gave that fd (`FileDescriptorName=`, `--fdname`; `unknown` when none), for `origin: 'systemd'`. */
  readonly fdName?: string;
}

/** The address a socket bound for `target` on `port` reports. */
export function boundAddressOf(target: ListenTarget, port: number, transport: Transport): BoundAddress {
  return { address: target.host, port, family: target.family, transport };
}

/** How one transport binds and closes its sockets. */
export interface SocketBinder<Handle> {
  readonly transport: Transport;
  /**
   * Binds one socket; resolves with the handle and the port actually bound. Rejects with the
   * system error. A server adopts the socket inside this step (before it resolves), so that no
   * connection or close can fall between the bind and the server knowing its socket.
   */
  bind(target: ListenTarget, port: number): Promise<{ handle: Handle; port: number }>;
  /** Closes a socket bound by `bind` (used to roll back a failed group). */
  close(handle: Handle): Promise<void>;
}

/** A socket of the group together with its address. */
export interface BoundSocket<Handle> {
  readonly handle: Handle;
  readonly target: ListenTarget;
  readonly address: BoundAddress;
}

/** Group-binding knobs. */
export interface BindGroupOptions {
  /** Called for each address skipped on a host that lacks its family (`SWB_ERR_IPV6_UNAVAILABLE`). */
  readonly onSkip?: (target: ListenTarget, warning: SwitchboardError) => void;
  /** How often a port-0 group retries when the shared port collides. @default 8 */
  readonly maxPortAttempts?: number;
  /** Override for tests; the default looks at the host's interfaces. */
  readonly hasIPv6?: boolean;
}

/**
 * Resolves what to listen on for a server's `listen()`: like {@link resolveListenTargets}, but a
 * name that does not resolve is a {@link ListenError} too, so `listen()` rejects with one class.
 */
export async function resolveGroupTargets(
  spec: HostSpec,
  transport: Transport,
  options: { readonly ipv6Only?: boolean | undefined; readonly lookup?: LookupFunction | undefined; readonly port?: number },
): Promise<ListenTarget[]> {
  try {
    return await resolveListenTargets(spec, transport, options);
  } catch (error) {
    throw error instanceof OpError ? new ListenError([error]) : error;
  }
}

/**
 * Binds every target or none: on any failure the sockets already bound are closed and one
 * {@link ListenError} lists every address's failure.
 * @throws {ListenError} with the first failure's code (`SWB_ERR_ADDRESS_IN_USE`, `SWB_ERR_IPV6_UNAVAILABLE`, ...)
 */
export async function bindGroup<Handle>(
  targets: readonly ListenTarget[],
  port: number,
  binder: SocketBinder<Handle>,
  options: BindGroupOptions = {},
): Promise<BoundSocket<Handle>[]> {
  const usable = selectSupportedTargets(targets, port, binder.transport, options);
  if (port !== 0 || usable.length === 1) return bindAll(usable, port, binder);
  const attempts = options.maxPortAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      const [first, ...rest] = usable as [ListenTarget, ...ListenTarget[]];
      const [anchor] = await bindAll([first], 0, binder);
      const others = await bindAll(rest, anchor!.address.port, binder).catch(async (error: unknown) => {
        await binder.close(anchor!.handle);
        throw error;
      });
      return [anchor!, ...others];
    } catch (error) {
      const collided = error instanceof ListenError && error.failures.every((failure) => failure.code === ErrorCode.ADDRESS_IN_USE);
      if (!collided || attempt >= attempts) throw error;
    }
  }
}

function selectSupportedTargets(
  targets: readonly ListenTarget[],
  port: number,
  transport: Transport,
  options: BindGroupOptions,
): ListenTarget[] {
  const hasIPv6 = options.hasIPv6 ?? (targets.some((target) => target.family === 'IPv6') ? hostHasIPv6() : true);
  if (hasIPv6) return [...targets];
  const failures: OpError[] = [];
  const usable = targets.filter((target) => {
    if (target.family !== 'IPv6') return true;
    if (target.literal) {
      failures.push(
        new OpError({ op: 'listen', transport, address: target.host, port }, ErrorCode.IPV6_UNAVAILABLE, 'IPv6 is not available on this host'),
      );
    } else {
      const reason = `IPv6 is not available on this host; not listening on [${target.host}] for ${JSON.stringify(target.requested)}`;
      options.onSkip?.(target, new SwitchboardError(ErrorCode.IPV6_UNAVAILABLE, reason));
    }
    return false;
  });
  if (failures.length > 0) throw new ListenError(failures);
  if (usable.length === 0) {
    const requested = [...new Set(targets.map((target) => target.requested))].join(', ');
    throw new ListenError([
      new OpError({ op: 'listen', transport, address: requested, port }, ErrorCode.IPV6_UNAVAILABLE, 'no address of a family this host supports'),
    ]);
  }
  return usable;
}

async function bindAll<Handle>(targets: readonly ListenTarget[], port: number, binder: SocketBinder<Handle>): Promise<BoundSocket<Handle>[]> {
  const settled = await Promise.allSettled(targets.map((target) => binder.bind(target, port)));
  const bound: BoundSocket<Handle>[] = [];
  const failures: OpError[] = [];
  settled.forEach((outcome, index) => {
    const target = targets[index]!;
    if (outcome.status === 'fulfilled') {
      bound.push({ handle: outcome.value.handle, target, address: boundAddressOf(target, outcome.value.port, binder.transport) });
    } else {
      failures.push(bindFailure(outcome.reason, target, port, binder.transport));
    }
  });
  if (failures.length === 0) return bound;
  await Promise.all(bound.map((socket) => binder.close(socket.handle)));
  throw new ListenError(failures);
}

function bindFailure(cause: unknown, target: ListenTarget, port: number, transport: Transport): OpError {
  if (cause instanceof OpError) return cause;
  return opErrorFromSystem({ op: 'listen', transport, address: target.host, port }, cause);
}
