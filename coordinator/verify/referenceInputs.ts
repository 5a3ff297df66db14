/**
 * The bytes the reference checks an input on: the ones the coordinator read, or, for an input a
 * tab fetched itself (a URL) or one kept without its bytes, fetched or read again from its source.
 * An input it cannot get is null: the verifier never counts it as compared.
 */
import type { InputReader, UrlResolver } from '../io/datasetFeeder.ts';
import type { InputItem } from '../io/inputItem.ts';

export async function bytesForCheck(item: InputItem, read: InputReader, resolveUrl: UrlResolver): Promise<Uint8Array | null> {
  if ('bytes' in item) return item.bytes;
  try {
    const r = await read('url' in item ? item.url : await resolveUrl(item.source));
    return 'bytes' in r ? r.bytes : null;
  } catch {
    return null;
  }
}

/**
 * The built-in classifier's reference: each input's class probabilities by the coordinator's own
 * model (`probabilities`, on the bytes it could get), null where it could get or decode none.
 */
export function classifierReference(
  probabilities: (bytes: Uint8Array[]) => Promise<(Float32Array | null)[]>,
  read: InputReader,
  resolveUrl: UrlResolver,
) {
  return async (items: InputItem[]): Promise<(Float32Array | null)[]> => {
    const bytes = await Promise.all(items.map((i) => bytesForCheck(i, read, resolveUrl)));
    const have = bytes.flatMap((b, i) => (b ? [i] : []));
    const probs = have.length > 0 ? await probabilities(have.map((i) => bytes[i]!)) : [];
    const out: (Float32Array | null)[] = items.map(() => null);
    for (const [j, i] of have.entries()) out[i] = probs[j] ?? null;
    return out;
  };
}
