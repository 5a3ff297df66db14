/** The end-of-job check every coordinator test makes: one row per input, each the reference's top-1. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { readRows, type ReferencePrediction, type Row } from './reference.ts';

/** Every line of the output is a whole JSON row; returns them (a torn last line fails). */
export async function readWholeRows(out: string): Promise<Row[]> {
  const text = await fs.readFile(out, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${out} ends in a torn line: ${JSON.stringify(text.slice(text.lastIndexOf('\n') + 1))}`);
  return readRows(out);
}

/** Each id appears at most once; returns the ids. */
export function assertNoDuplicates(rows: readonly Row[]): Set<string> {
  const ids = new Set<string>();
  for (const r of rows) {
    assert.ok(!ids.has(r.id), `${r.id} has more than one row`);
    ids.add(r.id);
  }
  return ids;
}

/** The output has exactly one error-free row per input, whose class is onnxruntime-node's top-1. */
export async function assertCompleteAndCorrect(
  out: string,
  files: readonly { id: string }[],
  reference: ReadonlyMap<string, ReferencePrediction>,
): Promise<void> {
  const rows = await readWholeRows(out);
  const ids = assertNoDuplicates(rows);
  const missing = files.filter((f) => !ids.has(f.id)).map((f) => f.id);
  assert.deepEqual(missing, [], `${missing.length} input(s) have no row`);
  assert.equal(rows.length, files.length, 'rows for ids that are not inputs');
  for (const row of rows) {
    assert.equal(row.error, null, `${row.id} has an error row: ${JSON.stringify(row.error)}`);
    assert.equal(row.class, reference.get(row.id)!.top1, `${row.id}: top-1 differs from onnxruntime-node`);
  }
}
