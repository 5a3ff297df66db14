/** One output row per input: a prediction, or a named error. */
import { IMAGENET_LABELS } from '../shared/imagenetLabels.ts';
import type { SerializedError } from '../shared/errors.ts';
import type { TopKEntry } from '../shared/protocol.ts';

export interface LabeledEntry {
  class: number;
  label: string;
  score: number;
}

export type OutputRow =
  | { id: string; class: number; label: string; score: number; topk: LabeledEntry[]; logits?: number[]; error: null }
  | { id: string; error: SerializedError };

export function labelOf(cls: number, labels: readonly string[] = IMAGENET_LABELS): string {
  return labels[cls] ?? `class ${cls}`;
}

export function predictionRow(id: string, topk: TopKEntry[], labels: readonly string[], logits?: number[]): OutputRow {
  const entries = topk.map((e) => ({ class: e.class, label: labelOf(e.class, labels), score: e.score }));
  const best = entries[0]!;
  const row: OutputRow = { id, class: best.class, label: best.label, score: best.score, topk: entries, error: null };
  if (logits) row.logits = logits;
  return row;
}

export function errorRow(id: string, error: SerializedError): OutputRow {
  return { id, error };
}
