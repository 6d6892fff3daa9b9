/**
 * The certificate the TLS bench servers serve: an EC P-256 key and a self-signed certificate for
 * localhost, made once with `openssl req` into .cache/bench-tls/ (none committed), their paths
 * handed to the servers as $BENCH_TLS_KEY and $BENCH_TLS_CERT.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Makes the key and certificate in `dir` unless they are there; returns their paths. */
export function ensureBenchCertificate(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  if (existsSync(key) && existsSync(cert)) return { key, cert };
  mkdirSync(dir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { key, cert };
}

/** What a bench server gives `tls`: the files named by $BENCH_TLS_KEY and $BENCH_TLS_CERT. */
export function benchTlsMaterial(): { key: Buffer; cert: Buffer } {
  const key = process.env.BENCH_TLS_KEY;
  const cert = process.env.BENCH_TLS_CERT;
  if (key === undefined || cert === undefined) throw new Error('BENCH_TLS_KEY and BENCH_TLS_CERT must name the bench certificate (bench/run.ts sets them)');
  return { key: readFileSync(key), cert: readFileSync(cert) };
}
