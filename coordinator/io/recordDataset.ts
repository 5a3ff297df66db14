/**
 * A records dataset, for an actor that declares `static inputs = 'record'`: the rows of a JSON
 * Lines, CSV or Parquet file, read lazily, each a plain object. A record's id is its `id` field,
 * else its row number (0, 1, …); it travels to the tab as UTF-8 JSON. A row that is not a record
 * (a line that is not a JSON object) becomes that row's BAD_RECORD error, naming the file and line;
 * nothing else is lost. Each record's source is `record:<file>#<row>`, so it can be read again.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { parse } from 'csv-parse';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { TabpoolError, type SerializedError } from '../../shared/errors.ts';
import type { Dataset, DatasetItem } from './dataset.ts';

export const RECORD_EXTENSIONS = new Set(['.jsonl', '.ndjson', '.csv', '.parquet']);
/** Parquet rows are read this many at a time. */
const PARQUET_CHUNK = 4096;

const encoder = new TextEncoder();

export function recordSource(file: string, row: number): string {
  return `record:${file}#${row}`;
}

/** A JSON-safe copy: int64 values (bigint) as numbers where exact, else strings; bytes as arrays. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Array.from(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function item(file: string, row: number, value: unknown, where: string): DatasetItem {
  const source = recordSource(file, row);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const error: SerializedError = {
      code: 'BAD_RECORD',
      message: `${where}: a record is a JSON object (with an optional "id"); got ${Array.isArray(value) ? 'an array' : typeof value}`,
    };
    return { id: String(row), source, error };
  }
  const rec = plain(value) as Record<string, unknown>;
  const id = typeof rec.id === 'string' || typeof rec.id === 'number' ? String(rec.id) : String(row);
  return { id, source, bytes: encoder.encode(JSON.stringify(rec)) };
}

async function* jsonl(file: string): AsyncGenerator<DatasetItem> {
  const lines = readline.createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let lineNo = 0;
  let row = 0;
  for await (const raw of lines) {
    lineNo++;
    if (raw.trim() === '') continue;
    const where = `${file}:${lineNo}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      yield {
        id: String(row),
        source: recordSource(file, row),
        error: { code: 'BAD_RECORD', message: `${where} is not JSON (${(err as Error).message}); fix the line, or remove it` },
      };
      row++;
      continue;
    }
    yield item(file, row++, value, where);
  }
}

async function* csv(file: string): AsyncGenerator<DatasetItem> {
  // cast: numbers and booleans become numbers and booleans; everything else stays a string.
  const records = createReadStream(file).pipe(
    parse({ bom: true, columns: true, cast: true, skip_empty_lines: true, relax_column_count: true, info: true }),
  );
  let row = 0;
  for await (const { record, info } of records as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number } }>) {
    yield item(file, row++, record, `${file}:${info.lines}`);
  }
}

async function* parquet(file: string): AsyncGenerator<DatasetItem> {
  const source = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(source);
  const total = Number(metadata.num_rows);
  for (let start = 0; start < total; start += PARQUET_CHUNK) {
    const rows = await parquetReadObjects({ file: source, metadata, rowStart: start, rowEnd: Math.min(total, start + PARQUET_CHUNK) });
    for (const [i, r] of rows.entries()) yield item(file, start + i, r, `${file} row ${start + i}`);
  }
}

function rows(file: string): AsyncGenerator<DatasetItem> {
  const ext = path.extname(file).toLowerCase();
  return ext === '.csv' ? csv(file) : ext === '.parquet' ? parquet(file) : jsonl(file);
}

/** Opens `--data` as records: checks it exists and is a records file before any browser starts. */
export async function openRecords(target: string): Promise<Dataset> {
  const full = path.resolve(target);
  const stat = await fs.stat(full).catch(() => null);
  if (!stat)
    throw new TabpoolError('DATA_NOT_FOUND', `--data ${target}: no such file; a records actor reads a .jsonl, .csv or .parquet file`);
  if (stat.isDirectory() || !RECORD_EXTENSIONS.has(path.extname(full).toLowerCase())) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--data ${target}: the actor reads records (static inputs = 'record'), from a .jsonl, .csv or .parquet file; ` +
        "for a folder of images the actor must declare static inputs = 'image'",
    );
  }
  return { describe: full, uniqueIds: false, items: () => rows(full) };
}

/** Reads record `row` of `file` again (a check, a resumed unit): its JSON bytes, or why not. */
export async function readRecordAt(source: string): Promise<{ bytes: Uint8Array } | { error: SerializedError }> {
  const m = /^record:(.*)#(\d+)$/.exec(source);
  if (!m) return { error: { code: 'BAD_RECORD', message: `${source} does not name a record` } };
  const want = Number(m[2]);
  try {
    for await (const it of rows(m[1]!)) {
      if (it.source !== source) continue;
      return it.bytes ? { bytes: it.bytes } : { error: it.error! };
    }
  } catch (err) {
    return { error: { code: 'UNREADABLE_FILE', message: `${m[1]} could not be read (${(err as Error).message})` } };
  }
  return { error: { code: 'UNREADABLE_FILE', message: `${m[1]} has no row ${want} any more` } };
}
