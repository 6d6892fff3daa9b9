/**
 * What a config names outside itself, checked before anything binds: programs exist and are
 * executable, working directories and users exist, modules load and export a handler,
 * certificates parse and match their keys, quote files are readable; and, for `check`, host
 * names resolve. Each problem is placed at the key that named the thing.
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionError, TcpServer, type TlsOptions } from '../../index.ts';
import { resolveListenTargets } from '../../net/addresses.ts';
import { isDirectory } from '../commands/exec.ts';
import { UsageError } from '../exit-code.ts';
import { findProgram } from '../exec/find-program.ts';
import { findUser, type ProgramUser } from '../exec/find-user.ts';
import { ModuleLoadError, loadHandlerModule, type LoadedHandler } from '../load-module.ts';
import { parseQuotes } from '../services/qotd.ts';
import { ProblemList, type ConfigProblem } from './config-problems.ts';
import type { Config, ServiceConfig } from './load-config.ts';

/** What the checks prepared for one service, for `up` to use as is. */
export interface ServiceResources {
  readonly user?: ProgramUser;
  readonly loaded?: LoadedHandler;
  /** The `tls` option: the files' material over a module's own `tls` options. */
  readonly tls?: TlsOptions;
  readonly quotes?: readonly string[];
}

/** The outcome: every service's resources, or the problems. */
export type ResourcesResult = { readonly resources: ReadonlyMap<string, ServiceResources>; readonly problems?: undefined } | { readonly resources?: undefined; readonly problems: readonly ConfigProblem[] };

/**
 * Checks every service's programs, modules, certificates and files; with `resolveNames`, that
 * every host name of a `listen` address resolves. Modules are imported (their top level runs).
 * @param moduleVersion busts the module cache, so a reload sees a module file that changed
 */
export async function checkResources(config: Config, options: { readonly resolveNames?: boolean; readonly moduleVersion?: (service: ServiceConfig) => string | undefined } = {}): Promise<ResourcesResult> {
  const problems = new ProblemList(config.positions);
  const resources = new Map<string, ServiceResources>();
  for (const service of config.services) {
    const here = ['services', service.name];
    const prepared: { -readonly [K in keyof ServiceResources]: ServiceResources[K] } = {};
    if (service.program !== undefined) {
      const found = findProgram(service.program, service.env?.PATH ?? process.env.PATH);
      if ('problem' in found) problems.add([...here, 'program'], `${JSON.stringify(service.program)}: ${found.problem}`);
    }
    if (service.cwd !== undefined && !isDirectory(service.cwd)) problems.add([...here, 'cwd'], `${JSON.stringify(service.cwd)}: no such directory`);
    if (service.user !== undefined) {
      const found = findUser(service.user);
      if ('problem' in found) problems.add([...here, 'user'], `${JSON.stringify(service.user)}: ${found.problem}`);
      else prepared.user = found.user;
    }
    if (service.module !== undefined) {
      try {
        prepared.loaded = await loadHandlerModule(service.module, options.moduleVersion?.(service));
      } catch (error) {
        if (!(error instanceof UsageError) && !(error instanceof ModuleLoadError)) throw error;
        problems.add([...here, 'module'], error.message.replace(/^MODULE /, ''));
      }
    }
    if (service.quotes !== undefined) {
      const quotes = readFile(service.quotes, [...here, 'quotes'], problems)?.toString('utf8');
      if (quotes !== undefined) {
        const { quotes: list, tooLong } = parseQuotes(quotes);
        if (list.length === 0) problems.add([...here, 'quotes'], `${JSON.stringify(service.quotes)}: no quotes in the file`);
        else if (tooLong.length > 0) problems.add([...here, 'quotes'], `${JSON.stringify(service.quotes)}: quote ${tooLong.join(', ')} is 512 characters or longer (RFC 865)`);
        else prepared.quotes = list;
      }
    }
    const tls = service.tls && readTlsMaterial(service, prepared.loaded?.options.tls, problems);
    if (tls) prepared.tls = tls;
    checkServerOptions(service, prepared, problems);
    if (options.resolveNames) await resolveHosts(service, problems);
    resources.set(service.name, prepared);
  }
  return problems.size > 0 ? { problems: problems.problems } : { resources };
}

/** Re-reads a TLS service's files (on reload: the certificate may have been rotated). */
export function readTlsMaterial(service: ServiceConfig, base: TlsOptions | undefined, problems: ProblemList): TlsOptions | undefined {
  const files = service.tls!;
  const here = ['services', service.name];
  const cert = readFile(files.cert, [...here, 'tls-cert'], problems);
  const key = readFile(files.key, [...here, 'tls-key'], problems);
  const ca = files.ca === undefined ? undefined : readFile(files.ca, [...here, 'tls-ca'], problems);
  if (cert === undefined || key === undefined || (files.ca !== undefined && ca === undefined)) return undefined;
  const { secureContext: _context, ...rest } = base ?? {};
  const tls: TlsOptions = { ...rest, cert, key, ...(ca && { ca }) };
  if (files.clientCert !== undefined) {
    tls.requestCert = true;
    tls.rejectUnauthorized = files.clientCert === 'required';
  }
  try {
    new TcpServer({ tls }); // builds every context, binds nothing
  } catch (error) {
    problems.add([...here, 'tls-cert'], (error as Error).message);
    return undefined;
  }
  return tls;
}

function readFile(path: string, at: string[], problems: ProblemList): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.add(at, `${JSON.stringify(path)}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    return undefined;
  }
}

/** The library's own checks of the options the service will have (a module's options included). */
function checkServerOptions(service: ServiceConfig, prepared: ServiceResources, problems: ProblemList): void {
  try {
    new TcpServer({ ...prepared.loaded?.options, ...service.limitOptions, ...(service.proxyProtocol && { proxyProtocol: service.proxyProtocol }), idleTimeout: service.idleTimeout, maxConnections: service.maxClients, maxConnectionsPerAddress: service.maxPerIp });
  } catch (error) {
    if (!(error instanceof InvalidOptionError)) return;
    const key = error.option.startsWith('proxyProtocol') ? 'proxy-protocol' : service.module === undefined ? 'listen' : 'module';
    problems.add(['services', service.name, key], `options: ${error.message}`);
  }
}

async function resolveHosts(service: ServiceConfig, problems: ProblemList): Promise<void> {
  await Promise.all(
    service.listen.map(async (address, index) => {
      if (address.host === undefined || address.host === '*') return;
      try {
        await resolveListenTargets(address.host, 'tcp');
      } catch (error) {
        problems.add(['services', service.name, 'listen', service.listenIndexes?.[index] ?? index], `${JSON.stringify(address.text)}: ${(error as Error).message}`);
      }
    }),
  );
}
