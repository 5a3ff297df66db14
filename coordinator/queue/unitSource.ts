/**
 * A gateway's side of the work queue: it takes batches (units) from the job's shared consumer as
 * its actors have room, checks each (signature, schema), fetches blob inputs from the object
 * store, keeps the units it holds alive (`working()`), and gives them back (`nak`) or answers them
 * (their results published, then the unit acked).
 */
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { decodeUnit, encodeResult, SIGNATURE_HEADER, sign, signedBy, type UnitHeader, type UnitResult } from './envelope.ts';
import type { QueueConnection } from './jobStore.ts';

/** One batch taken from the queue. */
export interface Unit {
  msg: JsMsg;
  header: UnitHeader;
  /** Each input's bytes, or the URL a tab fetches it from. */
  inputs: (Uint8Array | { url: string })[];
  /** How many times JetStream has delivered it (1 the first time). */
  deliveries: number;
}

export class UnitSource {
  private consumer: Consumer | null = null;
  private readonly held = new Set<JsMsg>();
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly q: QueueConnection,
    private readonly secret: string,
    ackWaitMs: number,
    private readonly log: (line: string) => void,
  ) {
    // Well inside ack_wait: a live gateway's batches are never redelivered to another.
    this.keepAlive = setInterval(
      () => {
        for (const m of this.held) m.working();
      },
      Math.max(500, ackWaitMs / 3),
    );
    this.keepAlive.unref();
  }

  /** Up to `max` units, waiting at most `waitMs` for the first. Refused messages are logged and dropped. */
  async take(max: number, waitMs: number): Promise<Unit[]> {
    this.consumer ??= await this.q.js.consumers.get(this.q.names.workStream, this.q.names.workConsumer);
    const msgs = await this.consumer.fetch({ max_messages: max, expires: Math.max(1000, waitMs) });
    const units: Unit[] = [];
    for await (const m of msgs) {
      const unit = await this.accept(m);
      if (unit) units.push(unit);
    }
    return units;
  }

  private async accept(m: JsMsg): Promise<Unit | null> {
    if (!signedBy(this.secret, m.data, m.headers?.get(SIGNATURE_HEADER))) {
      this.log(`refused a message on ${m.subject} (stream seq ${m.seq}): not signed with this job's secret; it is dropped`);
      m.term(); // bare: nats-server 2.9 ignores a TERM with a reason (collector.ts)
      return null;
    }
    const decoded = decodeUnit(m.data);
    if (!decoded.ok) {
      this.log(`refused a message on ${m.subject} (stream seq ${m.seq}): ${decoded.error}; it is dropped`);
      m.term();
      return null;
    }
    const inputs: Unit['inputs'] = [];
    for (const item of decoded.value.items) {
      if ('blob' in item) {
        const bytes = await this.q.blobs.getBlob(item.blob);
        if (!bytes) {
          // The blob is gone (a store purged by hand): give the unit back rather than lose the input silently.
          this.log(`unit ${decoded.value.header.unit}: blob ${item.blob} is missing from the object store; giving the unit back`);
          m.nak(5_000);
          return null;
        }
        inputs.push(bytes);
      } else inputs.push('url' in item ? { url: item.url } : item.bytes);
    }
    this.held.add(m);
    return { msg: m, header: decoded.value.header, inputs, deliveries: m.info.deliveryCount };
  }

  /**
   * The unit's answers go on the results stream (signed), then the unit is acked: JetStream may
   * forget it. If the publish fails the unit goes back instead, computed again rather than lost.
   */
  async answer(u: Unit, result: UnitResult): Promise<boolean> {
    const body = encodeResult(result);
    const h = headers();
    h.set(SIGNATURE_HEADER, sign(this.secret, body));
    try {
      await this.q.js.publish(this.q.names.resultsSubject, body, { headers: h });
    } catch (err) {
      this.log(`publishing unit ${u.header.unit}'s results failed (${(err as Error).message}); it goes back to the queue`);
      this.giveBack(u);
      return false;
    }
    this.held.delete(u.msg);
    u.msg.ack();
    return true;
  }

  /** Back to the queue at once, for any gateway (an actor was lost, or the batch failed). */
  giveBack(u: Unit): void {
    this.held.delete(u.msg);
    u.msg.nak();
  }

  stop(): void {
    clearInterval(this.keepAlive);
    for (const m of this.held) m.nak();
    this.held.clear();
  }
}
