/**
 * The bytes the reference checks an input on: the ones the coordinator read, or, for an input a
 * tab fetched itself (a URL) or one kept without its bytes, fetched or read again from its source.
 * An input it cannot get is null: the verifier never counts it as compared.
 */
import type { InputReader, UrlResolver } from '../io/datasetFeeder.ts';
import type { InputItem } from '../io/inputItem.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { TabAnswer } from './referenceWorker.ts';

export async function bytesForCheck(item: InputItem, read: InputReader, resolveUrl: UrlResolver): Promise<Uint8Array | null> {
  if ('bytes' in item) return item.bytes;
  try {
    const r = await read('url' in item ? item.url : await resolveUrl(item.source));
    return 'bytes' in r ? r.bytes : null;
  } catch {
    return null;
  }
}

type Row = Record<string, unknown>;

/** The reference's rows for items: the actor run here (`rows`) on the bytes it could get, null where it could get or make ready none. */
export function referenceRows(
  rows: (inputs: { id: string; bytes: Uint8Array }[]) => Promise<(Row | null)[]>,
  read: InputReader,
  resolveUrl: UrlResolver,
) {
  return async (items: InputItem[]): Promise<(Row | null)[]> => {
    const bytes = await Promise.all(items.map((i) => bytesForCheck(i, read, resolveUrl)));
    const have = bytes.flatMap((b, i) => (b ? [i] : []));
    const got = have.length > 0 ? await rows(have.map((i) => ({ id: items[i]!.id, bytes: bytes[i]! }))) : [];
    const out: (Row | null)[] = items.map(() => null);
    for (const [j, i] of have.entries()) out[i] = got[j] ?? null;
    return out;
  };
}

/**
 * Tabs' answers for items checked by the actor's own `verify` (`verdicts`) on the bytes the reference can get;
 * undefined where it gets none.
 */
export function referenceVerdicts(
  verdicts: (inputs: { id: string; bytes: Uint8Array }[], answers: TabAnswer[]) => Promise<(string | null | undefined)[]>,
  read: InputReader,
  resolveUrl: UrlResolver,
) {
  return async (items: InputItem[], answers: ItemResult[]): Promise<(string | null | undefined)[]> => {
    const bytes = await Promise.all(items.map((i) => bytesForCheck(i, read, resolveUrl)));
    const have = bytes.flatMap((b, i) => (b ? [i] : []));
    const got =
      have.length > 0
        ? await verdicts(
            have.map((i) => ({ id: items[i]!.id, bytes: bytes[i]! })),
            have.map((i) => {
              const a = answers[i]!;
              return a.ok ? { row: a.row } : { code: a.code };
            }),
          )
        : [];
    const out: (string | null | undefined)[] = items.map(() => undefined);
    for (const [j, i] of have.entries()) out[i] = got[j];
    return out;
  };
}
