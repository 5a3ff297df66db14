/**
 * The output file: append-only, one row per input, flushed (fdatasync'd) per batch so a crash
 * loses at most the batch being written. With `resume`, the ids already written are skipped and a
 * record a crash cut short is cut off before appending.
 */
import fs from 'node:fs/promises';
import { TabpoolError } from '../../shared/errors.ts';
import type { OutputFormat } from '../options/jobOptions.ts';
import type { Column } from '../../shared/columns.ts';
import { IdSet, type IdLookup } from './idSet.ts';
import { ParquetSink } from './parquetSink.ts';
import { writeFailure } from './writeFailure.ts';
import type { OutputRow, RowSink } from './outputRow.ts';
import { csvColumns, csvHeader, formatRows, readWrittenRows } from './rowFormat.ts';

export class OutputSink implements RowSink {
  /** Text waiting for the next write, and who waits on it (group commit: one write + fsync for many batches). */
  private queued: string[] = [];
  private waiters: { resolve(): void; reject(e: unknown): void }[] = [];
  private flushing: Promise<void> | null = null;
  private constructor(
    private readonly out: string,
    private readonly file: fs.FileHandle,
    private readonly format: Exclude<OutputFormat, 'parquet'>,
    private readonly columns: readonly Column[],
    /** Ids already in the file when the job started (resume). */
    readonly written: IdLookup,
    /** How many of those rows are error rows (they count toward the exit code of a resumed job). */
    readonly writtenErrors: number,
    readonly repairedTornLine: boolean,
  ) {}

  static async open(
    out: string,
    format: Exclude<OutputFormat, 'parquet'>,
    opts: { resume: boolean; overwrite: boolean; columns: readonly Column[] },
  ): Promise<OutputSink> {
    let existing: { size: number } | null = null;
    try {
      existing = await fs.stat(out);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new TabpoolError('BAD_ARGUMENT', `--out ${out} cannot be read: ${(err as Error).message}`);
      }
    }
    if (existing !== null && existing.size > 0 && !opts.resume && !opts.overwrite) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `--out ${out} already exists; pass --resume to finish that job, --overwrite to start again, or another --out`,
      );
    }
    let done: IdLookup = new IdSet();
    let doneErrors = 0;
    let torn = false;
    let file: fs.FileHandle;
    try {
      if (existing !== null && opts.resume) {
        const written = await readWrittenRows(out, format).catch((err: Error) => {
          throw new TabpoolError('BAD_ARGUMENT', `--out ${out} cannot be read: ${err.message}`);
        });
        if (format === 'csv' && written.header && written.header.join(',') !== csvColumns(opts.columns).join(',')) {
          throw new TabpoolError(
            'BAD_ARGUMENT',
            `--resume: ${out} has the columns ${written.header.join(', ')}, but this job writes ` +
              `${csvColumns(opts.columns).join(', ')}; resume with the flags of the first run (--logits ` +
              `${written.header.includes('logits') ? 'on' : 'off'}), or use another --out`,
          );
        }
        done = written.ids;
        doneErrors = written.errors;
        torn = written.torn;
        const handle = await fs.open(out, 'r+');
        await handle.truncate(written.intactBytes);
        await handle.close();
        file = await fs.open(out, 'a');
      } else {
        file = await fs.open(out, 'w');
      }
    } catch (err) {
      if (err instanceof TabpoolError) throw err;
      throw new TabpoolError('BAD_ARGUMENT', `--out ${out} cannot be written: ${(err as Error).message}`);
    }
    const sink = new OutputSink(out, file, format, opts.columns, done, doneErrors, torn);
    if (format === 'csv' && (await file.stat()).size === 0) await sink.append(csvHeader(csvColumns(opts.columns)));
    return sink;
  }

  /**
   * Appends rows and resolves once they are on disk. Batches that arrive while a write is in
   * progress go out together in the next one, so durability per batch costs one fsync per
   * write, not per batch.
   */
  write(rows: readonly OutputRow[]): Promise<void> {
    return this.append(formatRows(rows, this.format, this.columns));
  }

  private append(text: string): Promise<void> {
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
        const failure = writeFailure(this.out, err);
        for (const w of waiters) w.reject(failure);
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

/** The output a job writes to: a file (JSONL, CSV) or a Parquet dataset, as --out names it. */
export type JobSink = OutputSink | ParquetSink;

export async function openSink(
  out: string,
  format: OutputFormat,
  opts: { resume: boolean; overwrite: boolean; columns: readonly Column[]; rowsPerPart: number | null },
): Promise<JobSink> {
  return format === 'parquet'
    ? ParquetSink.open(out, opts, opts.rowsPerPart === null ? {} : { rowsPerPart: opts.rowsPerPart })
    : OutputSink.open(out, format, opts);
}
