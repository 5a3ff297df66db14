/**
 * Reads the dataset ahead of the actors, within a bounded window: inputs are read several at a
 * time (a file read costs more waiting than work), unreadable or non-image inputs become error
 * rows at once, and reading pauses while the window is full.
 */
import type { ActorInputs } from '../../shared/actorApi.ts';
import type { SerializedError } from '../../shared/errors.ts';
import { sniffImage } from '../../shared/imageHeader.ts';
import { isRemoteSource, itemChunks, type Dataset, type DatasetItem } from './dataset.ts';
import { IdSet } from './idSet.ts';
import { MAX_RECORD_BYTES } from './recordLimits.ts';
import type { InlineItem, UrlItem } from './inputItem.ts';
import { readInput, type ReadResult } from './inputReader.ts';
import { errorRow, type OutputRow } from './outputRow.ts';

/** Reads in flight at once: enough to hide file-system latency, few enough to bound memory. */
const READ_CONCURRENCY = 32;

/** Turns a remote source into the URL a tab fetches (s3:// is presigned); http(s) stays as it is. */
export type UrlResolver = (source: string) => Promise<string>;

export interface FeederTarget {
  /** Ids already in the output (resume). */
  skip: { has(id: string): boolean };
  /** True while the queue has room for more read-ahead. */
  wantsMore(): boolean;
  add(item: InlineItem | UrlItem): void;
  writeErrors(rows: OutputRow[]): Promise<void>;
  stopped(): boolean;
  log(line: string): void;
}

export type InputReader = (source: string) => Promise<ReadResult>;

export class DatasetFeeder {
  private wakeUp: (() => void) | null = null;

  constructor(
    private readonly dataset: Dataset,
    private readonly target: FeederTarget,
    private readonly inputs: ActorInputs,
    private readonly read: InputReader = readInput,
    private readonly resolveUrl: UrlResolver = async (source) => source,
  ) {}

  /** Called when inputs leave the window: reading resumes. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  async run(): Promise<void> {
    const t = this.target;
    let errors: OutputRow[] = [];
    const seen = this.dataset.uniqueIds ? null : new IdSet();
    const reads = new Set<Promise<void>>();
    const start = (item: DatasetItem): void => {
      const p = readDatasetItem(item, this.inputs, this.read, this.resolveUrl).then((r) => {
        reads.delete(p);
        if ('error' in r) errors.push(errorRow(item.id, r.error));
        else t.add(r);
      });
      reads.add(p);
    };
    read: for await (const chunk of itemChunks(this.dataset))
      for (const item of chunk) {
        if (t.stopped()) break read;
        if (t.skip.has(item.id)) continue;
        if (seen && !seen.add(item.id)) {
          t.log(`input id ${item.id} appears twice in the dataset; the second is skipped (one row per id)`);
          continue;
        }
        start(item);
        if (reads.size >= READ_CONCURRENCY) await Promise.race(reads);
        if (errors.length >= 64) {
          const rows = errors;
          errors = [];
          await t.writeErrors(rows);
        }
        while (!t.wantsMore() && !t.stopped()) {
          await new Promise<void>((resolve) => (this.wakeUp = resolve));
        }
      }
    await Promise.all(reads);
    if (errors.length > 0) await t.writeErrors(errors);
  }
}

/**
 * An input of the dataset, ready for a batch: its bytes (read here; an image's header checked, a
 * file's size) or the URL a tab fetches it from.
 */
export async function readDatasetItem(
  item: DatasetItem,
  inputs: ActorInputs,
  read: InputReader = readInput,
  resolveUrl: UrlResolver = async (source) => source,
): Promise<InlineItem | UrlItem | { error: SerializedError }> {
  if (item.error) return { error: item.error };
  if (item.bytes) {
    // A record, read with the dataset: size-checked here, parsed by the actor's tab.
    if (item.bytes.byteLength > MAX_RECORD_BYTES) {
      return {
        error: {
          code: 'RECORD_TOO_LARGE',
          message:
            `${item.id}: the record is ${item.bytes.byteLength} bytes of JSON, over the ${MAX_RECORD_BYTES}-byte ` +
            `limit; split it, or send a URL to the data instead`,
        },
      };
    }
    return { id: item.id, source: item.source, bytes: item.bytes };
  }
  if (isRemoteSource(item.source)) {
    // Bytes on HTTP or object storage go from there to the tab, not through the coordinator.
    try {
      return { id: item.id, url: await resolveUrl(item.source), source: item.source };
    } catch (err) {
      return { error: { code: 'UNREADABLE_FILE', message: `${item.id}: ${(err as Error).message}` } };
    }
  }
  const r = await read(item.source);
  if ('error' in r) {
    // The byte cap is an image's as a file's; a file that is no image is told so by its own code.
    if (inputs === 'file' && r.error.code === 'IMAGE_TOO_LARGE') return { error: { code: 'FILE_TOO_LARGE', message: r.error.message } };
    return { error: r.error };
  }
  if (inputs === 'file') {
    if (r.bytes.byteLength === 0) return { error: { code: 'EMPTY_FILE', message: `${item.id}: file is empty (0 bytes)` } };
    return { id: item.id, bytes: r.bytes, source: item.source };
  }
  const header = sniffImage(r.bytes);
  if (!header.ok) return { error: { code: header.code, message: `${item.id}: ${header.message}` } };
  return { id: item.id, bytes: r.bytes, source: item.source };
}
