/** `switchboard serve`: the classic Internet services over TCP and UDP. */
import { readFileSync } from 'node:fs';
import { SERVER_OPTIONS, UDP_OPTIONS, parseCommandLine } from '../args.ts';
import { SERVE_DEFAULTS } from '../defaults.ts';
import { UsageError } from '../exit-code.ts';
import { SERVE_HELP } from '../help.ts';
import { planServe } from '../serve-plan.ts';
import type { Endpoint } from '../server-set.ts';
import { parseQuotes } from '../services/qotd.ts';
import type { ServiceConfig, ServiceHandlers } from '../services/service.ts';
import { flagOptions } from '../settings.ts';
import { TLS_OPTIONS, readTlsFlags, tlsOptionsFrom, withTlsReload } from '../tls-flags.ts';
import { readUdpLimits } from '../udp-wiring.ts';
import { packageVersion } from '../version.ts';
import { createLogger, printText, readServerSettings, serveEndpoints } from './common.ts';

/** `serve`'s flags. */
export const SERVE_OPTIONS = { ...SERVER_OPTIONS, ...UDP_OPTIONS, ...TLS_OPTIONS, ...flagOptions(['quotes']) } as const;

/** Runs `serve`; resolves with the exit code. @throws {UsageError} */
export async function serveCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('serve', args, SERVE_OPTIONS, true);
  if (values.help) return printText(SERVE_HELP);
  if (values.version) return printText(packageVersion());
  const tlsFiles = readTlsFlags(values, 'serve');
  const settings = { ...readServerSettings(values, SERVE_DEFAULTS), udp: readUdpLimits(values), ...(tlsFiles && { serverOptions: { tls: tlsOptionsFrom(tlsFiles, {}, 'serve') } }) };
  const plan = planServe(positionals, values.listen ?? []);
  const config: ServiceConfig = values.quotes === undefined ? {} : { quotes: readQuotesFile(values.quotes) };
  const log = createLogger(values);

  // One instance per service, shared by its endpoints (chargen's UDP rotation, say).
  const instances = new Map<string, ServiceHandlers>();
  const endpoints: Endpoint[] = plan.map(({ service, hosts, port }) => {
    const handlers = instances.get(service.name) ?? service.create(config);
    instances.set(service.name, handlers);
    return { name: service.name, hosts, port, tcp: handlers.tcp, udp: handlers.udp };
  });
  return serveEndpoints(endpoints, settings, log, withTlsReload(tlsFiles, undefined, log));
}

/** @throws {UsageError} naming `--quotes` when the file is unreadable, empty, or holds a quote too long */
function readQuotesFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--quotes ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, 'serve');
  }
  const { quotes, tooLong } = parseQuotes(text);
  if (quotes.length === 0) throw new UsageError(`--quotes ${JSON.stringify(path)}: no quotes in the file`, 'serve');
  if (tooLong.length > 0) throw new UsageError(`--quotes ${JSON.stringify(path)}: quote ${tooLong.join(', ')} is 512 characters or longer (RFC 865)`, 'serve');
  return quotes;
}
