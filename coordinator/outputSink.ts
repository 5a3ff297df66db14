/**
 * The output file: append-only, one row per input, flushed (fsync'd) per batch so a crash loses
 * at most the batch being written. With `resume`, the ids already written are skipped and a torn
 * last line (a crash mid-write) is cut off before appending.
 */
import fs from 'node:fs/promises';
import { TabpoolError } from '../shared/errors.ts';
import type { OutputFormat } from './jobOptions.ts';
import type { OutputRow } from './outputRow.ts';
import { splitCsvLine } from './dataset.ts';

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

/** Reads the ids (and counts the error rows) of complete rows, with the byte length of the intact prefix. */
function idsInFile(text: string, format: OutputFormat): { ids: Set<string>; errors: number; intactBytes: number; torn: boolean } {
  const ids = new Set<string>();
  let errors = 0;
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
    let row: { id?: unknown; error?: unknown } | null = null;
    if (format === 'jsonl') {
      try {
        row = JSON.parse(line) as { id?: unknown; error?: unknown };
      } catch {
        row = null;
      }
    } else {
      const cells = splitCsvLine(line);
      if (cells.length === 7) row = { id: cells[0], error: cells[5] || null };
    }
    // A line that does not parse can only be the last one a crash cut short; anything after it is suspect.
    if (!row || typeof row.id !== 'string') {
      torn = true;
      break;
    }
    ids.add(row.id);
    if (row.error) errors++;
    goodChars += line.length + 1;
  }
  return { ids, errors, intactBytes: Buffer.byteLength(intact.slice(0, goodChars)), torn };
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
    /** How many of those rows are error rows (they count toward the exit code of a resumed job). */
    readonly doneErrors: number,
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
    let doneErrors = 0;
    let torn = false;
    let file: fs.FileHandle;
    try {
      if (existing !== null && opts.resume) {
        const parsed = idsInFile(existing, format);
        done = parsed.ids;
        doneErrors = parsed.errors;
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
    const sink = new OutputSink(file, format, done, doneErrors, torn);
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

  /** Resolves once everything written so far is on disk. */
  async flushed(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async close(): Promise<void> {
    await this.flushed();
    await this.file.close();
  }
}

async function reopenAppend(handle: fs.FileHandle, out: string): Promise<fs.FileHandle> {
  await handle.close();
  return fs.open(out, 'a');
}
