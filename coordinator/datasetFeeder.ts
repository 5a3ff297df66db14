/**
 * Reads the dataset into batches, ahead of the actors but within a bounded window: inputs are
 * read several at a time (a file read costs more waiting than work), unreadable or non-image
 * inputs become error rows at once, and reading pauses while the window of batches is full.
 */
import type { SerializedError } from '../shared/errors.ts';
import { sniffImage } from '../shared/imageHeader.ts';
import type { BatchItem } from './batchQueue.ts';
import type { Dataset, DatasetItem } from './dataset.ts';
import { IdSet } from './idSet.ts';
import { readInput } from './inputReader.ts';
import { errorRow, type OutputRow } from './outputRow.ts';

/** Reads in flight at once: enough to hide file-system latency, few enough to bound memory. */
const READ_CONCURRENCY = 32;

export interface FeederTarget {
  batchSize: number;
  /** Batches allowed to wait for an actor before reading pauses. */
  window: number;
  /** Ids already in the output (resume). */
  skip: ReadonlySet<string>;
  pendingBatches(): number;
  addBatch(items: BatchItem[]): void;
  writeErrors(rows: OutputRow[]): Promise<void>;
  stopped(): boolean;
  log(line: string): void;
}

export class DatasetFeeder {
  private wakeUp: (() => void) | null = null;

  constructor(
    private readonly dataset: Dataset,
    private readonly target: FeederTarget,
  ) {}

  /** Called when batches leave the window: reading resumes. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  async run(): Promise<void> {
    const t = this.target;
    let batch: BatchItem[] = [];
    let errors: OutputRow[] = [];
    const seen = this.dataset.uniqueIds ? null : new IdSet();
    const reads = new Set<Promise<void>>();
    const read = (item: DatasetItem): void => {
      const p = readItem(item).then((r) => {
        reads.delete(p);
        if ('error' in r) errors.push(errorRow(item.id, r.error));
        else batch.push(r);
        if (batch.length >= t.batchSize) {
          t.addBatch(batch);
          batch = [];
        }
      });
      reads.add(p);
    };
    for await (const item of this.dataset.items()) {
      if (t.stopped()) break;
      if (t.skip.has(item.id)) continue;
      if (seen && !seen.add(item.id)) {
        t.log(`input id ${item.id} appears twice in the dataset; the second is skipped (one row per id)`);
        continue;
      }
      read(item);
      if (reads.size >= READ_CONCURRENCY) await Promise.race(reads);
      if (errors.length >= t.batchSize) {
        const rows = errors;
        errors = [];
        await t.writeErrors(rows);
      }
      while (t.pendingBatches() >= t.window && !t.stopped()) {
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
      }
    }
    await Promise.all(reads);
    if (batch.length > 0 && !t.stopped()) t.addBatch(batch);
    if (errors.length > 0) await t.writeErrors(errors);
  }
}

async function readItem(item: DatasetItem): Promise<BatchItem | { error: SerializedError }> {
  const r = await readInput(item.source);
  if ('error' in r) return { error: r.error };
  const header = sniffImage(r.bytes);
  if (!header.ok) return { error: { code: header.code, message: `${item.id}: ${header.message}` } };
  return { id: item.id, bytes: r.bytes };
}
