/**
 * The server options a `run` module may export (`export const options = { ... }`): the library's
 * TCP server options, less those the command line owns. Their values are the library's to check;
 * their names are checked here, so a misspelt one is an error naming the nearest valid one
 * rather than a limit silently not applied.
 */
import type { TcpServerOptions } from '../index.ts';
import { nearestName } from '../core/nearest-name.ts';
import { TCP_SERVER_OPTION_NAMES } from '../tcp/tcp-options.ts';
import { UsageError } from './exit-code.ts';

/** What a module's `options` export may set. */
export type ModuleServerOptions = Omit<TcpServerOptions, 'host' | 'port' | 'signal' | 'systemd'>;

/** Names a module may not set, and why. */
const NOT_FOR_A_MODULE: Readonly<Record<string, string>> = {
  host: 'is --listen\'s to set',
  port: 'is --listen\'s to set',
  systemd: 'is the command line\'s to set: --listen systemd:NAME, --listen-fds or --inetd',
  signal: 'is not for a module: the command closes the server on SIGINT and SIGTERM',
  partialFrameTimeout: 'is an option of framed(), not of the server: framed(createCodec, handler, { partialFrameTimeout })',
  reuseAddress: 'is not a TCP option: SO_REUSEADDR is always on for TCP listeners under Node (see docs/addresses.md)',
} satisfies Record<Exclude<keyof TcpServerOptions, keyof ModuleServerOptions>, string> & Record<string, string>;

/** The library's server options, less those the command line owns. */
const known = TCP_SERVER_OPTION_NAMES.names.filter((name) => NOT_FOR_A_MODULE[name] === undefined);

/**
 * Checks the names in a module's `options` export (undefined: none).
 * @param path the module as given, for messages
 * @throws {UsageError} for a value that is not an object, or a name that is unknown or not a module's to set
 */
export function readModuleOptions(path: string, value: unknown): ModuleServerOptions {
  if (value === undefined) return {};
  const where = `MODULE ${JSON.stringify(path)}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${where}: its options export must be an object of server options, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`, 'run');
  }
  for (const key of Reflect.ownKeys(value)) {
    const name = String(key);
    const why = NOT_FOR_A_MODULE[name];
    if (why !== undefined) throw new UsageError(`${where}: options.${name} ${why}`, 'run');
    if (typeof key === 'symbol' || !known.includes(name)) {
      const nearest = nearestName(name, known);
      throw new UsageError(`${where}: unknown option ${JSON.stringify(name)} in its options export${nearest === undefined ? '' : ` (did you mean ${JSON.stringify(nearest)}?)`}`, 'run');
    }
  }
  return value as ModuleServerOptions;
}
