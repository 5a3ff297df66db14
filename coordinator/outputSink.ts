/**
 * The output file: append-only, one row per input, flushed (fsync'd) per batch so a crash loses
 * at most the batch being written. With `resume`, the ids already written are skipped and a torn
 * last line (a crash mid-write) is cut off before appending.
 */
import fs from 'node:fs/promises';
import { TabpoolError } from '../shared/errors.ts';
import type { OutputFormat } from './jobOptions.ts';
import type { OutputRow } from './outputRow.ts';

const CSV_HEADER = 'id,class,label,score,topk,error_code,error_message\n';

function csvCell(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function formatRow(row: OutputRow, format: OutputFormat): string {
  if (format === 'jsonl') return `${JSON.stringify(row)}\n`;
  if (row.error) return [csvCell(row.id), '', '', '', '', csvCell(row.error.code), csvCell(row.error.message)].join(',') + '\n';
  const topk = JSON.stringify(row.topk.map((e) => [e.class, Number(e.score.toFixed(6))]));
  return [csvCell(row.id), row.class, csvCell(row.label), row.score, csvCell(topk), '', ''].join(',') + '\n';
}

/** Reads the ids of complete rows; returns them with the byte length of the intact prefix. */
function idsInFile(text: string, format: OutputFormat): { ids: Set<string>; intactBytes: number; torn: boolean } {
  const ids = new Set<string>();
  const lastNewline = text.lastIndexOf('\n');
  const intact = text.slice(0, lastNewline + 1);
  let torn = lastNewline + 1 < text.length;
  const lines = intact.split('\n');
  lines.pop();
  let goodChars = 0;
  for (const [i, line] of lines.entries()) {
    if (format === 'csv' && i === 0) {
      goodChars += line.length + 1;
      continue;
    }
    let id: string | undefined;
    if (format === 'jsonl') {
      try {
        id = (JSON.parse(line) as { id?: string }).id;
      } catch {
        id = undefined;
      }
    } else {
      id = line.startsWith('"') ? /^"((?:[^"]|"")*)"/.exec(line)?.[1]?.replaceAll('""', '"') : line.split(',')[0];
    }
    // A line that does not parse can only be the last one a crash cut short; anything after it is suspect.
    if (id === undefined) {
      torn = true;
      break;
    }
    ids.add(id);
    goodChars += line.length + 1;
  }
  return { ids, intactBytes: Buffer.byteLength(intact.slice(0, goodChars)), torn };
}

export class OutputSink {
  /** Text waiting for the next write, and who waits on it (group commit: one write + fsync for many batches). */
  private queued: string[] = [];
  private waiters: { resolve(): void; reject(e: unknown): void }[] = [];
  private flushing: Promise<void> | null = null;
  private constructor(
    private readonly file: fs.FileHandle,
    private readonly format: OutputFormat,
    /** Ids already in the file when the job started (resume). */
    readonly done: ReadonlySet<string>,
    readonly repairedTornLine: boolean,
  ) {}

  static async open(out: string, format: OutputFormat, opts: { resume: boolean; overwrite: boolean }): Promise<OutputSink> {
    let existing: string | null = null;
    try {
      existing = await fs.readFile(out, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new TabpoolError('BAD_ARGUMENT', `--out ${out} cannot be read: ${(err as Error).message}`);
      }
    }
    if (existing !== null && existing.length > 0 && !opts.resume && !opts.overwrite) {
      throw new TabpoolError('BAD_ARGUMENT', `--out ${out} already exists; pass --resume to finish that job, --overwrite to start again, or another --out`);
    }
    let done = new Set<string>();
    let torn = false;
    let file: fs.FileHandle;
    try {
      if (existing !== null && opts.resume) {
        const parsed = idsInFile(existing, format);
        done = parsed.ids;
        torn = parsed.torn;
        file = await fs.open(out, 'r+');
        await file.truncate(parsed.intactBytes);
        file = await reopenAppend(file, out);
      } else {
        file = await fs.open(out, 'w');
      }
    } catch (err) {
      throw new TabpoolError('BAD_ARGUMENT', `--out ${out} cannot be written: ${(err as Error).message}`);
    }
    const sink = new OutputSink(file, format, done, torn);
    if (format === 'csv' && (await file.stat()).size === 0) await sink.append([], CSV_HEADER);
    return sink;
  }

  /**
   * Appends rows and resolves once they are on disk (fdatasync'd). Batches that arrive while a
   * write is in progress go out together in the next one, so durability per batch costs one
   * fsync per write, not per batch.
   */
  write(rows: readonly OutputRow[]): Promise<void> {
    return this.append(rows);
  }

  private append(rows: readonly OutputRow[], prefix = ''): Promise<void> {
    const text = prefix + rows.map((r) => formatRow(r, this.format)).join('');
    return new Promise<void>((resolve, reject) => {
      this.queued.push(text);
      this.waiters.push({ resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queued.length > 0) {
      const text = this.queued.join('');
      const waiters = this.waiters;
      this.queued = [];
      this.waiters = [];
      try {
        await this.file.appendFile(text, 'utf8');
        await this.file.datasync();
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    }
    this.flushing = null;
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.file.close();
  }
}

async function reopenAppend(handle: fs.FileHandle, out: string): Promise<fs.FileHandle> {
  await handle.close();
  return fs.open(out, 'a');
}
