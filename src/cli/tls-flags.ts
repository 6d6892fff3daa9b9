/**
 * TLS from the command line: `--tls-cert FILE --tls-key FILE [--tls-ca FILE]
 * [--tls-client-cert required|optional]` on serve, exec and run, and SIGHUP to re-read the
 * files (the certificates only: what the other flags say stays). A reload that fails keeps the
 * certificates in use and says why in the log.
 */
import { readFileSync } from 'node:fs';
import type { TcpServer, TlsOptions } from '../index.ts';
import { UsageError } from './exit-code.ts';
import type { ServeHooks } from './commands/common.ts';
import type { Logger } from './logger.ts';
import { flagOptions } from './settings.ts';

/** The TLS flags of every serving command. */
export const TLS_OPTIONS = flagOptions(['tls-cert', 'tls-key', 'tls-ca', 'tls-client-cert']);

/** Their lines in `--help`. */
export const TLS_HELP = `TLS (on every TCP connection, or on STARTTLS for a run MODULE whose options say so;
SIGHUP re-reads the files):
      --tls-cert FILE      the certificate chain, PEM, leaf first
      --tls-key FILE       its private key, PEM
      --tls-ca FILE        CA certificates that client certificates must chain to
      --tls-client-cert M  ask clients for a certificate: required (refuse without a valid one)
                           or optional (serve them, and report whether it verified)`;

/** The flag values, as `parseArgs` returns them. */
export interface TlsFlagValues {
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly 'tls-ca'?: string | undefined;
  readonly 'tls-client-cert'?: string | undefined;
}

/** The TLS files and policy the flags name. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string | undefined;
  readonly clientCert: 'required' | 'optional' | undefined;
}

/**
 * The TLS files the flags name, or undefined without `--tls-cert`.
 * @throws {UsageError} for a flag without its partner, or a bad `--tls-client-cert`
 */
export function readTlsFlags(values: TlsFlagValues, command: string): TlsFiles | undefined {
  const { 'tls-cert': cert, 'tls-key': key, 'tls-ca': ca, 'tls-client-cert': clientCert } = values;
  if (cert === undefined && key === undefined) {
    const stray = ca !== undefined ? '--tls-ca' : clientCert !== undefined ? '--tls-client-cert' : undefined;
    if (stray !== undefined) throw new UsageError(`${stray} needs --tls-cert and --tls-key`, command);
    return undefined;
  }
  if (cert === undefined) throw new UsageError('--tls-key needs --tls-cert (the certificate it belongs to)', command);
  if (key === undefined) throw new UsageError('--tls-cert needs --tls-key (its private key)', command);
  if (clientCert !== undefined && clientCert !== 'required' && clientCert !== 'optional') {
    throw new UsageError(`--tls-client-cert ${JSON.stringify(clientCert)}: must be required or optional`, command);
  }
  return { cert, key, ca, clientCert };
}

/**
 * The `tls` option the files make, over `base` (a `run` module's own `tls` options, whose
 * material the flags replace).
 * @throws {UsageError} naming the flag of a file that cannot be read
 */
export function tlsOptionsFrom(files: TlsFiles, base: TlsOptions = {}, command = ''): TlsOptions {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(`${flag} ${JSON.stringify(path)}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`, command);
    }
  };
  const { secureContext: _context, ...rest } = base;
  const options: TlsOptions = { ...rest, cert: read('--tls-cert', files.cert), key: read('--tls-key', files.key) };
  if (files.ca !== undefined) options.ca = read('--tls-ca', files.ca);
  if (files.clientCert !== undefined) {
    options.requestCert = true;
    options.rejectUnauthorized = files.clientCert === 'required';
  }
  return options;
}

/**
 * On SIGHUP, re-reads the files and replaces every server's certificates (`server.setTls`);
 * a file that cannot be read or material that does not load keeps what is in use. Returns the
 * function that removes the handler.
 */
export function reloadTlsOnSighup(servers: () => readonly TcpServer[], files: TlsFiles, base: TlsOptions | undefined, log: Logger): () => void {
  const reload = (): void => {
    let options: TlsOptions;
    try {
      options = tlsOptionsFrom(files, base);
    } catch (error) {
      log.error('tls-reload-failed', `SIGHUP: TLS reload failed, the certificates in use are kept: ${(error as Error).message}`, { cert: files.cert, key: files.key });
      return;
    }
    for (const server of servers()) {
      try {
        server.setTls(options);
      } catch (error) {
        log.error('tls-reload-failed', `SIGHUP: ${(error as Error).message}`, { code: (error as { code?: string }).code, cert: files.cert, key: files.key });
        return;
      }
    }
    log.info('tls-reloaded', `SIGHUP: TLS certificates re-read from ${files.cert}`, { cert: files.cert, key: files.key });
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

/**
 * `hooks` plus the SIGHUP reload once every endpoint is bound (the handler goes in at once, so
 * a SIGHUP during startup is not the default, fatal, action); nothing to add without the flags.
 */
export function withTlsReload(files: TlsFiles | undefined, base: TlsOptions | undefined, log: Logger, hooks: ServeHooks = {}): ServeHooks {
  if (files === undefined) return hooks;
  const servers: TcpServer[] = [];
  reloadTlsOnSighup(() => servers, files, base, log);
  return {
    ...hooks,
    ready: async (running) => {
      await hooks.ready?.(running);
      servers.push(...running.map(({ tcp }) => tcp));
    },
  };
}
