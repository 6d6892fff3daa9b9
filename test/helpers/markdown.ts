/**
 * Markdown as the documentation tests read it: the prose of a page, without its fenced code
 * blocks (``` or ~~~), where a `#` line or a link is an example, not part of the page.
 */
export function withoutCodeBlocks(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}
