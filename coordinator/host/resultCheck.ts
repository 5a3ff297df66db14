/**
 * The checks a result passes before any of its rows count: it must fit the batch it answers, and
 * each row the actor's declared columns (and the actor's own `check`, if it has one). The schema
 * already refused malformed messages; these catch well-formed lies.
 */
import { checkRow, type Column } from '../../shared/columns.ts';
import type { ItemResult } from '../../shared/protocol.ts';

/** What a row must be: the declared columns, and what else the actor checks of a row (a class index in range). */
export interface RowRules {
  columns: readonly Column[];
  check?(row: Record<string, unknown>): string | null;
}

/**
 * What is wrong with a result for a batch, or null: item count, each row against the rules, and a
 * fetch failure claimed for an input that was sent inline. `inline[i]`: item i's bytes were in the
 * frame (false for a URL the tab had to fetch).
 */
export function checkResult(inline: readonly boolean[], items: readonly ItemResult[], rules: RowRules): string | null {
  if (items.length !== inline.length) return `${items.length} items for a batch of ${inline.length}`;
  for (const [i, r] of items.entries()) {
    if (!r.ok) {
      if (r.code === 'TAB_FETCH_FAILED' && inline[i]) return `items.${i}: TAB_FETCH_FAILED for an input sent inline, not as a URL`;
      continue;
    }
    const problem = checkRow(rules.columns, r.row) ?? rules.check?.(r.row) ?? null;
    if (problem) return `items.${i}: ${problem}`;
  }
  return null;
}
