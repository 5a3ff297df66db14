/** The built-in classifier's columns and rows, for the sink tests: what a job on the classifier writes. */
import Classifier from '../../actors/classifier.ts';
import type { OutputRow } from '../../coordinator/io/outputRow.ts';
import { parseOutputs, type Column } from '../../shared/columns.ts';

/** The classifier's columns: with `logits`, a logits vector of that many classes. */
export function classifierColumns(logits: number | null = null): Column[] {
  const config = {
    inputName: 'i',
    outputName: 'o',
    numClasses: logits ?? 1000,
    topK: 5,
    logits: logits !== null,
    labels: 'index' as const,
    fixedBatch: null,
  };
  const parsed = parseOutputs(Classifier.outputs(config));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.columns;
}

/** A prediction row as the classifier makes one: its top-k (class, score), labelled from `labels`. */
export function predictionRow(
  id: string,
  topk: { class: number; score: number }[],
  labels: readonly string[],
  logits?: number[],
): OutputRow {
  const entries = topk.map((e) => ({ class: e.class, label: labels[e.class] ?? `class ${e.class}`, score: e.score }));
  const row: Record<string, unknown> = { id, class: entries[0]!.class, label: entries[0]!.label, score: entries[0]!.score, topk: entries };
  if (logits) row.logits = logits;
  return { ...row, error: null } as OutputRow;
}
