/**
 * Loading `run`'s user module and finding its handler: the default export (or one named
 * `handler`), either an event handler object or a session function.
 */
import { stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventHandler, SessionFunction } from '../index.ts';
import { UsageError } from './exit-code.ts';

/** The callbacks an event handler object may have. */
const EVENT_CALLBACKS = ['accept', 'open', 'data', 'drain', 'end', 'timeout', 'error', 'close'] as const;

/** A loaded handler, with the name shown in `listening` lines (the module's file name). */
export type LoadedHandler =
  | { readonly name: string; readonly style: 'event'; readonly handler: EventHandler }
  | { readonly name: string; readonly style: 'session'; readonly handler: SessionFunction };

/** A module that failed while loading (a syntax error, a throw at top level): a runtime failure. */
export class ModuleLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Imports `path` (relative to the working directory) and returns its handler.
 * @throws {UsageError} when the file does not exist or exports no handler
 * @throws {ModuleLoadError} when importing it fails
 */
export async function loadHandlerModule(path: string): Promise<LoadedHandler> {
  const file = resolve(path);
  const isFile = await stat(file).then((info) => info.isFile(), () => false);
  if (!isFile) throw new UsageError(`MODULE ${JSON.stringify(path)}: no such file`, 'run');
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ModuleLoadError(`cannot load ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const name = basename(file, extname(file));
  const exported = namespace.default ?? namespace.handler;
  if (typeof exported === 'function') return { name, style: 'session', handler: exported as SessionFunction };
  if (isEventHandler(exported)) return { name, style: 'event', handler: exported };
  throw new UsageError(
    `MODULE ${JSON.stringify(path)} exports no handler: export default an event handler object ({ open, data, close, … }) or an async session function`,
    'run',
  );
}

function isEventHandler(value: unknown): value is EventHandler {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const present = EVENT_CALLBACKS.filter((key) => key in record && record[key] !== undefined);
  return present.length > 0 && present.every((key) => typeof record[key] === 'function');
}
