/**
 * Rows as text, and back: JSON Lines, or CSV through csv-stringify / csv-parse (RFC 4180: ids
 * holding commas, quotes, newlines, CR LF, tabs or backslashes are quoted and read back whole).
 * Reading back is what --resume does: it keeps every complete record and finds where a crash
 * cut the file short.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import type { OutputFormat } from '../options/jobOptions.ts';
import type { Column } from '../../shared/columns.ts';
import { IdSet } from './idSet.ts';
import type { OutputRow } from './outputRow.ts';

/** The CSV columns of a job: its id, the actor's declared columns, then the error's code and message. */
export function csvColumns(columns: readonly Column[]): string[] {
  return ['id', ...columns.map((c) => c.name), 'error_code', 'error_message'];
}

export function csvHeader(names: readonly string[]): string {
  return stringify([[...names]], { record_delimiter: '\n' });
}

/**
 * One value in a CSV cell: numbers and strings as they are, booleans as true/false, vectors and
 * JSON JSON-encoded in the cell, a top-k list compactly as `[[class, score], …]` (scores to 6 places).
 */
function cell(c: Column, v: unknown): string | number {
  if (c.spec.kind === 'vector') return JSON.stringify(v);
  switch (c.spec.type) {
    case 'float32':
    case 'float64':
    case 'int32':
    case 'int64':
      return v as number;
    case 'bool':
      return v ? 'true' : 'false';
    case 'string':
      return v as string;
    case 'json':
      return JSON.stringify(v);
    case 'topk':
      return JSON.stringify((v as { class: number; score: number }[]).map((e) => [e.class, Number(e.score.toFixed(6))]));
    default: {
      const never: never = c.spec.type;
      return String(never);
    }
  }
}

/** Rows as JSON Lines (`{id, ...columns, error}`) or CSV records. */
export function formatRows(rows: readonly OutputRow[], format: Exclude<OutputFormat, 'parquet'>, columns: readonly Column[]): string {
  if (format === 'jsonl') return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  const records = rows.map((row) => {
    if (row.error) return [row.id, ...columns.map(() => ''), row.error.code, row.error.message];
    const r = row as Record<string, unknown>;
    return [row.id, ...columns.map((c) => cell(c, r[c.name])), '', ''];
  });
  return stringify(records, { record_delimiter: '\n', quoted_match: /[\t\\]/ });
}

/** What a previous run left in an output file. */
export interface WrittenRows {
  ids: IdSet;
  /** A CSV file's header (its column names), null for JSON Lines or an empty file. */
  header: string[] | null;
  /** How many of those rows are errors. */
  errors: number;
  /** Bytes of whole records from the start; anything after them is a record a crash cut short. */
  intactBytes: number;
  torn: boolean;
}

/**
 * What an output file holds, read as a stream (a resumed job's output may be gigabytes; only its
 * ids are kept, in the compact exact set).
 */
export async function readWrittenRows(file: string, format: Exclude<OutputFormat, 'parquet'>): Promise<WrittenRows> {
  return format === 'jsonl' ? readJsonl(file) : readCsv(file);
}

const CHUNK = 1 << 20;

async function readJsonl(file: string): Promise<WrittenRows> {
  const ids = new IdSet();
  let errors = 0;
  let intactBytes = 0;
  const { size } = await fs.stat(file);
  let pending: Buffer = Buffer.alloc(0);
  let stopped = false;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
    // Past a line that does not parse nothing is kept: the rest of the file is not read.
    if (stopped) break;
    const bytes = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(0x0a, start);
      if (end < 0) break;
      let row: { id?: unknown; error?: unknown } | null = fastRow(bytes, start, end);
      if (!row) {
        try {
          row = JSON.parse(bytes.subarray(start, end).toString('utf8')) as { id?: unknown; error?: unknown };
        } catch {
          row = null;
        }
      }
      // A line that does not parse can only be the one a crash cut short; anything after it is suspect.
      if (!row || typeof row.id !== 'string') {
        stopped = true;
        break;
      }
      ids.add(row.id);
      if (row.error) errors++;
      intactBytes += end + 1 - start;
      start = end + 1;
    }
    pending = stopped ? Buffer.alloc(0) : Buffer.from(bytes.subarray(start));
  }
  return { ids, header: null, errors, intactBytes, torn: intactBytes < size };
}

const ID_PREFIX = Buffer.from('{"id":"');
const NO_ERROR_SUFFIX = Buffer.from(',"error":null}');

/**
 * A row as tabpool writes it (`{"id":"…",…,"error":null}`, the id free of escapes) read without
 * parsing it whole: a resumed output of ten million rows is read in seconds, not half a minute.
 * Anything else (an error row, an escaped id, another shape) is left to JSON.parse. A crash can
 * only cut the file's last line, which has no newline and is never read as a row.
 */
function fastRow(bytes: Buffer, start: number, end: number): { id: string; error: null } | null {
  const from = start + ID_PREFIX.length;
  if (end - start < ID_PREFIX.length + NO_ERROR_SUFFIX.length + 1) return null;
  if (bytes.compare(ID_PREFIX, 0, ID_PREFIX.length, start, from) !== 0) return null;
  if (bytes.compare(NO_ERROR_SUFFIX, 0, NO_ERROR_SUFFIX.length, end - NO_ERROR_SUFFIX.length, end) !== 0) return null;
  const quote = bytes.indexOf(0x22, from);
  if (quote < 0 || quote >= end - NO_ERROR_SUFFIX.length) return null;
  for (let i = from; i < quote; i++) if (bytes[i] === 0x5c || bytes[i]! < 0x20) return null;
  return { id: bytes.toString('utf8', from, quote), error: null };
}

async function readCsv(file: string): Promise<WrittenRows> {
  const ids = new IdSet();
  let header: string[] | null = null;
  let errors = 0;
  let intactBytes = 0;
  let columns: number | null = null;
  let broken = false;
  const { size } = await fs.stat(file);
  // Whether the file ends with a newline: its last record is whole only then.
  const last = Buffer.alloc(1);
  if (size > 0) {
    const h = await fs.open(file, 'r');
    await h.read(last, 0, 1, size - 1);
    await h.close();
  }
  const parser = parse({
    relax_column_count: true,
    on_record: (record: string[], context: { bytes: number }) => {
      if (broken) return null;
      // A record counts only when whole: all its columns, ended by a newline inside the file.
      const ended = context.bytes < size || (context.bytes === size && last[0] === 0x0a);
      if ((columns !== null && record.length !== columns) || !ended) {
        broken = true;
        return null;
      }
      // The header says how many columns every record has (a `logits` column with --logits).
      if (columns === null) {
        columns = record.length;
        header = record;
      } else {
        ids.add(record[0]!);
        if (record[columns - 2]) errors++;
      }
      intactBytes = context.bytes;
      return null;
    },
  });
  await new Promise<void>((resolve) => {
    parser.on('end', resolve);
    // A quote left open by a crash mid-record: the records before it stand.
    parser.on('error', () => resolve());
    parser.resume();
    createReadStream(file, { highWaterMark: CHUNK }).pipe(parser);
  });
  return { ids, header, errors, intactBytes, torn: intactBytes < size };
}
