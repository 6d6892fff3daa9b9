import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withoutCodeBlocks } from '../helpers/markdown.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pages = ['README.md', ...readdirSync(path.join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** A heading's anchor as GitHub makes it: lower case, punctuation (en dashes too) dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const prose = withoutCodeBlocks(markdown);
  for (const [, heading] of prose.matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*$/gm)) {
    const base = heading!.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const repeats = seen.get(base) ?? 0;
    seen.set(base, repeats + 1);
    anchors.add(repeats === 0 ? base : `${base}-${repeats}`);
  }
  return anchors;
}

/** The relative links of a page (not web addresses), with their anchors; code is left out. */
function linksOf(markdown: string): { target: string; anchor: string | undefined }[] {
  const prose = withoutCodeBlocks(markdown).replace(/`[^`\n]*`/g, '');
  const links: { target: string; anchor: string | undefined }[] = [];
  for (const [, href] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(href!)) continue; // https:, mailto:
    const [target, anchor] = href!.split('#') as [string, string | undefined];
    links.push({ target, anchor });
  }
  return links;
}

/** Each page's anchors, read and computed once however many links point at it. */
const anchorCache = new Map<string, Set<string>>();
function anchorsIn(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (anchors === undefined) anchorCache.set(file, (anchors = anchorsOf(readFileSync(file, 'utf8'))));
  return anchors;
}

describe('documentation links', () => {
  for (const page of pages) {
    it(`every relative link and anchor in ${page} resolves`, () => {
      const broken: string[] = [];
      for (const { target, anchor } of linksOf(readFileSync(path.join(root, page), 'utf8'))) {
        const file = target === '' ? path.join(root, page) : path.join(root, path.dirname(page), target);
        if (!existsSync(file)) {
          broken.push(`${target}: no such file`);
          continue;
        }
        if (anchor === undefined || !file.endsWith('.md')) continue;
        if (!anchorsIn(file).has(anchor)) broken.push(`${target}#${anchor}: no such heading`);
      }
      assert.deepEqual(broken, []);
    });
  }

  it('makes anchors the way GitHub does', () => {
    const anchors = anchorsOf('# A `b`: c (d, 17:10–18:00 UTC)\n## Same\n## Same\n```\n# not a heading\n```\n');
    assert.deepEqual([...anchors], ['a-b-c-d-17101800-utc', 'same', 'same-1']);
  });
});
