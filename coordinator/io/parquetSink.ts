/**
 * The Parquet output: a dataset directory of part files (the Spark/Ray layout), read as one table
 * by DuckDB (`'out.parquet/*.parquet'`), pandas/pyarrow and Spark. Rows are buffered and committed
 * a part at a time: written whole under a hidden temporary name, fsync'd, renamed into place and
 * the directory fsync'd, so a reader or a resumed job sees whole parts or none. A row counts as
 * written once its part is committed. Encoding: see parquetRows.ts.
 */
import { writeFailure } from './writeFailure.ts';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TabpoolError } from '../../shared/errors.ts';
import { IdSet, type IdLookup } from './idSet.ts';
import type { OutputRow, RowSink } from './outputRow.ts';
import type { Column } from '../../shared/columns.ts';
import { encodePart, partColumns, readPartIds, valuesPerRow } from './parquetRows.ts';

/** A committed part: `part-00003-<run>.parquet`. */
const PART = /^part-(\d+)-.+\.parquet$/;
/** A part a crash left half-written: `.part-00003-<run>.parquet.tmp`. */
const TEMP = /^\.part-\d+-.*\.parquet\.tmp$/;

const DEFAULT_ROWS_PER_PART = 20_000;
/**
 * A part holds at most about this many values (vectors count each element): encoding is
 * synchronous, about 0.3 s per million values, and the coordinator's event loop waits for it.
 */
const VALUES_PER_PART = 1_000_000;
const DEFAULT_MAX_DELAY_MS = 10_000;

/** How the job asks for its output. */
export interface ParquetSinkOptions {
  resume: boolean;
  overwrite: boolean;
  /** The actor's declared columns: the parts' schema, and with long vectors, smaller parts. */
  columns: readonly Column[];
}

/** When a part is cut; the defaults suit jobs, tests pass small values. */
export interface ParquetSinkTuning {
  /**
   * Commit a part once this many rows are buffered (default 20,000; fewer with vector columns, so that a part
   * holds about a million values).
   */
  rowsPerPart?: number;
  /** Commit a part this long after its first row was buffered (default 10 s). */
  maxDelayMs?: number;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** Rows bound for one part file, and the writes that resolve once it is committed. */
interface Part {
  rows: OutputRow[];
  waiters: Waiter[];
}

const newPart = (): Part => ({ rows: [], waiters: [] });

export class ParquetSink implements RowSink {
  /** The part being filled. */
  private filling = newPart();
  /** Parts cut and waiting to be committed, oldest first. */
  private queue: Part[] = [];
  private committing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Once a part fails, every later write fails too: rows behind a lost part cannot be committed in order. */
  private failure: TabpoolError | null = null;
  private closed = false;

  private constructor(
    private readonly out: string,
    private readonly columns: readonly Column[],
    private readonly rowsPerPart: number,
    private readonly maxDelayMs: number,
    private nextPart: number,
    /** Tells this run's parts from those of the run it resumes. */
    private readonly runId: string,
    /** Ids in the committed parts when the job started (resume). */
    readonly written: IdLookup,
    /** How many of those rows are error rows (they count toward the exit code of a resumed job). */
    readonly writtenErrors: number,
    /** True when parts a crash left half-written were found and removed. */
    readonly repairedTornLine: boolean,
  ) {}

  /**
   * Opens (creating it if needed) the dataset directory `out`. An existing dataset is refused unless
   * `resume` (keep its committed parts, remove half-written ones) or `overwrite` (remove its parts).
   */
  static async open(out: string, opts: ParquetSinkOptions, tuning: ParquetSinkTuning = {}): Promise<ParquetSink> {
    const rowsPerPart =
      tuning.rowsPerPart ?? Math.max(1, Math.min(DEFAULT_ROWS_PER_PART, Math.floor(VALUES_PER_PART / valuesPerRow(opts.columns))));
    const maxDelayMs = tuning.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    if (!Number.isInteger(rowsPerPart) || rowsPerPart < 1 || !(maxDelayMs >= 0)) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `Parquet parts need rowsPerPart >= 1 and maxDelayMs >= 0, got ${rowsPerPart} and ${maxDelayMs}`,
      );
    }
    const entries = await listDataset(out, opts.overwrite);
    const parts = entries.filter((name) => PART.test(name)).sort((a, b) => partNumber(a) - partNumber(b));
    const temps = entries.filter((name) => TEMP.test(name));
    const foreign = entries.find((name) => !PART.test(name) && !name.startsWith('.') && !name.startsWith('_'));
    // Never delete or mix in files tabpool did not write: --out may name a directory that holds other things.
    if (foreign !== undefined) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `--out ${out} holds ${foreign}, which is not a part of a Parquet dataset written by tabpool; name a ` +
          `new or empty directory for --out`,
      );
    }
    if (parts.length + temps.length > 0 && !opts.resume && !opts.overwrite) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `--out ${out} already holds a Parquet dataset (${parts.length} parts); pass --resume to finish that ` +
          `job, --overwrite to start again, or another --out`,
      );
    }
    const done = new IdSet();
    let doneErrors = 0;
    let nextPart = 0;
    if (opts.resume) {
      for (const name of parts) {
        doneErrors += await readCommittedPart(out, name, opts.columns, done);
        nextPart = partNumber(name) + 1;
      }
    }
    try {
      await fs.mkdir(out, { recursive: true });
      const stale = opts.resume ? temps : [...parts, ...temps];
      for (const name of stale) await fs.rm(path.join(out, name), { force: true });
      if (stale.length > 0) await syncDir(out);
    } catch (err) {
      throw new TabpoolError('BAD_ARGUMENT', `--out ${out} cannot be written: ${(err as Error).message}`);
    }
    const runId = randomBytes(4).toString('hex');
    return new ParquetSink(out, opts.columns, rowsPerPart, maxDelayMs, nextPart, runId, done, doneErrors, opts.resume && temps.length > 0);
  }

  /**
   * Buffers rows and resolves once every part holding them is committed. A part is cut when it
   * has `rowsPerPart` rows, `maxDelayMs` after its first row, or on `flushed()`/`close()`.
   */
  write(rows: readonly OutputRow[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed)
      return Promise.reject(new TabpoolError('JOB_FAILED', `--out ${this.out}: rows written after the output was closed cannot be stored`));
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let last = this.filling;
      for (const row of rows) {
        last = this.filling;
        this.filling.rows.push(row);
        if (this.filling.rows.length >= this.rowsPerPart) this.cut();
      }
      last.waiters.push({ resolve, reject });
      if (this.filling.rows.length > 0) this.timer ??= setTimeout(() => this.cut(), this.maxDelayMs);
    });
  }

  /** Commits the rows buffered so far and resolves once every part is committed; rejects if one failed. */
  async flushed(): Promise<void> {
    this.cut();
    while (this.committing) await this.committing;
    if (this.failure) throw this.failure;
  }

  /** Commits what is buffered and stops taking rows. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushed();
  }

  /** Queues the part being filled for commit. */
  private cut(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.filling.rows.length === 0) return;
    this.queue.push(this.filling);
    this.filling = newPart();
    this.kick();
  }

  private kick(): void {
    if (this.committing || this.queue.length === 0) return;
    // A part cut while the last drain was finishing would otherwise wait for the next cut.
    this.committing = this.drain().finally(() => {
      this.committing = null;
      this.kick();
    });
  }

  /** Commits queued parts one at a time, in order, so part numbers follow the order rows arrived. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const part = this.queue[0]!;
      try {
        await this.commit(part.rows);
      } catch (err) {
        this.fail(err as TabpoolError);
        return;
      }
      this.queue.shift();
      for (const w of part.waiters) w.resolve();
    }
  }

  private fail(err: TabpoolError): void {
    this.failure = err;
    const waiters = [...this.queue, this.filling].flatMap((p) => p.waiters);
    this.queue = [];
    this.filling = newPart();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of waiters) w.reject(err);
  }

  /** Writes one part whole under a temporary name, then renames it into place. */
  private async commit(rows: readonly OutputRow[]): Promise<void> {
    const name = `part-${String(this.nextPart++).padStart(5, '0')}-${this.runId}.parquet`;
    const temp = path.join(this.out, `.${name}.tmp`);
    try {
      const bytes = encodePart(rows, this.columns);
      const file = await fs.open(temp, 'wx');
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      await fs.rename(temp, path.join(this.out, name));
      await syncDir(this.out);
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      throw writeFailure(`${this.out} (part ${name})`, err);
    }
  }
}

function partNumber(name: string): number {
  return Number(PART.exec(name)![1]);
}

/** The names in the dataset directory `out` (none if it does not exist); a file there is refused unless `overwrite`, which removes it. */
async function listDataset(out: string, overwrite: boolean): Promise<string[]> {
  try {
    const stat = await fs.stat(out);
    if (stat.isDirectory()) return await fs.readdir(out);
    if (!overwrite) {
      throw new TabpoolError(
        'BAD_ARGUMENT',
        `--out ${out} is a file, but a Parquet --out is a directory of part files; pass --overwrite to replace the file, or another --out`,
      );
    }
    await fs.rm(out);
    return [];
  } catch (err) {
    if (err instanceof TabpoolError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new TabpoolError('BAD_ARGUMENT', `--out ${out} cannot be read: ${(err as Error).message}`);
  }
}

/** Adds the ids of a committed part to `done` and returns how many of the new ones are error rows. */
async function readCommittedPart(out: string, name: string, columns: readonly Column[], done: IdSet): Promise<number> {
  let part;
  try {
    part = await readPartIds(path.join(out, name));
  } catch (err) {
    // A committed part was written whole, so damage came later; dropping its rows silently would redo or lose them unnoticed.
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--out ${out}: committed part ${name} cannot be read (${(err as Error).message}); restore it, or move ` +
        `it out of ${out} to have --resume redo its rows`,
    );
  }
  const expected = partColumns(columns);
  if (part.columns.join() !== expected.join()) {
    throw new TabpoolError(
      'BAD_ARGUMENT',
      `--out ${out}: ${name} has columns ${part.columns.join(', ')}, not ${expected.join(', ')}; resume ` +
        'with the actor and flags of the job that wrote it (--logits, --actor, --actor-config), or pass --overwrite',
    );
  }
  let errors = 0;
  part.ids.forEach((id, i) => {
    if (done.has(id)) return;
    done.add(id);
    if (part.errors[i]) errors++;
  });
  return errors;
}

async function syncDir(dir: string): Promise<void> {
  // Windows cannot open a directory to fsync it; its renames are durable on their own.
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
