/**
 * The dataset as a lazy stream of inputs: a directory walked with opendir (never listed whole),
 * or a manifest read line by line. Nothing here holds more than one directory handle or one
 * line at a time, so a million-input job costs no more memory than a ten-input one.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { parse } from 'csv-parse';
import { TabpoolError, type SerializedError } from '../../shared/errors.ts';

/** One input: a stable id (the output row's key) and where its bytes are. */
export interface DatasetItem {
  id: string;
  /** Absolute file path, an http(s) URL, s3://bucket/key, or `record:<file>#<row>`. */
  source: string;
  /** A record's JSON, read with the dataset (records datasets only). */
  bytes?: Uint8Array;
  /** Why this row is no input (a records file's bad line): it gets this error row. */
  error?: SerializedError;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp', '.bmp']);
const MANIFEST_EXTENSIONS = new Set(['.txt', '.lst', '.jsonl', '.ndjson', '.csv']);
/** A manifest without paths is often a file of records meant for an actor that takes them. */
const RECORDS_HINT = "; if these rows are records, not image paths, run an actor that declares static inputs = 'record' (--actor)";

export interface Dataset {
  /** What the user named, for messages. */
  describe: string;
  /** True when ids cannot repeat (a folder: one path, one id); a manifest may repeat a line. */
  uniqueIds: boolean;
  /**
   * The inputs in order, a chunk at a time: a manifest's chunk is the lines of one 1 MiB read, so
   * ten million lines are ten thousand awaits, not ten million (a resumed job reads them twice).
   */
  chunks(): AsyncIterable<readonly DatasetItem[]>;
}

/** The inputs one at a time (for a reader that wants only the first few). */
export async function* itemsOf(ds: Dataset): AsyncGenerator<DatasetItem> {
  for await (const chunk of ds.chunks()) yield* chunk;
}

/** Items gathered into chunks of up to `size`. */
export async function* inChunks(items: AsyncIterable<DatasetItem>, size = 256): AsyncGenerator<DatasetItem[]> {
  let chunk: DatasetItem[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

async function* walk(root: string, dir: string): AsyncGenerator<DatasetItem> {
  const handle = await fs.opendir(dir);
  const subdirs: string[] = [];
  for await (const entry of handle) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) subdirs.push(full);
    else if ((entry.isFile() || entry.isSymbolicLink()) && IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) {
      yield { id: path.relative(root, full).split(path.sep).join('/'), source: full };
    }
  }
  for (const sub of subdirs) yield* walk(root, sub);
}

/** True for an input the tabs fetch themselves: http(s), or S3 (given to them presigned). */
export function isRemoteSource(source: string): boolean {
  return /^(?:https?|s3):\/\//i.test(source);
}

/**
 * Resolves a manifest's reference against its folder. A plain relative path (no `.` or `..`
 * segment, no doubled or trailing slash) is joined directly: what path.resolve would give, at a
 * fraction of its cost per line.
 */
function sourceResolver(base: string): (ref: string) => string {
  const prefix = base.endsWith('/') ? base : `${base}/`;
  return (ref) => {
    if (ref.includes(':') && isRemoteSource(ref)) return ref;
    const plain = path.sep === '/' && ref !== '' && ref[0] !== '/' && !ref.endsWith('/') && !ref.includes('//');
    if (plain && !DOT_SEGMENT.test(ref)) return prefix + ref;
    return path.resolve(base, ref);
  };
}
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** A CSV manifest: a header naming a `path` (or `url`) column and optionally `id`; fields may be quoted (RFC 4180). */
async function* readCsvManifest(file: string): AsyncGenerator<DatasetItem> {
  const resolveSource = sourceResolver(path.dirname(file));
  const records = createReadStream(file).pipe(
    parse({ bom: true, relax_column_count: true, skip_empty_lines: true, comment: '#', info: true }),
  );
  let columns: { id: number; path: number } | null = null;
  for await (const { record, info } of records as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const where = `${file}:${info.lines}`;
    if (!columns) {
      const lower = record.map((c) => c.trim().toLowerCase());
      const p = lower.findIndex((c) => c === 'path' || c === 'url');
      if (p < 0)
        throw new TabpoolError(
          'BAD_MANIFEST',
          `${where}: the CSV header needs a "path" (or "url") column; found ${lower.join(', ')}` + RECORDS_HINT,
        );
      columns = { id: lower.indexOf('id'), path: p };
      continue;
    }
    const ref = record[columns.path]?.trim();
    if (!ref) throw new TabpoolError('BAD_MANIFEST', `${where} has an empty path`);
    const id = columns.id >= 0 ? record[columns.id]?.trim() || ref : ref;
    yield { id, source: resolveSource(ref) };
  }
}

/** A line-based manifest: `.txt` (a path per line) or `.jsonl` (`{"id","path"}` per line), read in 1 MiB chunks. */
async function* readLineManifest(file: string): AsyncGenerator<DatasetItem[]> {
  const ext = path.extname(file).toLowerCase();
  const json = ext === '.jsonl' || ext === '.ndjson';
  const resolveSource = sourceResolver(path.dirname(file));
  let lineNo = 0;
  const lineItems = (text: string, out: DatasetItem[]): void => {
    lineNo++;
    // A lone CR ends a line too (as readline reads it); a CR LF's CR is trimmed.
    for (const part of text.includes('\r') ? text.split('\r') : [text]) {
      const line = part.trim();
      if (line === '' || line.startsWith('#')) continue;
      const where = `${file}:${lineNo}`;
      if (!json) {
        out.push({ id: line, source: resolveSource(line) });
        continue;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        throw new TabpoolError('BAD_MANIFEST', `${where} is not JSON; each line must be like {"id": "a", "path": "images/a.png"}`);
      }
      const rec = obj as { id?: unknown; path?: unknown; url?: unknown };
      const ref = typeof rec.path === 'string' ? rec.path : typeof rec.url === 'string' ? rec.url : null;
      if (!ref) throw new TabpoolError('BAD_MANIFEST', `${where} has no "path" or "url" string` + RECORDS_HINT);
      out.push({ id: typeof rec.id === 'string' || typeof rec.id === 'number' ? String(rec.id) : ref, source: resolveSource(ref) });
    }
  };
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const bytes = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const out: DatasetItem[] = [];
    let start = 0;
    for (let end = bytes.indexOf(0x0a); end >= 0; start = end + 1, end = bytes.indexOf(0x0a, start)) {
      const fast = json ? plainJsonLine(bytes, start, end) : null;
      if (fast) {
        lineNo++;
        out.push({ id: fast.id, source: resolveSource(fast.path) });
      } else lineItems(bytes.toString('utf8', start, end), out);
    }
    pending = Buffer.from(bytes.subarray(start));
    if (out.length > 0) yield out;
  }
  const last: DatasetItem[] = [];
  if (pending.length > 0) lineItems(pending.toString('utf8'), last);
  if (last.length > 0) yield last;
}

const JSON_ID = Buffer.from('{"id":"');
const JSON_PATH = Buffer.from('","path":"');

/**
 * `{"id":"…","path":"…"}` exactly, both strings free of escapes and control characters: the
 * line as tabpool and most scripts write it, read without JSON.parse. Anything else is parsed whole.
 */
function plainJsonLine(bytes: Buffer, start: number, end: number): { id: string; path: string } | null {
  if (bytes[end - 1] !== 0x7d || bytes[end - 2] !== 0x22) return null;
  if (bytes.compare(JSON_ID, 0, JSON_ID.length, start, start + JSON_ID.length) !== 0) return null;
  const idFrom = start + JSON_ID.length;
  const idEnd = plainStringEnd(bytes, idFrom, end);
  if (idEnd < 0 || bytes.compare(JSON_PATH, 0, JSON_PATH.length, idEnd, idEnd + JSON_PATH.length) !== 0) return null;
  const pathFrom = idEnd + JSON_PATH.length;
  if (plainStringEnd(bytes, pathFrom, end) !== end - 2 || pathFrom === end - 2) return null;
  return { id: bytes.toString('utf8', idFrom, idEnd), path: bytes.toString('utf8', pathFrom, end - 2) };
}

/** Where the string starting at `from` closes (its quote), or -1 if it holds a backslash or control character first. */
function plainStringEnd(bytes: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) {
    const b = bytes[i]!;
    if (b === 0x22) return i;
    if (b === 0x5c || b < 0x20) return -1;
  }
  return -1;
}

/** Opens `--data`: checks it exists (fast, before any browser starts) and returns a lazy reader. */
export async function openDataset(target: string): Promise<Dataset> {
  const full = path.resolve(target);
  let stat;
  try {
    stat = await fs.stat(full);
  } catch {
    throw new TabpoolError(
      'DATA_NOT_FOUND',
      `--data ${target}: no such file or directory; pass a folder of images or a manifest (.txt, .jsonl, .csv)`,
    );
  }
  if (stat.isDirectory()) return { describe: full, uniqueIds: true, chunks: () => inChunks(walk(full, full)) };
  if (!MANIFEST_EXTENSIONS.has(path.extname(full).toLowerCase())) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--data ${target} is a file but not a manifest; use a folder of images or a .txt, .jsonl or .csv manifest`,
    );
  }
  const csv = path.extname(full).toLowerCase() === '.csv';
  return { describe: full, uniqueIds: false, chunks: () => (csv ? inChunks(readCsvManifest(full)) : readLineManifest(full)) };
}

/** How many inputs, and how many of them tabs fetch themselves (http(s), s3://). */
export interface DatasetCount {
  total: number;
  http: number;
  s3: number;
}

/** Counts the inputs without keeping them (the progress bar's total; zero means an empty dataset). */
export async function countDataset(ds: Dataset): Promise<DatasetCount> {
  const count = { total: 0, http: 0, s3: 0 };
  for await (const chunk of ds.chunks()) {
    count.total += chunk.length;
    for (const { source } of chunk) {
      // An absolute path (most inputs) needs no pattern.
      if (source.charCodeAt(0) === 0x2f) continue;
      if (/^s3:\/\//i.test(source)) count.s3++;
      else if (/^https?:\/\//i.test(source)) count.http++;
    }
  }
  return count;
}
