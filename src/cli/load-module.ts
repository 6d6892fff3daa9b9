/**
 * Loading `run`'s user module and finding what it exports: its handler -- the default export (or
 * one named `handler`), an event handler object, a session function or what `framed()` returns -- and optionally
 * server `options` and a `setup(server)` function.
 */
import { stat } from 'node:fs/promises';
import { basename, extname, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TcpEventHandler, TcpSessionFunction, TcpServer } from '../index.ts';
import { SessionProvider } from '../tcp/tcp-handlers.ts';
import { UsageError } from './exit-code.ts';
import { readModuleOptions, type ModuleServerOptions } from './module-options.ts';

/** The callbacks an event handler object may have. */
const EVENT_CALLBACKS = ['accept', 'open', 'data', 'drain', 'end', 'timeout', 'error', 'close'] as const;

/** What a module's `setup` export is: called with each server once it listens. */
export type ModuleSetup = (server: TcpServer) => unknown;

/** A loaded handler, with the name shown in `listening` lines (the module's file name), and the module's options and setup. */
export type LoadedHandler = (
  | { readonly style: 'event'; readonly handler: TcpEventHandler }
  | { readonly style: 'session'; readonly handler: TcpSessionFunction }
  | { readonly style: 'framed'; readonly handler: SessionProvider }
) & {
  readonly name: string;
  /** Its `options` export, names checked; `{}` when it has none. */
  readonly options: ModuleServerOptions;
  readonly setup: ModuleSetup | undefined;
  /** Something to warn about before serving it (see {@link selfReferenceProblem}). */
  readonly warning: string | undefined;
};

/** A module that failed while loading (a syntax error, a throw at top level): a runtime failure. */
export class ModuleLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Imports `path` (relative to the working directory) and returns its handler, options and setup.
 * A `version` imports it afresh (a module is otherwise imported once per process): `up`'s reload
 * passes the file's modification time.
 * @throws {UsageError} when the file does not exist, exports no handler, an unknown option or a setup that is not a function
 * @throws {ModuleLoadError} when importing it fails
 */
export async function loadHandlerModule(path: string, version?: string): Promise<LoadedHandler> {
  const file = resolve(path);
  const isFile = await stat(file).then((info) => info.isFile(), () => false);
  if (!isFile) throw new UsageError(`MODULE ${JSON.stringify(path)}: no such file`, 'run');
  const warning = selfReferenceProblem(file);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(`${pathToFileURL(file).href}${version === undefined ? '' : `?version=${encodeURIComponent(version)}`}`)) as Record<string, unknown>;
  } catch (error) {
    const hint = warning === undefined ? '' : ` (${warning})`;
    throw new ModuleLoadError(`cannot load ${path}: ${error instanceof Error ? error.message : String(error)}${hint}`, { cause: error });
  }
  const name = basename(file, extname(file));
  const options = readModuleOptions(path, namespace.options);
  const setup = namespace.setup;
  if (setup !== undefined && typeof setup !== 'function') throw new UsageError(`MODULE ${JSON.stringify(path)}: its setup export must be a function (server) => \u2026, got ${typeof setup}`, 'run');
  const extras = { name, options, setup: setup as ModuleSetup | undefined, warning };
  const exported = namespace.default ?? namespace.handler;
  if (exported instanceof SessionProvider) return { ...extras, style: 'framed', handler: exported };
  if (typeof exported === 'function') return { ...extras, style: 'session', handler: exported as TcpSessionFunction };
  if (isEventHandler(exported)) return { ...extras, style: 'event', handler: exported };
  throw new UsageError(
    `MODULE ${JSON.stringify(path)} exports no handler: export default an event handler object ({ open, data, close, \u2026 }), an async session function or what framed() returns`,
    'run',
  );
}

function isEventHandler(value: unknown): value is TcpEventHandler {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const present = EVENT_CALLBACKS.filter((key) => key in record && record[key] !== undefined);
  return present.length > 0 && present.every((key) => typeof record[key] === 'function');
}

/**
 * A module inside this package that imports `switchboard` gets the package itself (a
 * self-reference). In a checkout that is this src/index.ts only under the `switchboard-source`
 * condition, which the npm scripts pass; without it, it is dist/index.js -- missing, or a second
 * copy of the library whose framed handlers and classes this one does not know. Says so when
 * that is the case for `file`.
 */
function selfReferenceProblem(file: string): string | undefined {
  const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
  if (!file.startsWith(packageRoot) || file.includes(`${sep}node_modules${sep}`)) return undefined;
  const running = new URL(`../index${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;
  let resolved: string;
  try {
    resolved = import.meta.resolve('switchboard');
  } catch {
    return undefined;
  }
  if (resolved === running) return undefined;
  const shown = (url: string): string => relative(packageRoot, fileURLToPath(url));
  return `in this checkout 'switchboard' is ${shown(resolved)}, not the ${shown(running)} this command runs: start node with --conditions=switchboard-source, as npm start does`;
}
