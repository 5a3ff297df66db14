/**
 * Rows as text, and back: JSON Lines, or CSV through csv-stringify / csv-parse (RFC 4180: ids
 * holding commas, quotes, newlines, CR LF, tabs or backslashes are quoted and read back whole).
 * Reading back is what --resume does: it keeps every complete record and finds where a crash
 * cut the file short.
 */
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import type { OutputFormat } from '../jobOptions.ts';
import { IdSet } from './idSet.ts';
import type { OutputRow } from './outputRow.ts';

const CSV_COLUMNS = ['id', 'class', 'label', 'score', 'topk', 'error_code', 'error_message'] as const;

/** The CSV columns of a job: with --logits, a `logits` column holding each row's vector as a JSON array. */
export function csvColumns(logits: boolean): string[] {
  return logits ? [...CSV_COLUMNS, 'logits'] : [...CSV_COLUMNS];
}

export function csvHeader(columns: readonly string[]): string {
  return stringify([[...columns]], { record_delimiter: '\n' });
}

export function formatRows(rows: readonly OutputRow[], format: Exclude<OutputFormat, 'parquet'>, logits = false): string {
  if (format === 'jsonl') return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  const records = rows.map((row) => {
    const cells: (string | number)[] = row.error
      ? [row.id, '', '', '', '', row.error.code, row.error.message]
      : [row.id, row.class, row.label, row.score, JSON.stringify(row.topk.map((e) => [e.class, Number(e.score.toFixed(6))])), '', ''];
    if (logits) cells.push(row.error === null && row.logits ? JSON.stringify(row.logits) : '');
    return cells;
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

export async function readWrittenRows(bytes: Buffer, format: Exclude<OutputFormat, 'parquet'>): Promise<WrittenRows> {
  return format === 'jsonl' ? readJsonl(bytes) : readCsv(bytes);
}

function readJsonl(bytes: Buffer): WrittenRows {
  const ids = new IdSet();
  let errors = 0;
  let intactBytes = 0;
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) break;
    let row: { id?: unknown; error?: unknown } | null = null;
    try {
      row = JSON.parse(bytes.subarray(start, end).toString('utf8')) as { id?: unknown; error?: unknown };
    } catch {
      row = null;
    }
    // A line that does not parse can only be the one a crash cut short; anything after it is suspect.
    if (!row || typeof row.id !== 'string') break;
    ids.add(row.id);
    if (row.error) errors++;
    start = end + 1;
    intactBytes = start;
  }
  return { ids, header: null, errors, intactBytes, torn: intactBytes < bytes.length };
}

async function readCsv(bytes: Buffer): Promise<WrittenRows> {
  const ids = new IdSet();
  let header: string[] | null = null;
  let errors = 0;
  let intactBytes = 0;
  let columns: number | null = null;
  let broken = false;
  const parser = parse({
    relax_column_count: true,
    on_record: (record: string[], context: { bytes: number }) => {
      if (broken) return null;
      // A record counts only when whole: all its columns, ended by a newline inside the file.
      const ended = context.bytes <= bytes.length && bytes[context.bytes - 1] === 0x0a;
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
        if (record[5]) errors++;
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
    parser.end(bytes);
  });
  return { ids, header, errors, intactBytes, torn: intactBytes < bytes.length };
}
