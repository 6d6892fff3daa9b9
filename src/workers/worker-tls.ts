/**
 * A worker's TLS: the certificate files its primary named (each worker reads them itself; PEM
 * never travels over IPC), laid over the module's own `tls` options (its mode, ALPN, ... stay),
 * with the session-ticket keys the whole set shares. The material read last is kept, so a
 * ticket-key rotation changes the keys only; a reload (SIGHUP to the primary) re-reads the files.
 */
import type { TlsOptions } from '../tls/tls-options.ts';
import { nodeFs } from '../core/builtins.ts';

/** The TLS files of a worker set, as the CLI's `--tls-*` flags name them. */
export interface WorkerTlsFiles {
  /** The certificate chain, PEM, leaf first. */
  readonly cert: string;
  /** Its private key, PEM. */
  readonly key: string;
  /** CA certificates client certificates must chain to. */
  readonly ca?: string | undefined;
  /** Ask clients for a certificate: `required` (refuse without a valid one) or `optional`. */
  readonly clientCert?: 'required' | 'optional' | undefined;
}

/** The `tls` option of one worker's TCP server, rebuilt as keys rotate and files are re-read. @internal */
export class WorkerTls {
  readonly #files: WorkerTlsFiles | undefined;
  readonly #base: TlsOptions | undefined;
  #material: TlsOptions;
  #ticketKeys: Buffer | undefined;

  /** @throws {Error} naming a file that cannot be read */
  constructor(files: WorkerTlsFiles | undefined, base: TlsOptions | undefined, ticketKeys: Buffer | undefined) {
    this.#files = files;
    this.#base = base;
    this.#ticketKeys = ticketKeys;
    this.#material = files === undefined ? {} : readMaterial(files);
  }

  /** Whether the server has TLS at all (files, or the module's own `tls`). */
  get enabled(): boolean {
    return this.#files !== undefined || this.#base !== undefined;
  }

  /** The option now; undefined without TLS. */
  options(): TlsOptions | undefined {
    if (!this.enabled) return undefined;
    // The files' material replaces the module's (and a context of its own, which would ignore the keys).
    const base: TlsOptions = { ...this.#base };
    if (this.#files !== undefined) delete base.secureContext;
    return { ...base, ...this.#material, ...(this.#ticketKeys && { ticketKeys: this.#ticketKeys }) };
  }

  /** New shared keys. */
  setTicketKeys(keys: Buffer): void {
    this.#ticketKeys = keys;
  }

  /** Re-reads the files; what was read before stays when one cannot be. @throws {Error} naming the file */
  reload(): void {
    if (this.#files !== undefined) this.#material = readMaterial(this.#files);
  }
}

function readMaterial(files: WorkerTlsFiles): TlsOptions {
  const read = (what: string, path: string): Buffer => {
    try {
      return nodeFs().readFileSync(path);
    } catch (error) {
      throw new Error(`TLS ${what} ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, { cause: error });
    }
  };
  const material: TlsOptions = { cert: read('certificate', files.cert), key: read('key', files.key) };
  if (files.ca !== undefined) material.ca = read('CA file', files.ca);
  if (files.clientCert !== undefined) {
    material.requestCert = true;
    material.rejectUnauthorized = files.clientCert === 'required';
  }
  return material;
}
