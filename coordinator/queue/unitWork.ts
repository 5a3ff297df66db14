/**
 * A gateway's work source and result sink: units taken from the job's work queue as its actors
 * have room, their inputs handed to the actor host (which cuts them into batches of its own, sized
 * to each actor), and each unit's answers, once every input of it has one, put on the results
 * stream and the unit acked. Several units can feed one batch, and one unit several batches.
 *
 * A unit goes back to the queue (nak) for any gateway when this one cannot run it: it stops, the
 * job drains, or its actors left while the unit waited untouched. Answers already given for a unit
 * that goes back are dropped: the unit is computed again elsewhere, whole.
 */
import type { SerializedError } from '../../shared/errors.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import type { HostIntake, ResultSink, WorkSource } from '../host/ports.ts';
import { ACTOR_LOSS_WEIGHT } from '../host/workload.ts';
import type { InputItem } from '../io/inputItem.ts';
import type { PoolActor } from '../pool/actor.ts';
import type { UnitResult } from './envelope.ts';
import type { QueueJobSpec } from './jobStore.ts';
import type { Unit, UnitSource } from './unitSource.ts';

type Answer = UnitResult['answers'][number];

interface HeldUnit {
  unit: Unit;
  ids: Set<string>;
  answers: Map<string, Answer>;
}

export interface UnitWorkDeps {
  units: UnitSource;
  spec: QueueJobSpec;
  gatewayId: string;
  /** Whether to take units now (the job runs, and this gateway is not stopping). */
  taking(): boolean;
  /** Whether dispatch has begun (the job's pool has its minimum ready). */
  started(): boolean;
  /** Whether any actor is active here: a unit that arrives when none is goes straight back. */
  hasActors(): boolean;
  log(line: string): void;
}

export class UnitWork implements WorkSource, ResultSink {
  private readonly held = new Map<number, HeldUnit>();
  private readonly unitOf = new Map<string, HeldUnit>();
  private fetching = false;
  private lastTakeEmpty = false;
  readonly counts = { units: 0, inputs: 0, givenBack: 0 };

  constructor(
    private readonly intake: HostIntake,
    private readonly d: UnitWorkDeps,
  ) {}

  /** The queue had nothing at the last try and nothing waits here: the host runs its tail. */
  get exhausted(): boolean {
    return this.lastTakeEmpty && this.intake.pendingItems === 0;
  }

  /** Units held here (taken, not yet answered or given back). */
  get holding(): number {
    return this.held.size;
  }

  wake(): void {
    if (this.fetching || !this.d.taking() || !this.d.started()) return;
    const room = this.intake.freeCapacity() - this.intake.pendingItems;
    if (room <= 0) return;
    const unitSize = this.d.spec.batchSize === 'auto' ? this.d.spec.maxBatch : this.d.spec.batchSize;
    this.fetching = true;
    this.d.units
      .take(Math.max(1, Math.ceil(room / unitSize)), 1000)
      .then((units) => {
        this.lastTakeEmpty = units.length === 0;
        for (const u of units) this.hold(u);
      })
      .catch((err: unknown) => this.d.log(`taking work from NATS failed: ${(err as Error).message}`))
      .finally(() => {
        this.fetching = false;
        // Long-polls: an empty queue answers after a second, then the gateway asks again.
        if (this.d.taking()) setImmediate(() => this.wake());
      });
  }

  private hold(unit: Unit): void {
    const n = unit.header.unit;
    if (this.held.has(n)) {
      // Delivered again while this gateway still runs it (a reconnect): the copy here answers.
      unit.msg.nak(5_000);
      return;
    }
    if (!this.d.hasActors()) {
      // A take that was waiting when the last actor here left: nothing here would run the unit (and nothing would give it back).
      this.counts.givenBack++;
      this.d.log(`unit ${n} handed back to the queue for any gateway: no actor is left here`);
      unit.msg.nak(1_000);
      return;
    }
    const items: InputItem[] = unit.header.ids.map((id, i) => {
      const input = unit.inputs[i]!;
      return input instanceof Uint8Array ? { id, source: `unit ${n} input ${i}`, bytes: input } : { id, source: input.url, url: input.url };
    });
    const h: HeldUnit = { unit, ids: new Set(unit.header.ids), answers: new Map() };
    this.held.set(n, h);
    for (const id of h.ids) this.unitOf.set(id, h);
    // Each earlier delivery ended without an answer: its holder was lost (a gateway died, or gave it
    // back for want of actors), which counts as a lost actor counts in the host, a quarter of a failure.
    this.intake.add(items, (unit.deliveries - 1) * ACTOR_LOSS_WEIGHT);
  }

  answered(actor: PoolActor, items: InputItem[], results: ItemResult[]): void {
    for (const [i, item] of items.entries())
      this.answer(item.id, {
        id: item.id,
        actor: `${this.d.gatewayId}/${actor.id}`,
        host: actor.hostId,
        ep: actor.ep,
        result: results[i]!,
      });
  }

  failed(item: InputItem, error: SerializedError): void {
    this.answer(item.id, { id: item.id, actor: null, host: this.d.gatewayId, ep: null, result: { ok: false, ...error } });
  }

  private answer(id: string, a: Answer): void {
    // An answer for a unit that went back (or was answered already) is dropped.
    const h = this.unitOf.get(id);
    if (!h || h.answers.has(id)) return;
    h.answers.set(id, a);
    if (h.answers.size < h.ids.size) return;
    this.forget(h);
    const answers = h.unit.header.ids.map((uid) => h.answers.get(uid)!);
    void this.d.units.answer(h.unit, { v: 1, unit: h.unit.header.unit, gateway: this.d.gatewayId, answers }).then((ok) => {
      if (!ok) return;
      this.counts.units++;
      this.counts.inputs += answers.length;
    });
  }

  /**
   * Units that should go back to the queue now. `all` (a drain, a stop): every unit nothing of which is
   * out on an actor. `empty` (no actor is left here, say the last was barred): every unit, those some
   * answers came for too, since nothing here will finish them (the answers are dropped; the unit is
   * computed again elsewhere, whole). `excess` (an actor left): the untouched units beyond what the
   * actors here can take, newest first.
   */
  trim(mode: 'all' | 'empty' | 'excess'): void {
    let excess = mode === 'excess' ? this.intake.pendingItems - this.intake.freeCapacity() : Infinity;
    for (const h of [...this.held.values()].reverse()) {
      if (excess <= 0) return;
      if (mode === 'excess' && h.answers.size > 0) continue;
      const open = new Set([...h.ids].filter((id) => !h.answers.has(id)));
      // Held units always wait for some answer; the inputs they wait for must not be out on an actor.
      if (!this.intake.withdraw(open)) continue;
      excess -= h.ids.size;
      const why =
        mode === 'all'
          ? 'the job drains or this gateway stops'
          : mode === 'empty'
            ? 'no actor is left here'
            : 'no actor here can take it now';
      this.giveBack(h, why);
    }
  }

  private giveBack(h: HeldUnit, why: string): void {
    this.d.log(`unit ${h.unit.header.unit} handed back to the queue for any gateway: ${why}`);
    this.forget(h);
    this.counts.givenBack++;
    this.d.units.giveBack(h.unit);
  }

  private forget(h: HeldUnit): void {
    this.held.delete(h.unit.header.unit);
    for (const id of h.ids) if (this.unitOf.get(id) === h) this.unitOf.delete(id);
  }
}
