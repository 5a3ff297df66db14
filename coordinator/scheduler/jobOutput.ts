/**
 * Where a job's answers go: rows, written to the sink (durable once the write resolves), or, with
 * verification on, held until a check of their actor passes (verify/verifier.ts). It counts what
 * was written, and what is answered but not yet written.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import { rowsForResult, type OutputRow, type RowSink } from '../io/outputRow.ts';
import type { Verifier } from '../verify/verifier.ts';
import type { BatchItem } from './batchQueue.ts';
import type { JobStats } from './jobStats.ts';

export interface OutputHooks {
  progress(stats: JobStats): void;
  /** A write finished: the job may be done. */
  written(): void;
  fail(err: TabpoolError): void;
}

export class JobOutput {
  /** Rows answered (written or held): the scheduler plans with what is left beyond these. */
  answered = 0;
  verifier: Verifier | null = null;

  constructor(
    private readonly sink: RowSink,
    private readonly stats: JobStats,
    private readonly labels: readonly string[],
    private readonly out: string,
    private readonly hooks: OutputHooks,
  ) {}

  /** A checked result's rows: written now, or held for verification. */
  answer(actorId: string, hostId: string, inputs: BatchItem[], results: ItemResult[]): void {
    const rows = rowsForResult(
      inputs.map((i) => i.id),
      results,
      this.labels,
    );
    this.answered += rows.length;
    if (this.verifier) this.verifier.accept(actorId, hostId, inputs, results, rows);
    else this.write(rows);
  }

  /** Answered rows that will not be written after all (their actor lied): they are computed again. */
  discard(rows: number): void {
    this.answered -= rows;
  }

  /** Writes rows in the background; a failed write (disk full) fails the job instead of losing them. */
  write(rows: OutputRow[], counted = true): void {
    if (!counted) this.answered += rows.length;
    this.writeNow(rows).then(
      () => this.hooks.written(),
      (err: unknown) => this.hooks.fail(new TabpoolError('JOB_FAILED', `writing ${this.out} failed: ${(err as Error).message}`)),
    );
  }

  /** Writes rows that need no verification (inputs that failed before any tab saw them), and waits for them. */
  async writeNow(rows: OutputRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.sink.write(rows);
    this.stats.done += rows.length;
    for (const r of rows) if (r.error) this.stats.errors++;
    this.hooks.progress(this.stats);
  }

  /** True while rows wait on a check (the job is not done). */
  get busy(): boolean {
    return this.verifier !== null && (this.verifier.pending > 0 || this.verifier.heldRows > 0);
  }
}
