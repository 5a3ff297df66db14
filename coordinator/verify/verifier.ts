/**
 * Trust no tab. Every actor's rows are held, not written, until a check of that actor passes: the
 * coordinator computes a random sample of the actor's inputs with its own model (the trusted
 * reference) and compares. An actor cannot tell which of its batches are checked: nothing it is
 * sent or asked differs.
 *
 * - Probation: an actor's first PROBATION batches are always checked.
 * - Then each batch is checked with probability `rate` (--verify), and always once an actor holds
 *   HELD_LIMIT unverified rows, so no more than about that many rows ride on one check.
 * - A check covers up to SAMPLE inputs of the batch (all of them with --verify 1).
 * - When a check passes, the actor's held rows up to that batch are written. When it fails, the
 *   actor lied: its held rows are discarded (and recomputed elsewhere), and its host is barred.
 * - At the job's end each actor's last held batch is checked, so honest rows are all written.
 *
 * So a tab that lies on every batch gets nothing into the output, and one that lies on a fraction
 * q of its batches is caught after about 1/q checks, having had on average at most (1 − q) ×
 * HELD_LIMIT rows released (README, "Trust").
 */
import type { ItemResult } from '../../shared/protocol.ts';
import type { OutputRow } from '../io/outputRow.ts';
import { compareWithReference } from './agreement.ts';

export const PROBATION = 3;
export const HELD_LIMIT = 256;
export const SAMPLE = 4;
export const DEFAULT_RATE = 0.05;

/** An input as the verifier needs it: its bytes, or where to fetch them. Held batches list exactly the inputs their rows are for. */
export type VerifyInput = { id: string; bytes: Uint8Array } | { id: string; url: string; source: string };

interface HeldBatch {
  seq: number;
  inputs: VerifyInput[];
  answers: ItemResult[];
  rows: OutputRow[];
}

interface ActorTrust {
  hostId: string;
  passed: number;
  batches: number;
  held: HeldBatch[];
  heldRows: number;
  /** The highest batch seq a check is running for. */
  checking: number;
  liar: boolean;
}

export interface VerifierHooks {
  /** The reference's class probabilities for these inputs (null: it cannot decode that one). */
  reference(bytes: Uint8Array[]): Promise<(Float32Array | null)[]>;
  /** The bytes of a URL input (the coordinator fetches it for the check). */
  fetch(input: Extract<VerifyInput, { url: string }>): Promise<Uint8Array | null>;
  /** Rows that passed: write them. */
  release(rows: OutputRow[]): void;
  /** `actorId` lied: `discarded` are the inputs of its held rows, to compute again elsewhere. */
  caught(actorId: string, hostId: string, detail: string, discarded: VerifyInput[]): void;
  /** The reference itself failed (not the tab): the job cannot verify. */
  failed(err: Error): void;
  /** A check ended (the job may be done). */
  settled(): void;
  random?: () => number;
}

export interface VerifyStats {
  batchesChecked: number;
  inputsChecked: number;
  disagreements: number;
}

export class Verifier {
  private readonly actors = new Map<string, ActorTrust>();
  private seq = 0;
  private running = 0;
  readonly stats: VerifyStats = { batchesChecked: 0, inputsChecked: 0, disagreements: 0 };

  constructor(
    private readonly rate: number,
    private readonly hooks: VerifierHooks,
  ) {}

  /** Rows held, waiting for a check to pass. */
  get heldRows(): number {
    let n = 0;
    for (const a of this.actors.values()) n += a.heldRows;
    return n;
  }

  /** Checks running now. */
  get pending(): number {
    return this.running;
  }

  /** Passed checks of `actorId` (probation ends at PROBATION). */
  trustOf(actorId: string): { passed: number; onProbation: boolean; heldRows: number } {
    const a = this.actors.get(actorId);
    return { passed: a?.passed ?? 0, onProbation: (a?.passed ?? 0) < PROBATION, heldRows: a?.heldRows ?? 0 };
  }

  /** A checked result of `actorId`: its rows are held, and the batch may be checked. */
  accept(actorId: string, hostId: string, inputs: VerifyInput[], answers: ItemResult[], rows: OutputRow[]): void {
    let a = this.actors.get(actorId);
    if (!a) this.actors.set(actorId, (a = { hostId, passed: 0, batches: 0, held: [], heldRows: 0, checking: 0, liar: false }));
    if (a.liar) return;
    const held: HeldBatch = { seq: ++this.seq, inputs, answers, rows };
    a.held.push(held);
    a.heldRows += rows.length;
    a.batches++;
    const random = this.hooks.random ?? Math.random;
    if (a.batches <= PROBATION || random() < this.rate || a.heldRows >= HELD_LIMIT) this.check(actorId, a, held);
  }

  /** The job's end: each actor's last held batch, not yet covered by a check, is checked now. */
  finalChecks(): void {
    for (const [id, a] of this.actors) {
      const last = a.held.at(-1);
      if (!a.liar && last && a.checking < last.seq) this.check(id, a, last);
    }
  }

  private check(actorId: string, a: ActorTrust, batch: HeldBatch): void {
    a.checking = Math.max(a.checking, batch.seq);
    this.running++;
    void this.run(actorId, a, batch)
      .catch((err: unknown) => this.hooks.failed(err as Error))
      .finally(() => {
        this.running--;
        this.hooks.settled();
      });
  }

  private async run(actorId: string, a: ActorTrust, batch: HeldBatch): Promise<void> {
    const n = batch.inputs.length;
    // With --verify 1 every input is checked; otherwise a random sample of the batch.
    const picks = this.rate >= 1 || n <= SAMPLE ? [...Array(n).keys()] : sample(n, SAMPLE, this.hooks.random ?? Math.random);
    const bytes: Uint8Array[] = [];
    const kept: number[] = [];
    for (const i of picks) {
      const input = batch.inputs[i]!;
      const b = 'bytes' in input ? input.bytes : await this.hooks.fetch(input);
      if (b) {
        bytes.push(b);
        kept.push(i);
      }
    }
    const reference = await this.hooks.reference(bytes);
    if (a.liar) return;
    const verdict = compareWithReference(
      kept.map((i) => batch.inputs[i]!.id),
      kept.map((i) => batch.answers[i]!),
      reference,
    );
    this.stats.batchesChecked++;
    this.stats.inputsChecked += verdict.compared;
    if (verdict.agree) {
      a.passed++;
      const released = a.held.filter((h) => h.seq <= batch.seq);
      a.held = a.held.filter((h) => h.seq > batch.seq);
      const rows = released.flatMap((h) => h.rows);
      a.heldRows -= rows.length;
      if (rows.length) this.hooks.release(rows);
      return;
    }
    this.stats.disagreements++;
    this.bar(actorId, a, verdict.detail ?? 'answers differ from the reference');
  }

  /** Marks every actor of `hostId` caught; their held rows go back to be computed again. */
  barHost(hostId: string, detail: string): void {
    for (const [id, a] of this.actors) if (a.hostId === hostId && !a.liar) this.bar(id, a, detail);
  }

  private bar(actorId: string, a: ActorTrust, detail: string): void {
    a.liar = true;
    const discarded = a.held.flatMap((h) => h.inputs);
    a.held = [];
    a.heldRows = 0;
    this.hooks.caught(actorId, a.hostId, detail, discarded);
  }
}

/** `k` distinct indices of `0..n-1`, at random. */
function sample(n: number, k: number, random: () => number): number[] {
  const all = [...Array(n).keys()];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, k).sort((x, y) => x - y);
}
