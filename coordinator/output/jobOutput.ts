/**
 * Where a job's answers go, in both modes: rows, written to the sink (durable once the write
 * resolves), or, with verification on, held until a check of their actor passes. This object owns
 * the output's counts and the verifier; what a lie costs outside it (closing the liar's tabs,
 * computing its inputs again) it asks of its owner through two ports, `bar` and `redo`.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';
import { rowsForResult, type OutputRow, type RowSink } from '../io/outputRow.ts';
import { Verifier, type Caught, type PeerAnswer, type VerifySettings, type VerifyCounts } from '../verify/verifier.ts';

export type { VerifySettings };
import { newJobStats, rowTokens, type JobCounts, type JobStats } from './jobStats.ts';

export interface OutputHooks {
  progress(stats: JobStats): void;
  /** A write finished: the job may be done. */
  written(): void;
  fail(err: TabpoolError): void;
  log(line: string): void;
  /** Wall-clock ms (the time of the first prediction written). */
  now(): number;
}

/** An actor caught lying: close it, or with `hostBarred` every actor of its host, and refuse them from now on. */
export interface Barring {
  actorId: string;
  hostId: string;
  reason: string;
  hostBarred: boolean;
}

/** What the output asks of the mode it runs in. */
export interface OutputPorts {
  bar(b: Barring): void;
  /** Inputs whose answers were thrown away (their actor lied): compute them again. */
  redo(items: InputItem[]): void;
  /** A peer check: the inputs computed by an actor of another host (null: none can); absent, the reference checks all. */
  peer?(items: InputItem[], notHost: string): Promise<PeerAnswer | null>;
}

export interface BarredActor {
  actor: string;
  host: string;
  reason: string;
}

export class JobOutput {
  private answeredRows = 0;
  /** Rows handed to the sink and not yet on disk (the read-ahead window counts them). */
  private unwritten = 0;
  private readonly verifier: Verifier<InputItem, unknown> | null;
  private readonly counts: JobCounts;
  /** Actors caught lying, for the summary and the status. */
  readonly barred: BarredActor[] = [];

  constructor(
    private readonly sink: RowSink,
    private readonly out: string,
    private readonly hooks: OutputHooks,
    verify?: { settings: VerifySettings; ports: OutputPorts },
    skippedErrors = 0,
  ) {
    this.counts = newJobStats(hooks.now(), sink.written.size, skippedErrors);
    this.verifier = verify ? this.verifierFor(verify.settings, verify.ports) : null;
  }

  /** The job's rows and times, as the summary and the status read them (this object alone writes them). */
  get stats(): JobStats {
    return this.counts;
  }

  /** The job starts over a dataset of `total` inputs (resumed rows included; null: unknown). */
  begin(total: number | null): void {
    this.counts.total = total === null ? null : total - this.counts.skipped;
  }

  /** The job ended (done, drained or failed) at wall-clock `at`. */
  end(at: number): void {
    this.counts.finishedAt ??= at;
  }

  /** Rows answered (written or held): the scheduler plans with what is left beyond these. */
  get answered(): number {
    return this.answeredRows;
  }

  /** A checked result's rows: written now, or held for verification. */
  answer(actorId: string, hostId: string, inputs: InputItem[], results: ItemResult[]): void {
    const rows = rowsForResult(
      inputs.map((i) => i.id),
      results,
    );
    this.answeredRows += rows.length;
    if (this.verifier) this.verifier.accept(actorId, hostId, inputs, results, rows);
    else this.write(rows);
  }

  /** An error row found after dispatch (retries exhausted, a fetch no one could make), written in the background. */
  writeError(row: OutputRow): void {
    this.answeredRows++;
    this.write([row]);
  }

  /** Error rows of inputs that never reached a tab (unreadable, not an image), written before the caller goes on. */
  async writeUnsent(rows: OutputRow[]): Promise<void> {
    this.answeredRows += rows.length;
    await this.writeNow(rows);
  }

  /** True while rows wait on a check (the job is not done). */
  get busy(): boolean {
    return this.verifier !== null && (this.verifier.pending > 0 || this.verifier.heldRows > 0);
  }

  /** Checks running now (the stall watchdog counts them as progress). */
  get checking(): number {
    return this.verifier?.pending ?? 0;
  }

  /** Every answer is in: each actor's last held rows are checked now. */
  finalChecks(): void {
    this.verifier?.finalChecks();
  }

  get verifyCounts(): VerifyCounts | null {
    return this.verifier?.stats ?? null;
  }

  /** Verification as the status page shows one actor. */
  trustOf(actorId: string): { passed: number; onProbation: boolean; heldRows: number } | null {
    return this.verifier?.trustOf(actorId) ?? null;
  }

  /** Rows handed to the output and not yet on disk. */
  get unwrittenRows(): number {
    return this.unwritten;
  }

  get heldRows(): number {
    return this.verifier?.heldRows ?? 0;
  }

  /** Writes rows in the background; a failed write (disk full) fails the job instead of losing them. */
  private write(rows: OutputRow[]): void {
    this.writeNow(rows).then(
      () => this.hooks.written(),
      (err: unknown) =>
        this.hooks.fail(
          err instanceof TabpoolError ? err : new TabpoolError('JOB_FAILED', `writing ${this.out} failed: ${(err as Error).message}`),
        ),
    );
  }

  private async writeNow(rows: OutputRow[]): Promise<void> {
    if (rows.length === 0) return;
    this.unwritten += rows.length;
    try {
      await this.sink.write(rows);
    } finally {
      this.unwritten -= rows.length;
    }
    this.counts.rows += rows.length;
    for (const r of rows) {
      if (r.error) this.counts.errors++;
      else {
        const t = rowTokens(r);
        this.counts.promptTokens += t.prompt;
        this.counts.generatedTokens += t.generated;
      }
    }
    if (rows.some((r) => !r.error)) this.counts.firstPredictionAt ??= this.hooks.now();
    this.hooks.progress(this.counts);
  }

  private verifierFor(v: VerifySettings, ports: OutputPorts): Verifier<InputItem, unknown> {
    return new Verifier<InputItem, unknown>(v.rate, {
      reference: (items) => v.reference(items),
      compare: (id, answer, ref) => v.compare(id, answer, ref),
      judge: v.judge && ((items, answers) => v.judge!(items, answers)),
      release: (rows, unverified) => {
        if (unverified) {
          const ids = rows.slice(0, 5).map((r) => r.id);
          const named = `${ids.join(', ')}${rows.length > 5 ? ', …' : ''}`;
          const why = 'the coordinator could not fetch or decode any input their actor answered';
          this.hooks.log(`verify: ${rows.length} row(s) written unverified: ${why} (${named})`);
        }
        this.write(rows);
      },
      caught: (c) => this.caught(c, ports),
      peer: ports.peer && ((items, notHost) => ports.peer!(items, notHost)),
      comparePeers: v.comparePeers && ((id, a, b) => v.comparePeers!(id, a, b)),
      refused: (actorId, inputs) => {
        this.hooks.log(`${inputs.length} answer(s) of ${actorId}, barred, came after the bar: computed again elsewhere`);
        this.answeredRows -= inputs.length;
        ports.redo(inputs);
      },
      failed: (err) =>
        this.hooks.fail(
          new TabpoolError(
            'JOB_FAILED',
            `verification could not run the model on the coordinator (${err.message}); rerun with --verify 0 to trust the tabs`,
          ),
        ),
      settled: () => this.hooks.written(),
      random: v.random,
    });
  }

  private caught(c: Caught<InputItem>, ports: OutputPorts): void {
    const reason = c.hostBarred
      ? `${c.actorId} sent wrong results (${c.detail}); a second actor of host ${c.hostId} lied, so host ` +
        `${c.hostId} is barred from this job`
      : `${c.actorId} sent wrong results (${c.detail}); it is barred from this job, and host ${c.hostId}'s ` +
        `other actors are back on probation`;
    this.hooks.log(`${reason}; ${c.discarded.length} unwritten row(s) are computed again elsewhere`);
    this.barred.push({ actor: c.actorId, host: c.hostId, reason });
    this.answeredRows -= c.discarded.length;
    ports.bar({ actorId: c.actorId, hostId: c.hostId, reason, hostBarred: c.hostBarred });
    ports.redo(c.discarded);
  }
}
