/** One output row per input: a prediction, or a named error. */
import type { SerializedError } from '../../shared/errors.ts';
import type { ItemResult, TopKEntry } from '../../shared/protocol.ts';
import type { IdLookup } from './idSet.ts';

export interface LabeledEntry {
  class: number;
  label: string;
  score: number;
}

export type OutputRow =
  | { id: string; class: number; label: string; score: number; topk: LabeledEntry[]; logits?: number[]; error: null }
  | { id: string; error: SerializedError };

export function predictionRow(id: string, topk: readonly TopKEntry[], labels: readonly string[], logits?: number[]): OutputRow {
  const entries = topk.map((e) => ({ class: e.class, label: labels[e.class] ?? `class ${e.class}`, score: e.score }));
  const best = entries[0]!;
  const row: OutputRow = { id, class: best.class, label: best.label, score: best.score, topk: entries, error: null };
  if (logits) row.logits = logits;
  return row;
}

export function errorRow(id: string, error: SerializedError): OutputRow {
  return { id, error };
}

/** The rows of a checked result: one per input of the batch, in order. */
export function rowsForResult(ids: readonly string[], items: readonly ItemResult[], labels: readonly string[]): OutputRow[] {
  return ids.map((id, i) => {
    const r = items[i]!;
    return r.ok ? predictionRow(id, r.topk, labels, r.logits) : errorRow(id, { code: r.code, message: `${id}: ${r.message}` });
  });
}

/** Where rows go: durable once `write` resolves. OutputSink implements it; tests fake it. */
export interface RowSink {
  /** Ids already in the output when the job started (resume). */
  readonly done: IdLookup;
  write(rows: readonly OutputRow[]): Promise<void>;
  /** Resolves once everything written so far is durable. */
  flushed(): Promise<void>;
}
