/**
 * Rows as one Parquet part file, and the ids back out of one.
 * Writer: hyparquet-writer, because it is pure JS (no wasm to load), already a runtime dependency,
 * and writes LIST<STRUCT> from an explicit schema in the standard 3-level LIST encoding that
 * DuckDB, pandas/pyarrow and Spark read as nested columns.
 * Reading back (resume) uses hyparquet, reading only the id and error_code column chunks.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ColumnSource, SchemaElement } from 'hyparquet-writer';
import type { OutputRow } from './outputRow.ts';

/** Top-level columns of a part, in order; `logits` only with --logits. */
export function partColumns(logits: boolean): string[] {
  const columns = ['id', 'class', 'label', 'score', 'topk', 'error_code', 'error_message'];
  return logits ? [...columns, 'logits'] : columns;
}

const text = (name: string, repetition: 'REQUIRED' | 'OPTIONAL'): SchemaElement => ({
  name,
  type: 'BYTE_ARRAY',
  converted_type: 'UTF8',
  logical_type: { type: 'STRING' },
  repetition_type: repetition,
});

/** A nullable LIST column in the 3-level form: `<name> (LIST) / list (repeated) / element`. */
const list = (name: string, element: SchemaElement[]): SchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  ...element,
];

/**
 * The schema of every part. Columns only predictions have are null on error rows and the other way
 * round. Logits are DOUBLE so that they read back equal to the JSON output of the same job.
 */
export function partSchema(logits: boolean): SchemaElement[] {
  return [
    { name: 'root', num_children: partColumns(logits).length },
    text('id', 'REQUIRED'),
    { name: 'class', type: 'INT32', repetition_type: 'OPTIONAL' },
    text('label', 'OPTIONAL'),
    { name: 'score', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
    ...list('topk', [
      { name: 'element', repetition_type: 'REQUIRED', num_children: 2 },
      { name: 'class', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'score', type: 'DOUBLE', repetition_type: 'REQUIRED' },
    ]),
    text('error_code', 'OPTIONAL'),
    text('error_message', 'OPTIONAL'),
    ...(logits ? list('logits', [{ name: 'element', type: 'DOUBLE', repetition_type: 'REQUIRED' }]) : []),
  ];
}

/** The bytes of a whole part file holding `rows` (one row group). */
export function encodePart(rows: readonly OutputRow[], logits: boolean): Uint8Array {
  const column = (name: string, value: (row: OutputRow) => unknown): ColumnSource => ({ name, data: rows.map(value) });
  const columnData = [
    column('id', (r) => r.id),
    column('class', (r) => (r.error === null ? r.class : null)),
    column('label', (r) => (r.error === null ? r.label : null)),
    column('score', (r) => (r.error === null ? r.score : null)),
    column('topk', (r) => (r.error === null ? r.topk.map((e) => ({ class: e.class, score: e.score })) : null)),
    column('error_code', (r) => (r.error === null ? null : r.error.code)),
    column('error_message', (r) => (r.error === null ? null : r.error.message)),
  ];
  if (logits) columnData.push(column('logits', (r) => (r.error === null ? (r.logits ?? null) : null)));
  const buffer = parquetWriteBuffer({ schema: partSchema(logits), columnData, rowGroupSize: Math.max(1, rows.length) });
  return new Uint8Array(buffer);
}

/** What a committed part holds, as far as resume needs to know. */
export interface PartIds {
  /** Its top-level column names, to check it was written with the same flags. */
  columns: string[];
  ids: string[];
  /** Whether each row (same index as `ids`) is an error row. */
  errors: boolean[];
}

/** Reads the id and error_code columns of one part file; throws if the file is not a readable part. */
export async function readPartIds(file: string): Promise<PartIds> {
  const source = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(source);
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  if (!columns.includes('id') || !columns.includes('error_code')) {
    return { columns, ids: [], errors: [] };
  }
  const rows = await parquetReadObjects({ file: source, metadata, columns: ['id', 'error_code'] });
  const ids: string[] = [];
  const errors: boolean[] = [];
  for (const row of rows) {
    if (typeof row.id !== 'string') throw new Error(`a row has id ${String(row.id)}, not a string`);
    ids.push(row.id);
    errors.push(row.error_code !== null && row.error_code !== undefined);
  }
  if (BigInt(ids.length) !== metadata.num_rows) throw new Error(`read ${ids.length} of ${metadata.num_rows} rows`);
  return { columns, ids, errors };
}
