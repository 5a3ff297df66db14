/**
 * One input of the job, the same type from the dataset reader to the batch queue, the output and
 * the verifier: its id, `source` (what the dataset named: a file path, https:// or s3://), and
 * either its bytes (read and checked by the coordinator) or the URL a tab fetches it from. An input
 * kept only to be found again (the queue mode's collector keeps no bytes) is `{ id, source }`: whoever
 * needs its bytes reads them again from the source.
 */
export type InputItem = InlineItem | UrlItem | SourceItem;

export interface InlineItem {
  id: string;
  source: string;
  bytes: Uint8Array;
}

export interface UrlItem {
  id: string;
  source: string;
  url: string;
}

export interface SourceItem {
  id: string;
  source: string;
}

/** Bytes an item keeps in memory (the read-ahead and the queue are bounded by these). */
export function bytesOf(item: InputItem): number {
  return 'bytes' in item ? item.bytes.byteLength : 0;
}

/** What is sent to a tab for this item: its bytes, or the URL it fetches (a source-only item has neither). */
export function wireInput(item: InputItem): Uint8Array | { url: string } {
  if ('bytes' in item) return item.bytes;
  if ('url' in item) return { url: item.url };
  throw new Error(`input ${item.id} has neither bytes nor a URL: it must be read again before it is sent`);
}

/** The item without its bytes: its id and source (a URL item keeps its URL, which costs nothing). */
export function withoutBytes(item: InputItem): UrlItem | SourceItem {
  return 'url' in item ? item : { id: item.id, source: item.source };
}
