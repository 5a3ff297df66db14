/** Text for the generated pages. */
/** `<` outside code spans as `&lt;`: the site reads Markdown's raw HTML as Vue templates, and a note may say `Set<string>`. */
export function plainText(markdown: string): string {
  return markdown
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '&lt;') : part))
    .join('`');
}
