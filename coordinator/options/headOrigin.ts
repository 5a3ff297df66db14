/** A standing pool's head, as a person gives it (--on): its origin, from whatever URL they have of it. */
import { TabpoolError } from '../../shared/errors.ts';

/** The head's origin from whatever URL a person has of it (its status page, its worker URL…). */
export function headOrigin(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--on ${url} is not a URL; give the head's address as tabpool serve printed it (http://host:port)`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new TabpoolError('BAD_ARGUMENT', `--on ${url}: the head is http:// or https://`);
  return u.origin;
}
