/** `switchboard serve`: the classic Internet services over TCP and UDP. */
import { readFileSync } from 'node:fs';
import { SERVER_OPTIONS, UDP_OPTIONS, parseCommandLine } from '../args.ts';
import { SERVE_DEFAULTS } from '../defaults.ts';
import { UsageError } from '../exit-code.ts';
import { SERVE_HELP } from '../help.ts';
import { planServe } from '../serve-plan.ts';
import type { Endpoint } from '../server-set.ts';
import { parseQuotes } from '../services/qotd.ts';
import type { ServiceConfig, ServiceDefinition, ServiceHandlers } from '../services/service.ts';
import { METRICS_OPTIONS, readMetricsFlag, withMetrics } from '../metrics-flags.ts';
import { SERVICE_NAMES } from '../services/registry.ts';
import { ACTIVATION_OPTIONS, readActivationFlags, serveActivatedEndpoints, servesAnything } from '../activation-flags.ts';
import { flagOptions } from '../settings.ts';
import { TLS_OPTIONS, readTlsFlags, tlsOptionsFrom, withTlsReload } from '../tls-flags.ts';
import { PROXY_OPTIONS, readProxyFlags, withProxyProtocol } from '../proxy-flags.ts';
import { readUdpLimits } from '../udp-wiring.ts';
import { packageVersion } from '../version.ts';
import { createLogger, printText, readServerSettings, serveEndpoints } from './common.ts';

/** `serve`'s flags. */
export const SERVE_OPTIONS = { ...SERVER_OPTIONS, ...UDP_OPTIONS, ...TLS_OPTIONS, ...METRICS_OPTIONS, ...ACTIVATION_OPTIONS, ...PROXY_OPTIONS, ...flagOptions(['quotes']) } as const;

/** Runs `serve`; resolves with the exit code. @throws {UsageError} */
export async function serveCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('serve', args, SERVE_OPTIONS, true);
  if (values.help) return printText(SERVE_HELP);
  if (values.version) return printText(packageVersion());
  const tlsFiles = readTlsFlags(values, 'serve');
  const metrics = readMetricsFlag(values);
  const proxyProtocol = readProxyFlags(values, 'serve');
  const settings = { ...readServerSettings(values, SERVE_DEFAULTS), udp: readUdpLimits(values), ...(tlsFiles && { serverOptions: { tls: tlsOptionsFrom(tlsFiles, {}, 'serve') } }) };
  const activation = readActivationFlags(values, 'serve', SERVICE_NAMES);
  // With passed sockets, only the addresses given are bound besides them (no default addresses).
  const withAddress = positionals.filter((argument) => argument.includes('='));
  const plan = !servesAnything(activation) || activation.listens.length > 0 ? planServe(positionals, activation.listens) : withAddress.length > 0 ? planServe(withAddress, []) : [];
  const config: ServiceConfig = values.quotes === undefined ? {} : { quotes: readQuotesFile(values.quotes) };
  const log = createLogger(values);

  // One instance per service, shared by its endpoints (chargen's UDP rotation, say).
  const instances = new Map<string, ServiceHandlers>();
  const handlersOf = (service: ServiceDefinition): ServiceHandlers => {
    const handlers = instances.get(service.name) ?? service.create(config);
    instances.set(service.name, handlers);
    return handlers;
  };
  const endpoints: Endpoint[] = plan.map(({ service, hosts, port }) => ({ name: service.name, hosts, port, ...handlersOf(service) }));
  const activated = serveActivatedEndpoints(activation, positionals, handlersOf);
  return serveEndpoints(() => [...activated(), ...endpoints], withProxyProtocol(settings, proxyProtocol), log, withMetrics(metrics, log, withTlsReload(tlsFiles, undefined, log)));
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
