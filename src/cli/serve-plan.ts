/**
 * Which service listens where, from `serve`'s arguments: a pure function over strings, so the
 * port-offset rules are tested without a socket.
 */
import { UsageError } from './exit-code.ts';
import { parseServiceAddress, type ListenAddress } from './listen-address.ts';
import { DEFAULT_PORT_BASE, SERVICES, SERVICE_NAMES, findService } from './services/registry.ts';
import type { ServiceDefinition } from './services/service.ts';

/** One service on one port, with every host that shares it. */
export interface PlannedEndpoint {
  readonly service: ServiceDefinition;
  /** Undefined is IPv4 any. */
  readonly hosts: readonly (string | undefined)[];
  readonly port: number;
}

/**
 * Plans `serve [SERVICE[=ADDRESS]...] [--listen [SERVICE=]ADDRESS]...`.
 *
 * - The services are those named (as arguments or in `--listen SERVICE=...`), or all six.
 * - A service named with an address listens there only.
 * - The others listen on every plain `--listen`, its port being the first such service's and
 *   the rest offset by standard port (port 0 stays 0: a free port each); with no plain
 *   `--listen`, on `localhost` at 10000 + standard port.
 * @throws {UsageError} for an unknown service, a malformed address, or an offset port past 65535
 */
export function planServe(positionals: readonly string[], listens: readonly string[]): PlannedEndpoint[] {
  const named: ServiceDefinition[] = [];
  const own = new Map<ServiceDefinition, ListenAddress[]>();
  const generic: ListenAddress[] = [];
  const note = (service: ServiceDefinition, address?: ListenAddress): void => {
    if (!named.includes(service)) named.push(service);
    if (address) own.set(service, [...(own.get(service) ?? []), address]);
  };
  for (const argument of positionals) {
    const [name = '', address] = splitOnce(argument, '=');
    const service = findService(name);
    if (!service) throw new UsageError(`unknown service ${JSON.stringify(name)} (one of ${SERVICE_NAMES.join(', ')})`, 'serve');
    note(service, address === undefined ? undefined : parseServiceAddress(argument, SERVICE_NAMES, 'argument'));
  }
  for (const text of listens) {
    const address = parseServiceAddress(text, SERVICE_NAMES);
    if (address.service === undefined) generic.push(address);
    else note(findService(address.service)!, address);
  }
  const services = named.length > 0 ? named : SERVICES;
  const shared = services.filter((service) => !own.has(service));
  const base = shared[0];
  if (base === undefined && generic.length > 0) {
    throw new UsageError(`--listen ${JSON.stringify(generic[0]!.text)} applies to no service: every service named has its own address`, 'serve');
  }
  const endpoints: PlannedEndpoint[] = [];
  for (const service of services) {
    const addresses = own.get(service) ?? (generic.length > 0 ? generic.map((address) => offset(address, base!, service)) : [defaultAddress(service)]);
    endpoints.push(...groupByPort(addresses).map(({ hosts, port }) => ({ service, hosts, port })));
  }
  return endpoints;
}

/** Addresses sharing a port become one endpoint with several hosts (one port-0 group shares one free port). */
export function groupByPort(addresses: readonly ListenAddress[]): { hosts: (string | undefined)[]; port: number }[] {
  const groups = new Map<number, (string | undefined)[]>();
  for (const { host, port } of addresses) {
    const hosts = groups.get(port) ?? [];
    if (!hosts.includes(host)) hosts.push(host);
    groups.set(port, hosts);
  }
  return [...groups].map(([port, hosts]) => ({ hosts, port }));
}

function defaultAddress(service: ServiceDefinition): ListenAddress {
  const port = DEFAULT_PORT_BASE + service.standardPort;
  return { host: 'localhost', port, text: `localhost:${port}` };
}

function offset(address: ListenAddress, base: ServiceDefinition, service: ServiceDefinition): ListenAddress {
  if (address.port === 0) return address;
  const port = address.port - base.standardPort + service.standardPort;
  if (port < 1 || port > 65535) {
    throw new UsageError(`--listen ${JSON.stringify(address.text)}: ${service.name} would be at port ${port}, outside 1-65535 (ports are offset from ${base.name}'s)`, 'serve');
  }
  return { ...address, port };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
