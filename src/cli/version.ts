/** The package's version, read from package.json beside `src/` (or `dist/`). */
import { readFileSync } from 'node:fs';

/** `0.1.0`, or `unknown` when package.json cannot be read. */
export function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}
