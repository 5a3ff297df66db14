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

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * A CSV cell as a record field: unquoted numbers and `true`/`false` become numbers and booleans;
 * quoted cells, the id (`007` stays `007`) and everything else stay strings.
 */
function cast(value: string, context: { quoting: boolean; column: number | string }): unknown {
  if (context.quoting || context.column === 'id') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return NUMBER.test(value) ? Number(value) : value;
}

async function* csv(file: string): AsyncGenerator<DatasetItem> {
  const records = createReadStream(file).pipe(
    parse({ bom: true, columns: true, cast, skip_empty_lines: true, relax_column_count: true, info: true }),
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

/**
 * Where the last re-read of each file stopped: re-reads come mostly in row order (a resumed job's
 * units, a barred actor's inputs), so each continues the scan the one before left off, and a whole
 * resume reads a JSONL or CSV file about once. Parquet reads the wanted row's chunk directly.
 */
const cursors = new Map<string, { rows: AsyncGenerator<DatasetItem>; next: number }>();
const locks = new Map<string, Promise<unknown>>();

async function scanTo(file: string, want: number): Promise<DatasetItem | null> {
  let c = cursors.get(file);
  if (!c || c.next > want) {
    await c?.rows.return(undefined);
    c = { rows: rows(file), next: 0 };
    cursors.set(file, c);
  }
  while (c.next <= want) {
    const r = await c.rows.next();
    if (r.done) {
      cursors.delete(file);
      return null;
    }
    c.next++;
    if (c.next - 1 === want) return r.value;
  }
  return null;
}

async function parquetRow(file: string, want: number): Promise<DatasetItem | null> {
  const source = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(source);
  if (want >= Number(metadata.num_rows)) return null;
  const [r] = await parquetReadObjects({ file: source, metadata, rowStart: want, rowEnd: want + 1 });
  return item(file, want, r, `${file} row ${want}`);
}

/** Reads record `row` of `file` again (a check, a resumed unit): its JSON bytes, or why not. */
export async function readRecordAt(source: string): Promise<{ bytes: Uint8Array } | { error: SerializedError }> {
  const m = /^record:(.*)#(\d+)$/.exec(source);
  if (!m) return { error: { code: 'BAD_RECORD', message: `${source} does not name a record` } };
  const file = m[1]!;
  const want = Number(m[2]);
  try {
    let found: DatasetItem | null;
    if (path.extname(file).toLowerCase() === '.parquet') found = await parquetRow(file, want);
    else {
      // One scan of a file at a time: concurrent re-reads wait their turn on its cursor.
      const mine = (locks.get(file) ?? Promise.resolve()).then(() => scanTo(file, want));
      locks.set(
        file,
        mine.catch(() => undefined),
      );
      found = await mine;
    }
    if (found) return found.bytes ? { bytes: found.bytes } : { error: found.error! };
  } catch (err) {
    cursors.delete(file);
    return { error: { code: 'UNREADABLE_FILE', message: `${file} could not be read (${(err as Error).message})` } };
  }
  return { error: { code: 'UNREADABLE_FILE', message: `${file} has no row ${want} any more` } };
}
