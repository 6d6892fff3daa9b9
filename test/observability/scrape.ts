/** Helpers for the observability tests: read a scrape back, run promtool on it, HTTP requests. */
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { within } from '../helpers/net.ts';

/** Every sample of a scrape: `name{labels}` (as written) → value. */
export function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** The sum of a metric's samples whose labels include every `label="value"` in `match`. */
export function total(samples: Map<string, number>, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const [series, value] of samples) {
    if (!series.startsWith(`${name}{`) && series !== name) continue;
    if (Object.entries(match).every(([label, wanted]) => series.includes(`${label}="${wanted}"`))) sum += value;
  }
  return sum;
}

/** promtool's verdict on a scrape, or undefined when promtool is not installed. */
export function promtoolCheck(text: string): { status: number; output: string } | undefined {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** One HTTP response, read whole. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A bounded HTTP request to loopback. */
export function httpRequest(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<HttpResult> {
  return within(
    new Promise<HttpResult>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }),
    `${method} ${path}`,
  );
}
