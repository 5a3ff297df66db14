/**
 * What a standing pool's head keeps in --state DIR, so that a restart (even SIGKILL) loses
 * nothing: its two tokens (tabs and submitting processes reconnect with the ones they hold), every
 * job's record and the secrets a reattach proves itself with, and the jobs' files by sha256.
 * The job list lives here alone: records are read here, changed only through `add` and `update`
 * (each change saved), and the finished ones past the last KEEP_FINISHED pruned. head.json is
 * replaced atomically (write, then rename); a failed write is reported (`writeError`, the hook),
 * and the next change tries again. A file is kept only once its hash matches.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { TabpoolError } from '../../shared/errors.ts';
import { jobRecordSchema, type JobRecord } from '../../shared/poolProtocol.ts';

const storedJob = z.object({ record: jobRecordSchema, secret: z.string(), grant: z.string(), files: z.array(z.string()) });
/** A job as the head keeps it: read-only to everyone but HeadState. */
export type StoredJob = Readonly<Omit<z.infer<typeof storedJob>, 'record'>> & { readonly record: Readonly<JobRecord> };
const stateSchema = z.object({
  version: z.literal(1),
  joinToken: z.string(),
  submitToken: z.string(),
  /** The port it last listened on: a restart without --port takes it again, so tabs find it. */
  port: z.number().int().min(0).max(65535).optional(),
  jobs: z.array(storedJob),
});

/** Finished jobs kept in the list (and in head.json, and on the status page); older ones are forgotten. */
export const KEEP_FINISHED = 20;

export class HeadState {
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private portNow = 0;
  private writeFailure: string | null = null;
  /** Told of each failed write (a full disk, a read-only folder) and of the next that succeeds (null). */
  onWriteError: (message: string | null) => void = () => undefined;

  private constructor(
    readonly dir: string,
    readonly joinToken: string,
    readonly submitToken: string,
    private readonly jobs: Map<string, StoredJob>,
  ) {}

  /** The port it listens on (kept, for a restart). */
  get port(): number {
    return this.portNow;
  }
  /** The last write that failed, for the status page; null once one succeeds. */
  get writeError(): string | null {
    return this.writeFailure;
  }

  /** Opens (or makes) the state in `dir`; a token given on the command line wins over the stored one and is stored. */
  static async open(dir: string, given: { joinToken: string | null; submitToken: string | null }): Promise<HeadState> {
    await fsp.mkdir(path.join(dir, 'files'), { recursive: true });
    const file = path.join(dir, 'head.json');
    let stored: z.infer<typeof stateSchema> | null = null;
    if (fs.existsSync(file)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await fsp.readFile(file, 'utf8'));
      } catch (err) {
        throw new TabpoolError(
          'BAD_ARGUMENT',
          `--state ${dir}: head.json is not JSON (${(err as Error).message}); move it aside to start afresh`,
        );
      }
      const r = stateSchema.safeParse(parsed);
      if (!r.success)
        throw new TabpoolError('BAD_ARGUMENT', `--state ${dir}: head.json is not a tabpool head's state; move it aside to start afresh`);
      stored = r.data;
    }
    const token = (): string => randomBytes(18).toString('base64url');
    const state = new HeadState(
      dir,
      given.joinToken ?? stored?.joinToken ?? token(),
      given.submitToken ?? stored?.submitToken ?? token(),
      new Map((stored?.jobs ?? []).map((j) => [j.record.id, j])),
    );
    if (state.joinToken === state.submitToken)
      throw new TabpoolError(
        'BAD_ARGUMENT',
        '--token and --submit-token must differ: a tab holding the join token must not be able to submit',
      );
    state.portNow = stored?.port ?? 0;
    state.prune();
    await state.saveNow();
    return state;
  }

  filePath(sha256: string): string {
    return path.join(this.dir, 'files', sha256);
  }

  hasFile(sha256: string): boolean {
    return fs.existsSync(this.filePath(sha256));
  }

  /**
   * Stores an upload under its hash, written to disk as it arrives (never held whole); refuses bytes whose
   * hash is not `sha256`, or more than `maxBytes`.
   */
  async putFile(sha256: string, body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<void> {
    const tmp = `${this.filePath(sha256)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const hash = createHash('sha256');
    const out = await fsp.open(tmp, 'w');
    let size = 0;
    try {
      for await (const chunk of body) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new TabpoolError('SUBMIT_REFUSED', `uploads are limited to ${maxBytes} bytes`, { cause: 'too large' });
        hash.update(chunk);
        await out.write(chunk);
      }
      await out.close();
      const actual = hash.digest('hex');
      if (actual !== sha256) throw new TabpoolError('SUBMIT_REFUSED', `the upload's sha256 is ${actual}, not ${sha256}`);
      await fsp.rename(tmp, this.filePath(sha256));
    } catch (err) {
      await out.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  /** The port it listens on now: kept for a restart. */
  listensOn(port: number): void {
    this.portNow = port;
    this.save();
  }

  job(id: string): StoredJob | undefined {
    return this.jobs.get(id);
  }

  /** Jobs not finished (a restarted head waits for their submitting processes). */
  unfinished(): StoredJob[] {
    return [...this.jobs.values()].filter((j) => j.record.endedAt === null);
  }

  /** A job submitted for the first time. */
  add(job: StoredJob): void {
    this.jobs.set(job.record.id, job);
    this.prune();
    this.save();
  }

  /** A change to a job's record (status, message, progress); returns the record as it now is. */
  update(id: string, change: Partial<Omit<JobRecord, 'id'>>): Readonly<JobRecord> | null {
    const job = this.jobs.get(id);
    if (!job) return null;
    const record = { ...job.record, ...change };
    this.jobs.set(id, { ...job, record });
    if (change.endedAt !== undefined) this.prune();
    this.save();
    return record;
  }

  records(): JobRecord[] {
    return [...this.jobs.values()].map((j) => j.record).sort((a, b) => a.submittedAt - b.submittedAt);
  }

  /** The finished jobs past the last KEEP_FINISHED go. */
  private prune(): void {
    const finished = [...this.jobs.values()].filter((j) => j.record.endedAt !== null).sort((a, b) => a.record.endedAt! - b.record.endedAt!);
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(j.record.id);
  }

  /** Writes head.json soon (writes are serialized; a burst of changes is one write). */
  private save(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing.then(() => {
      this.dirty = false;
      return this.write().then(
        () => this.wrote(null),
        (err: unknown) => this.wrote(`could not write ${path.join(this.dir, 'head.json')}: ${(err as Error).message}`),
      );
    });
  }

  private wrote(failure: string | null): void {
    const changed = failure !== this.writeFailure;
    this.writeFailure = failure;
    if (changed) this.onWriteError(failure);
  }

  async saveNow(): Promise<void> {
    this.save();
    await this.writing;
  }

  private async write(): Promise<void> {
    const body = {
      version: 1 as const,
      joinToken: this.joinToken,
      submitToken: this.submitToken,
      port: this.portNow,
      jobs: [...this.jobs.values()],
    };
    const file = path.join(this.dir, 'head.json');
    const tmp = `${file}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
    await fsp.rename(tmp, file);
  }
}
