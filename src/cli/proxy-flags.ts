/**
 * The PROXY protocol from the command line: `--proxy-protocol FROM` (repeatable, or a
 * comma-separated list of addresses and CIDR prefixes) and `--proxy-untrusted refuse|direct` on
 * serve, exec and run. They set the TCP servers' `proxyProtocol` option; serve's UDP servers are
 * left as they are (no common balancer sends PROXY over UDP; docs/cli.md).
 */
import { InvalidOptionError, type ProxyProtocolOptions, type TcpServerOptions } from '../index.ts';
import { normalizeProxyProtocol } from '../proxy/proxy-options.ts';
import { UsageError } from './exit-code.ts';
import { flagOptions } from './settings.ts';

/** The PROXY flags of every serving command. */
export const PROXY_OPTIONS = flagOptions(['proxy-protocol', 'proxy-untrusted']);

/** Their lines in `--help`. */
export const PROXY_HELP = `PROXY protocol (behind HAProxy, nginx or a load balancer):
      --proxy-protocol FROM  connections from FROM \u2014 an address or CIDR prefix; repeatable or
                           comma-separated \u2014 must begin with a PROXY v1 or v2 header (within 10s):
                           the session, --max-per-ip and the log see the client it names
      --proxy-untrusted P  connections from elsewhere: refuse (the default) or direct (served as
                           they are, their bytes never read as a header)`;

/** The flag values, as `parseArgs` returns them. */
export interface ProxyFlagValues {
  readonly 'proxy-protocol'?: string[] | undefined;
  readonly 'proxy-untrusted'?: string | undefined;
}

/**
 * The `proxyProtocol` option the flags ask for, or undefined without `--proxy-protocol`.
 * @throws {UsageError} naming the flag: a bad address or prefix, a bad policy, `--proxy-untrusted` alone
 */
export function readProxyFlags(values: ProxyFlagValues, command: string): ProxyProtocolOptions | undefined {
  const lists = values['proxy-protocol'];
  const untrusted = values['proxy-untrusted'];
  if (lists === undefined || lists.length === 0) {
    if (untrusted !== undefined) throw new UsageError('--proxy-untrusted needs --proxy-protocol (the trusted balancers)', command);
    return undefined;
  }
  const from = lists.flatMap((list) => list.split(',')).map((entry) => entry.trim());
  if (untrusted !== undefined && untrusted !== 'refuse' && untrusted !== 'direct') {
    throw new UsageError(`--proxy-untrusted ${JSON.stringify(untrusted)}: must be refuse or direct`, command);
  }
  const options: ProxyProtocolOptions = { from, ...(untrusted === undefined ? {} : { untrusted }) };
  try {
    normalizeProxyProtocol(options);
  } catch (error) {
    if (!(error instanceof InvalidOptionError)) throw error;
    const bad = from.find((entry) => entry === '' || !isAddressEntry(entry)) ?? lists.join(',');
    throw new UsageError(`--proxy-protocol ${JSON.stringify(bad)}: expected addresses or CIDR prefixes such as 127.0.0.1, 10.0.0.0/8 or ::1`, command);
  }
  return options;
}

/** Whether one `--proxy-protocol` entry is an address or CIDR prefix on its own. */
function isAddressEntry(entry: string): boolean {
  try {
    normalizeProxyProtocol({ from: [entry] });
    return true;
  } catch {
    return false;
  }
}

/** `settings` with the flags' `proxyProtocol` over its server options (a `run` module's own included); unchanged without the flags. */
export function withProxyProtocol<T extends { readonly serverOptions?: TcpServerOptions | undefined }>(settings: T, proxyProtocol: ProxyProtocolOptions | undefined): T {
  if (proxyProtocol === undefined) return settings;
  return { ...settings, serverOptions: { ...settings.serverOptions, proxyProtocol } };
}
