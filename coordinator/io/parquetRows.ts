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
import type { Column } from '../../shared/columns.ts';
import type { OutputRow } from './outputRow.ts';

/** Top-level columns of a part, in order: the id, the actor's declared columns, the error's code and message. */
export function partColumns(columns: readonly Column[]): string[] {
  return ['id', ...columns.map((c) => c.name), 'error_code', 'error_message'];
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

const PRIMITIVE: Record<'float32' | 'float64' | 'int32' | 'int64' | 'bool', SchemaElement['type']> = {
  float32: 'FLOAT',
  float64: 'DOUBLE',
  int32: 'INT32',
  int64: 'INT64',
  bool: 'BOOLEAN',
};

/**
 * A declared column as Parquet: scalars as their type, vectors as LIST<element>, JSON as JSON text, top-k as
 * LIST<STRUCT<class, score>>.
 */
function columnSchema(c: Column): SchemaElement[] {
  const { spec, name } = c;
  if (spec.kind === 'vector') return list(name, [{ name: 'element', type: PRIMITIVE[spec.element], repetition_type: 'REQUIRED' }]);
  switch (spec.type) {
    case 'string':
      return [text(name, 'OPTIONAL')];
    case 'json':
      return [{ name, type: 'BYTE_ARRAY', converted_type: 'JSON', logical_type: { type: 'JSON' }, repetition_type: 'OPTIONAL' }];
    case 'topk':
      return list(name, [
        { name: 'element', repetition_type: 'REQUIRED', num_children: 2 },
        { name: 'class', type: 'INT32', repetition_type: 'REQUIRED' },
        { name: 'score', type: 'DOUBLE', repetition_type: 'REQUIRED' },
      ]);
    default:
      return [{ name, type: PRIMITIVE[spec.type], repetition_type: 'OPTIONAL' }];
  }
}

/** The schema of every part. Declared columns are null on error rows, the error's on the others. */
export function partSchema(columns: readonly Column[]): SchemaElement[] {
  return [
    { name: 'root', num_children: partColumns(columns).length },
    text('id', 'REQUIRED'),
    ...columns.flatMap(columnSchema),
    text('error_code', 'OPTIONAL'),
    text('error_message', 'OPTIONAL'),
  ];
}

/**
 * A row's value of `c` as the writer takes it (int64 as bigint, top-k without labels). A JSON value goes as
 * it is: the writer encodes a JSON column's values itself (stringifying them here too made each a JSON
 * string holding the object's text, which DuckDB, pandas and Spark read as a string).
 */
function parquetValue(c: Column, v: unknown): unknown {
  if (c.spec.kind === 'vector') return v;
  if (c.spec.type === 'int64') return BigInt(v as number);
  if (c.spec.type === 'topk') return (v as { class: number; score: number }[]).map((e) => ({ class: e.class, score: e.score }));
  return v;
}

/** The bytes of a whole part file holding `rows` (one row group). */
export function encodePart(rows: readonly OutputRow[], columns: readonly Column[]): Uint8Array {
  const column = (name: string, value: (row: OutputRow) => unknown): ColumnSource => ({ name, data: rows.map(value) });
  const columnData = [
    column('id', (r) => r.id),
    ...columns.map((c) => column(c.name, (r) => (r.error === null ? parquetValue(c, (r as Record<string, unknown>)[c.name]) : null))),
    column('error_code', (r) => (r.error === null ? null : r.error.code)),
    column('error_message', (r) => (r.error === null ? null : r.error.message)),
  ];
  const buffer = parquetWriteBuffer({ schema: partSchema(columns), columnData, rowGroupSize: Math.max(1, rows.length) });
  return new Uint8Array(buffer);
}

/** Values a row holds in its vectors: parts are cut so that one holds about a million. */
export function valuesPerRow(columns: readonly Column[]): number {
  return columns.reduce((n, c) => n + (c.spec.kind === 'vector' ? c.spec.length : 1), 0);
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
