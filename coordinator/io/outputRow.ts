/**
 * One output row per input: the actor's declared columns (`{ id, ...columns, error: null }`), or a
 * named error (`{ id, error: { code, message } }`).
 */
import type { SerializedError } from '../../shared/errors.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { IdLookup } from './idSet.ts';

export type OutputRow = ({ id: string; error: null } & { [column: string]: unknown }) | { id: string; error: SerializedError };

export function errorRow(id: string, error: SerializedError): OutputRow {
  return { id, error };
}

/** The rows of a checked result: one per input of the batch, in order. */
export function rowsForResult(ids: readonly string[], items: readonly ItemResult[]): OutputRow[] {
  return ids.map((id, i) => {
    const r = items[i]!;
    return r.ok ? ({ id, ...r.row, error: null } as OutputRow) : errorRow(id, { code: r.code, message: `${id}: ${r.message}` });
  });
}

/** Where rows go: durable once `write` resolves. OutputSink implements it; tests fake it. */
export interface RowSink {
  /** Ids already in the output when the job started (resume). */
  readonly written: IdLookup;
  write(rows: readonly OutputRow[]): Promise<void>;
  /** Resolves once everything written so far is durable. */
  flushed(): Promise<void>;
}
