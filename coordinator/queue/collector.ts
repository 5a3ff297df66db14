/**
 * `run`'s side of the results stream: each unit's answers, checked (signature, schema, exactly the
 * unit's inputs once each, class range), become rows. A result message is acked only once every
 * row of its unit is written (or its inputs were put on the queue again), so a `run` killed with
 * rows held or unwritten gets the same results again when resumed. A duplicate (a unit computed
 * twice after a redelivery) is acked and ignored: each input gets one row.
 */
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { ItemResult } from '../../shared/protocol.ts';
import type { InputItem } from '../io/inputItem.ts';
import { errorRow, type OutputRow } from '../io/outputRow.ts';
import type { JobOutput } from '../output/jobOutput.ts';
import { checkResult, type RowRules } from '../host/resultCheck.ts';
import { decodeResult, SIGNATURE_HEADER, signedBy, type UnitResult } from './envelope.ts';
import type { QueueConnection } from './jobStore.ts';
import { forgetUnit } from './publisher.ts';

/** A unit `run` put on the queue: its inputs, and which of them still lack a row. */
export interface TrackedUnit {
  id: number;
  items: InputItem[];
  /** Ids without a written row (and not put on the queue again). */
  open: Set<string>;
  /** The result message, once it came, acked when `open` empties. */
  msg: JsMsg | null;
}

export interface CollectorDeps {
  rules: RowRules;
  output: JobOutput;
  log(line: string): void;
  /** A unit whose result had to be refused though its own gateway sent it: its inputs go on the queue again. */
  redo(items: InputItem[]): void;
}

export class Collector {
  readonly units = new Map<number, TrackedUnit>();
  /** Units whose rows are all written: a late duplicate of their result is no stranger. */
  private readonly completed = new Set<number>();
  /** Inputs answered per actor (`gateway/actor`), and when its first and last results reached this process, for the summary. */
  readonly perActor = new Map<
    string,
    { host: string; ep: string | null; units: number; images: number; firstAt: number; lastAt: number }
  >();
  /** Which unit each open id belongs to. */
  private readonly unitOfId = new Map<string, TrackedUnit>();
  private consumer: Consumer | null = null;
  private stopped = false;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly q: QueueConnection,
    private readonly secret: string,
    private readonly d: CollectorDeps,
    /** The first unit id of this `run`: lower ones are an earlier run's, written before it stopped. */
    private readonly firstUnit: number,
  ) {
    // Results whose rows are held (verification) stay unacked: keep them from being redelivered meanwhile.
    this.keepAlive = setInterval(() => {
      for (const u of this.units.values()) u.msg?.working();
    }, 3_000);
    this.keepAlive.unref();
  }

  track(id: number, items: InputItem[]): void {
    const u: TrackedUnit = { id, items, open: new Set(items.map((i) => i.id)), msg: null };
    this.units.set(id, u);
    for (const i of items) this.unitOfId.set(i.id, u);
  }

  /** Units put on the queue whose rows are not all written. */
  get pending(): number {
    return this.units.size;
  }

  /** Units whose result is here but whose rows are not all written yet. */
  get answeredPending(): number {
    let n = 0;
    for (const u of this.units.values()) if (u.msg) n++;
    return n;
  }

  async start(): Promise<void> {
    this.consumer = await this.q.js.consumers.get(this.q.names.resultsStream, this.q.names.resultsConsumer);
    void (async () => {
      while (!this.stopped) {
        try {
          const msgs = await this.consumer!.fetch({ max_messages: 256, expires: 2000 });
          for await (const m of msgs) this.onMessage(m);
        } catch (err) {
          // A fetch that ended early (heartbeats missed while this process was busy, a reconnect): fetch again.
          if (this.stopped || this.q.nc.isClosed()) return;
          this.d.log(`collecting results: ${(err as Error).message}; fetching again`);
        }
      }
    })();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.keepAlive);
  }

  /** Rows written: units whose every input has its row are done, and their results acked. */
  written(ids: readonly string[]): void {
    for (const id of ids) this.close(id);
  }

  /** An input goes on the queue again (its answer was thrown away): its old unit no longer waits for it. */
  moved(id: string): void {
    this.close(id);
  }

  private close(id: string): void {
    const u = this.unitOfId.get(id);
    if (!u) return;
    this.unitOfId.delete(id);
    u.open.delete(id);
    if (u.open.size > 0) return;
    this.units.delete(u.id);
    this.completed.add(u.id);
    u.msg?.ack();
    void forgetUnit(this.q, u.id).catch(() => undefined);
  }

  private refuse(m: JsMsg, why: string): void {
    this.d.log(`refused a message on ${m.subject} (stream seq ${m.seq}): ${why}; it is dropped`);
    // A bare TERM: a reason after it (+TERM reason) is NATS 2.10's; nats-server 2.9 ignores the whole
    // message then, and redelivers the refused one for ever (a drain waiting on it would never end).
    m.term();
  }

  private onMessage(m: JsMsg): void {
    if (!signedBy(this.secret, m.data, m.headers?.get(SIGNATURE_HEADER))) return this.refuse(m, "not signed with this job's secret");
    const decoded = decodeResult(m.data);
    if (!decoded.ok) return this.refuse(m, decoded.error);
    const r = decoded.value;
    const u = this.units.get(r.unit);
    if (!u) {
      if (!this.completed.has(r.unit) && r.unit >= this.firstUnit)
        return this.refuse(m, `result for unit ${r.unit}, which this job did not put on the queue`);
      // A unit already written (computed twice after a redelivery): nothing more to do.
      m.ack();
      return;
    }
    if (u.msg) {
      m.ack();
      return;
    }
    const problem = this.check(u, r);
    if (problem) {
      this.refuse(m, `result for unit ${r.unit} from gateway ${r.gateway}: ${problem}`);
      // Signed by this job, so its own gateway sent it: compute the unit again rather than wait forever.
      const items = u.items.filter((i) => u.open.has(i.id));
      for (const i of items) this.moved(i.id);
      this.d.redo(items);
      return;
    }
    u.msg = m;
    const byId = new Map(r.answers.map((a) => [a.id, a]));
    // Rows go out per actor, so verification holds each actor's rows until a check of it passes.
    const byActor = new Map<string, { host: string; ep: string | null; items: InputItem[]; results: ItemResult[] }>();
    const gatewayErrors: OutputRow[] = [];
    for (const item of u.items) {
      const a = byId.get(item.id);
      if (!a || !u.open.has(item.id)) continue;
      // The gateway's own error rows (retries exhausted, unfetchable) answer for no actor: nothing to verify.
      if (a.actor === null) {
        if (!a.result.ok) gatewayErrors.push(errorRow(item.id, { code: a.result.code, message: a.result.message }));
        continue;
      }
      let g = byActor.get(a.actor);
      if (!g) byActor.set(a.actor, (g = { host: a.host, ep: a.ep, items: [], results: [] }));
      g.items.push(item);
      g.results.push(a.result);
    }
    for (const [actor, g] of byActor) {
      const now = Date.now();
      const p = this.perActor.get(actor) ?? { host: g.host, ep: g.ep, units: 0, images: 0, firstAt: now, lastAt: now };
      p.units++;
      p.images += g.items.length;
      p.lastAt = now;
      this.perActor.set(actor, p);
      this.d.output.answer(actor, g.host, g.items, g.results);
    }
    for (const row of gatewayErrors) this.d.output.writeError(row);
  }

  /** What is wrong with a unit's result: every input once, no other, and each answer within the model's classes. */
  private check(u: TrackedUnit, r: UnitResult): string | null {
    const ids = new Set(u.items.map((i) => i.id));
    const seen = new Set<string>();
    for (const a of r.answers) {
      if (!ids.has(a.id)) return `answers ${JSON.stringify(a.id)}, which is not one of the unit's inputs`;
      if (seen.has(a.id)) return `answers ${JSON.stringify(a.id)} twice`;
      seen.add(a.id);
      if (!a.result.ok && a.result.code === 'TAB_FETCH_FAILED')
        return `${a.id}: TAB_FETCH_FAILED is not an answer (the gateway fetches such inputs)`;
      if (a.actor === null && a.result.ok) return `${a.id}: a prediction that names no actor`;
    }
    // A resumed unit may be answered whole though some of its rows were written before: those are ignored.
    const missing = [...u.open].filter((id) => !seen.has(id));
    if (missing.length > 0) return `answers ${seen.size} of the unit's ${ids.size} inputs (${JSON.stringify(missing[0])} is missing)`;
    // A gateway fetched what its tabs could not: every answer here counts as for an inline input.
    return checkResult(
      r.answers.map(() => true),
      r.answers.map((a) => a.result),
      this.d.rules,
    );
  }
}
