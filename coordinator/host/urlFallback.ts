/**
 * URL inputs a tab could not fetch (CORS refused, network): the coordinator fetches them itself
 * and queues their bytes, so no row depends on one tab's network. Only when the coordinator
 * cannot fetch an input either does it get an error row, naming both failures.
 */
import type { SerializedError } from '../../shared/errors.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { InputReader, UrlResolver } from '../io/datasetFeeder.ts';
import type { InputItem, UrlItem } from '../io/inputItem.ts';

/** Coordinator fetches at once: enough to hide latency, few enough not to flood a server. */
const CONCURRENCY = 16;

export interface FallbackTarget {
  read: InputReader;
  resolveUrl: UrlResolver;
  /** An input fetched here: it goes back to the host's work with its bytes. */
  add(item: InputItem): void;
  /** An input neither the tab nor this process could fetch: it gets an error row. */
  failed(item: InputItem, error: SerializedError): void;
  /** Called after each fetch ends (the job may be done). */
  settled(): void;
}

export class UrlFallback {
  private waiting: { item: UrlItem; why: string }[] = [];
  private running = 0;

  constructor(private readonly t: FallbackTarget) {}

  /** Inputs waiting for, or in, a coordinator fetch: the job is not done while any are. */
  get pending(): number {
    return this.waiting.length + this.running;
  }

  fetchInstead(item: UrlItem, why: string): void {
    this.waiting.push({ item, why });
    this.pump();
  }

  /**
   * Splits a checked result: the URL inputs the tab could not fetch are fetched here instead (they
   * get their rows when they run again); returns the rest, with their results.
   */
  takeFailures(
    items: readonly InputItem[],
    results: readonly ItemResult[],
  ): { items: InputItem[]; results: ItemResult[]; refetched: number } {
    const kept: InputItem[] = [];
    const keptResults: ItemResult[] = [];
    let refetched = 0;
    for (const [i, item] of items.entries()) {
      const r = results[i]!;
      if (!r.ok && r.code === 'TAB_FETCH_FAILED' && 'url' in item) {
        this.fetchInstead(item, r.message);
        refetched++;
      } else {
        kept.push(item);
        keptResults.push(r);
      }
    }
    return { items: kept, results: keptResults, refetched };
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      this.running++;
      void this.fetchOne(next).finally(() => {
        this.running--;
        this.pump();
        this.t.settled();
      });
    }
  }

  private async fetchOne({ item, why }: { item: UrlItem; why: string }): Promise<void> {
    const { id, source } = item;
    let failure: string;
    try {
      const r = await this.t.read(await this.t.resolveUrl(source));
      if ('bytes' in r) {
        this.t.add({ id, source, bytes: r.bytes });
        return;
      }
      failure = r.error.message;
    } catch (err) {
      failure = (err as Error).message;
    }
    this.t.failed(item, {
      code: 'UNREADABLE_FILE',
      message: `${id}: neither a tab nor the coordinator could fetch ${source}: the tab said ${why}; the coordinator got ${failure}`,
    });
  }
}
