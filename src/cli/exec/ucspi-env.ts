/**
 * The environment of a program run per connection: ucspi-tcp's tcp-environ. PROTO is `TCP` or
 * `TCP6`; TCPLOCALIP/PORT and TCPREMOTEIP/PORT describe both ends (IPv4 peers on a dual-stack
 * socket appear as IPv4). Variables we do not set (host names, ident info) are removed, so the
 * program never sees stale ones inherited from our own environment.
 */
import type { ConnectionInfo } from '../../index.ts';

const UNSET = ['TCPLOCALHOST', 'TCPREMOTEHOST', 'TCPREMOTEINFO'] as const;

/**
 * `base` plus the UCSPI variables for the connection `info`.
 * @example
 * ucspiEnvironment(info, process.env).TCPREMOTEIP; // '127.0.0.1'
 */
export function ucspiEnvironment(info: ConnectionInfo, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of UNSET) delete env[name];
  env.PROTO = info.remoteFamily === 'IPv6' ? 'TCP6' : 'TCP';
  env.TCPLOCALIP = info.localAddress;
  env.TCPLOCALPORT = String(info.localPort);
  env.TCPREMOTEIP = info.remoteAddress;
  env.TCPREMOTEPORT = String(info.remotePort);
  return env;
}
