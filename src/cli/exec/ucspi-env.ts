/**
 * The environment of a program run per connection: ucspi-tcp's tcp-environ. PROTO is `TCP` or
 * `TCP6`; TCPLOCALIP/PORT and TCPREMOTEIP/PORT describe both ends (IPv4 peers on a dual-stack
 * socket appear as IPv4). Variables we do not set (host names, ident info) are removed, so the
 * program never sees stale ones inherited from our own environment.
 *
 * Over TLS, ucspi-ssl's as `sslserver -e -s` sets them (its ssl_env.c): PROTO is `SSL`, the
 * SSL* address variables join the TCP* ones, and the SSL_* variables describe the session; two
 * of mod_ssl's, which sslserver lacks, are added: SSL_CLIENT_VERIFY and SSL_TLS_SNI (docs/cli.md).
 *
 * Behind a trusted balancer (`--proxy-protocol`) the TCP* variables are the client's, as the PROXY
 * header names them, and PROXYREMOTEIP/PROXYREMOTEPORT the balancer's (nginx's `$realip_remote_addr`).
 */
import type { ConnectionInfo, TlsInfo } from '../../index.ts';

const UNSET = ['TCPLOCALHOST', 'TCPREMOTEHOST', 'TCPREMOTEINFO', 'SSLLOCALHOST', 'SSLREMOTEHOST', 'SSLREMOTEINFO', 'PROXYREMOTEIP', 'PROXYREMOTEPORT'] as const;
/** What ucspi-ssl and we set per session (not OpenSSL's own SSL_CERT_FILE, SSL_CERT_DIR). */
const SSL_SESSION_VARIABLE = /^SSL_(?:(?:CLIENT|SERVER|CIPHER|VERSION)_\w+|PROTOCOL|SESSION_ID|CIPHER|TLS_SNI)$/;
/** The certificate name components ucspi-ssl exports one by one (SSL_CLIENT_S_DN_CN, ...). */
const DN_COMPONENTS = ['C', 'ST', 'L', 'O', 'OU', 'CN', 'T', 'I', 'G', 'S', 'D', 'UID', 'Email'] as const;
/** Node's attribute names for the components whose names differ. */
const NODE_ATTRIBUTE: Readonly<Record<string, string>> = { T: 'title', I: 'initials', G: 'GN', S: 'SN', D: 'description', UID: 'x500UniqueIdentifier', Email: 'emailAddress' };

/**
 * `base` plus the UCSPI variables for the connection `info` (and its TLS, when it has any).
 * @example
 * ucspiEnvironment(info, process.env).TCPREMOTEIP; // '127.0.0.1'
 */
export function ucspiEnvironment(info: ConnectionInfo & { readonly tls?: TlsInfo | null }, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of UNSET) delete env[name];
  for (const name of Object.keys(env)) if (SSL_SESSION_VARIABLE.test(name)) delete env[name];
  env.PROTO = info.remoteFamily === 'IPv6' ? 'TCP6' : 'TCP';
  env.TCPLOCALIP = info.localAddress;
  env.TCPLOCALPORT = String(info.localPort);
  env.TCPREMOTEIP = info.remoteAddress;
  env.TCPREMOTEPORT = String(info.remotePort);
  if (info.proxy) {
    env.PROXYREMOTEIP = info.proxy.peer.address;
    env.PROXYREMOTEPORT = String(info.proxy.peer.port);
  }
  if (info.tls) Object.assign(env, sslEnvironment(info, info.tls));
  return env;
}

/** The ucspi-ssl variables of a TLS connection. */
function sslEnvironment(info: ConnectionInfo, tls: TlsInfo): Record<string, string> {
  const env: Record<string, string> = {
    PROTO: 'SSL',
    SSLLOCALIP: info.localAddress,
    SSLLOCALPORT: String(info.localPort),
    SSLREMOTEIP: info.remoteAddress,
    SSLREMOTEPORT: String(info.remotePort),
    SSL_PROTOCOL: tls.protocol,
    SSL_CIPHER: tls.cipher.name,
    SSL_VERSION_INTERFACE: 'switchboard',
    SSL_VERSION_LIBRARY: `OpenSSL ${process.versions.openssl}`,
    SSL_CLIENT_VERIFY: tls.peerCertificate === null ? 'NONE' : tls.authorized ? 'SUCCESS' : `FAILED:${tls.authorizationError ?? 'unverified'}`,
  };
  if (tls.serverName !== null) env.SSL_TLS_SNI = tls.serverName;
  const peer = tls.peerCertificate;
  if (peer !== null) {
    Object.assign(env, nameVariables('SSL_CLIENT_S_DN', peer.subject), nameVariables('SSL_CLIENT_I_DN', peer.issuer));
    env.SSL_CLIENT_M_SERIAL = peer.serialNumber;
    env.SSL_CLIENT_V_START = certificateTime(peer.validFrom);
    env.SSL_CLIENT_V_END = certificateTime(peer.validTo);
  }
  return env;
}

/** `SSL_CLIENT_S_DN=/CN=client/O=Example` (OpenSSL's one-line form, as ucspi-ssl sets it) and each component. */
function nameVariables(prefix: string, name: Readonly<Record<string, string | string[]>>): Record<string, string> {
  const env: Record<string, string> = {};
  let oneLine = '';
  for (const [attribute, value] of Object.entries(name)) {
    for (const item of Array.isArray(value) ? value : [value]) oneLine += `/${attribute}=${item}`;
  }
  env[prefix] = oneLine;
  for (const component of DN_COMPONENTS) {
    const value = name[NODE_ATTRIBUTE[component] ?? component];
    if (value !== undefined) env[`${prefix}_${component}`] = Array.isArray(value) ? value[0]! : value;
  }
  return env;
}

/** `Jan  2 15:04:05 2026 GMT`, the form OpenSSL prints certificate times in (ASN1_TIME_print). */
function certificateTime(date: Date): string {
  const month = date.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const time = date.toISOString().slice(11, 19);
  return `${month} ${String(date.getUTCDate()).padStart(2, ' ')} ${time} ${date.getUTCFullYear()} GMT`;
}
