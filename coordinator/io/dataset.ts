/**
 * The dataset as a lazy stream of inputs: a directory walked with opendir (never listed whole),
 * or a manifest read a chunk of lines at a time. Nothing here holds more than one directory handle
 * or one 1 MiB chunk at a time, so a million-input job costs no more memory than a ten-input one.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
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
  items(): AsyncIterable<DatasetItem>;
  /**
   * The same inputs a read's worth at a time, where the dataset reads so (a manifest): a pass over
   * millions of lines awaits per chunk, not per line.
   */
  chunks?(): AsyncIterable<DatasetItem[]>;
}

/** A dataset's inputs in chunks: its own, or one input a chunk. */
export async function* itemChunks(ds: Dataset): AsyncGenerator<DatasetItem[]> {
  if (ds.chunks) yield* ds.chunks();
  else for await (const item of ds.items()) yield [item];
}

async function* flatten(chunks: AsyncIterable<DatasetItem[]>): AsyncGenerator<DatasetItem> {
  for await (const chunk of chunks) yield* chunk;
}

/** What a folder dataset holds: image files (by extension), or every file (an actor that reads files). */
export type FolderKind = 'image' | 'file';

async function* walk(root: string, dir: string, kind: FolderKind): AsyncGenerator<DatasetItem> {
  const handle = await fs.opendir(dir);
  const subdirs: string[] = [];
  for await (const entry of handle) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) subdirs.push(full);
    else if (
      (entry.isFile() || entry.isSymbolicLink()) &&
      (kind === 'file' || IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase()))
    ) {
      yield { id: path.relative(root, full).split(path.sep).join('/'), source: full };
    }
  }
  for (const sub of subdirs) yield* walk(root, sub, kind);
}

/** True for an input the tabs fetch themselves: http(s), or S3 (given to them presigned). */
export function isRemoteSource(source: string): boolean {
  return /^(?:https?|s3):\/\//i.test(source);
}

function resolveSource(base: string, ref: string): string {
  if (isRemoteSource(ref)) return ref;
  // A plain relative path (no dot segment, doubled or trailing slash, or backslash) joins as it is: what path.resolve
  // gives, without its normalising pass (ten million lines read twice make that a few seconds).
  if (path.sep === '/' && PLAIN_RELATIVE.test(ref) && !ref.includes('/.') && !ref.includes('//') && !ref.endsWith('/'))
    return `${base}/${ref}`;
  return path.resolve(base, ref);
}

const PLAIN_RELATIVE = /^[^/.\\][^\\]*$/;

/** A CSV manifest: a header naming a `path` (or `url`) column and optionally `id`; fields may be quoted (RFC 4180). */
async function* readCsvManifest(file: string): AsyncGenerator<DatasetItem> {
  const base = path.dirname(file);
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
    yield { id, source: resolveSource(base, ref) };
  }
}

/**
 * A text file's lines, a chunk's worth at a time (readline's event per line costs more than the
 * parsing): \n, \r\n and a lone \r each end a line, as readline has them. Each line is decoded on
 * its own, so a string kept from it (an id) holds on to its line, not to the 1 MiB chunk.
 */
async function* lineChunks(file: string): AsyncGenerator<string[]> {
  let rest = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: LINE_CHUNK_BYTES })) {
    const buf = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    const { lines, end } = splitLines(buf, false);
    rest = Buffer.from(buf.subarray(end));
    yield lines;
  }
  if (rest.length > 0) yield splitLines(rest, true).lines;
}

/** The lines of `buf`, and where the unfinished one at its end starts (none when `last`). */
function splitLines(buf: Buffer, last: boolean): { lines: string[]; end: number } {
  const lines: string[] = [];
  let start = 0;
  let lf = buf.indexOf(LF);
  let cr = buf.indexOf(CR);
  for (;;) {
    const at = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
    // A \r at the very end may be half of a \r\n: it waits for the next chunk.
    if (at < 0 || (at === buf.length - 1 && at === cr && !last)) break;
    lines.push(buf.toString('utf8', start, at));
    start = at === cr && buf[at + 1] === LF ? at + 2 : at + 1;
    if (lf >= 0 && lf < start) lf = buf.indexOf(LF, start);
    if (cr >= 0 && cr < start) cr = buf.indexOf(CR, start);
  }
  if (last && start < buf.length) {
    lines.push(buf.toString('utf8', start));
    start = buf.length;
  }
  return { lines, end: start };
}

const LF = 0x0a;
const CR = 0x0d;
const LINE_CHUNK_BYTES = 1 << 20;
const PLAIN_LINE = /^\{\s*"id"\s*:\s*"([^"\\]*)"\s*,\s*"path"\s*:\s*"([^"\\]*)"\s*\}$/;

/** A line-based manifest: `.txt` (a path per line) or `.jsonl` (`{"id","path"}` per line), a chunk of lines at a time. */
async function* readLineManifest(file: string): AsyncGenerator<DatasetItem[]> {
  const jsonl = ['.jsonl', '.ndjson'].includes(path.extname(file).toLowerCase());
  const base = path.dirname(file);
  let lineNo = 0;
  for await (const lines of lineChunks(file)) {
    const items: DatasetItem[] = [];
    for (const rawLine of lines) {
      lineNo++;
      const line = rawLine.trim();
      if (line === '' || line.startsWith('#')) continue;
      if (!jsonl) {
        items.push({ id: line, source: resolveSource(base, line) });
        continue;
      }
      // The usual line, {"id": "…", "path": "…"} with no escapes, read without building an object.
      const plain = PLAIN_LINE.exec(line);
      if (plain) {
        items.push({ id: plain[1]!, source: resolveSource(base, plain[2]!) });
        continue;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        throw new TabpoolError('BAD_MANIFEST', `${file}:${lineNo} is not JSON; each line must be like {"id": "a", "path": "images/a.png"}`);
      }
      const rec = obj as { id?: unknown; path?: unknown; url?: unknown };
      const ref = typeof rec.path === 'string' ? rec.path : typeof rec.url === 'string' ? rec.url : null;
      if (!ref) throw new TabpoolError('BAD_MANIFEST', `${file}:${lineNo} has no "path" or "url" string` + RECORDS_HINT);
      items.push({ id: typeof rec.id === 'string' || typeof rec.id === 'number' ? String(rec.id) : ref, source: resolveSource(base, ref) });
    }
    yield items;
  }
}

/**
 * Opens `--data`: checks it exists (fast, before any browser starts) and returns a lazy reader. A
 * folder gives its images, or with `kind` 'file' every file in it (dotfiles aside), recursively.
 */
export async function openDataset(target: string, kind: FolderKind = 'image'): Promise<Dataset> {
  const full = path.resolve(target);
  let stat;
  try {
    stat = await fs.stat(full);
  } catch {
    throw new TabpoolError(
      'DATA_NOT_FOUND',
      `--data ${target}: no such file or directory; pass a folder of ${kind === 'file' ? 'files' : 'images'} or a ` +
        'manifest (.txt, .jsonl, .csv)',
    );
  }
  if (stat.isDirectory()) return { describe: full, uniqueIds: true, items: () => walk(full, full, kind) };
  if (!MANIFEST_EXTENSIONS.has(path.extname(full).toLowerCase())) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--data ${target} is a file but not a manifest; use a folder of ${kind === 'file' ? 'files' : 'images'} or a .txt, ` +
        '.jsonl or .csv manifest',
    );
  }
  const csv = path.extname(full).toLowerCase() === '.csv';
  if (csv) return { describe: full, uniqueIds: false, items: () => readCsvManifest(full) };
  return { describe: full, uniqueIds: false, items: () => flatten(readLineManifest(full)), chunks: () => readLineManifest(full) };
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
  for await (const chunk of itemChunks(ds))
    for (const item of chunk) {
      count.total++;
      if (/^s3:\/\//i.test(item.source)) count.s3++;
      else if (/^https?:\/\//i.test(item.source)) count.http++;
    }
  return count;
}
