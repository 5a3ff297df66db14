/**
 * The checks a result passes before any of its rows count: it must fit the batch it answers.
 * The schema already refused malformed messages; these catch well-formed lies.
 */
import type { ItemResult } from '../../shared/protocol.ts';

export interface ResultLimits {
  numClasses: number;
  topK: number;
  logits: boolean;
}

/**
 * What is wrong with a result for a batch, or null: item count, class range, top-k length,
 * logits, and a fetch failure claimed for an input that was sent inline. `inline[i]`: item i's
 * bytes were in the frame (false for a URL the tab had to fetch).
 */
export function checkResult(inline: readonly boolean[], items: readonly ItemResult[], limits: ResultLimits): string | null {
  if (items.length !== inline.length) return `${items.length} items for a batch of ${inline.length}`;
  for (const [i, r] of items.entries()) {
    if (!r.ok) {
      if (r.code === 'TAB_FETCH_FAILED' && inline[i]) return `items.${i}: TAB_FETCH_FAILED for an input sent inline, not as a URL`;
      continue;
    }
    if (r.topk.length > limits.topK) return `items.${i}.topk has ${r.topk.length} entries, more than --top-k ${limits.topK}`;
    for (const e of r.topk)
      if (e.class >= limits.numClasses) return `items.${i}: class ${e.class} out of range (the model has ${limits.numClasses})`;
    if (r.logits && r.logits.length !== limits.numClasses)
      return `items.${i}.logits has ${r.logits.length} values, expected ${limits.numClasses}`;
    if (!limits.logits && r.logits) return `items.${i}.logits sent but not requested`;
  }
  return null;
}
