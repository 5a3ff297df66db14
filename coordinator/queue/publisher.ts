/**
 * `run`'s side of the work queue: inputs read from the dataset are cut into units (batches) and
 * put on the job's work stream, a bounded window ahead of the results. Before a unit goes on the
 * queue its inputs are recorded in the job's units bucket, so a restarted `run` knows every unit
 * that is queued, in flight or answered but not yet written, and puts none of them on the queue
 * twice. A unit fits in one message: inputs are cut by count and by bytes, and an input larger than
 * a message goes through the object store.
 */
import { headers } from '@nats-io/transport-node';
import { z } from 'zod';
import { wireInput, type InputItem } from '../io/inputItem.ts';
import { encodeUnit, SIGNATURE_HEADER, sign, type UnitItem } from './envelope.ts';
import type { QueueConnection } from './jobStore.ts';

/** Room kept in each message for its header and NATS's own framing. */
const HEADER_ROOM = 64 * 1024;

const entrySchema = z.object({ ids: z.array(z.string()), sources: z.array(z.string()) });
export type UnitEntry = z.infer<typeof entrySchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface PublishedUnit {
  id: number;
  items: InputItem[];
}

export class Publisher {
  private current: InputItem[] = [];
  private currentBytes = 0;
  private readonly publishing = new Set<Promise<void>>();
  private failure: Error | null = null;

  constructor(
    private readonly q: QueueConnection,
    private readonly secret: string,
    private readonly unitSize: number,
    /** The next unit id (from the job's state: ids stay unique across restarts). */
    private nextId: number,
    private readonly onUnit: (unit: PublishedUnit) => void,
  ) {}

  private get budget(): number {
    return Math.max(64 * 1024, this.q.maxPayload - HEADER_ROOM);
  }

  /** Adds an input to the unit being cut; a full unit is put on the queue. */
  add(item: InputItem): void {
    const size = 'bytes' in item ? item.bytes.byteLength : 0;
    const inline = size <= this.budget / 2 ? size : 0;
    if (this.current.length > 0 && (this.current.length >= this.unitSize || this.currentBytes + inline > this.budget)) this.flush();
    this.current.push(item);
    this.currentBytes += inline;
    if (this.current.length >= this.unitSize) this.flush();
  }

  /** Puts the partial unit on the queue (the dataset is read to its end). */
  flush(): void {
    if (this.current.length === 0) return;
    const items = this.current;
    this.current = [];
    this.currentBytes = 0;
    this.publish(items);
  }

  /** Puts `items` on the queue as a unit of their own (inputs to compute again). */
  publish(items: InputItem[]): void {
    this.republish(this.nextId++, items);
  }

  /**
   * Puts unit `id` on the queue. The message carries the unit's id as its JetStream message id:
   * a unit a previous `run` already put there (resume) is dropped by the server as a duplicate.
   */
  republish(id: number, items: InputItem[], track = true): void {
    const unit = { id, items };
    // Tracked before it is on the queue: its result cannot arrive first.
    if (track) this.onUnit(unit);
    if (items.length === 0) return;
    const p = this.put(unit).catch((err: unknown) => void (this.failure ??= err as Error));
    this.publishing.add(p);
    void p.finally(() => this.publishing.delete(p));
  }

  async idle(): Promise<void> {
    await Promise.all(this.publishing);
    if (this.failure) throw this.failure;
  }

  private async put(unit: PublishedUnit): Promise<void> {
    const entry: UnitEntry = { ids: unit.items.map((i) => i.id), sources: unit.items.map((i) => i.source) };
    await this.q.units.put(unitKey(unit.id), encoder.encode(JSON.stringify(entry)));
    const header: UnitItem[] = [];
    const inline: Uint8Array[] = [];
    for (const [n, item] of unit.items.entries()) {
      if (!('bytes' in item)) header.push(wireInput(item) as { url: string });
      else if (item.bytes.byteLength > this.budget / 2) {
        const blob = `unit-${unit.id}-${n}`;
        await this.q.blobs.putBlob({ name: blob }, item.bytes);
        header.push({ blob, byteLength: item.bytes.byteLength });
      } else {
        header.push({ byteLength: item.bytes.byteLength });
        inline.push(item.bytes);
      }
    }
    const body = encodeUnit({ v: 1, unit: unit.id, ids: entry.ids, items: header }, inline);
    const h = headers();
    h.set(SIGNATURE_HEADER, sign(this.secret, body));
    await this.q.js.publish(this.q.names.workSubject, body, { headers: h, msgID: `unit-${unit.id}` });
  }
}

export function unitKey(id: number): string {
  return `u${id}`;
}

/**
 * Forgets a unit whose rows are written. A purge of its key's subject, not a KV delete: a delete
 * leaves a marker behind, one per unit for the life of the job.
 */
export async function forgetUnit(q: QueueConnection, id: number): Promise<void> {
  await q.jsm.streams.purge(`KV_${q.names.unitsBucket}`, { filter: `$KV.${q.names.unitsBucket}.${unitKey(id)}` });
}

/** Units a previous `run` of this job recorded and has not finished (resume). */
export async function recordedUnits(q: QueueConnection): Promise<Map<number, UnitEntry>> {
  const out = new Map<number, UnitEntry>();
  for await (const key of await q.units.keys()) {
    const e = await q.units.get(key);
    const id = Number(key.slice(1));
    const parsed = e && e.length > 0 ? entrySchema.safeParse(parseJson(decoder.decode(e.value))) : null;
    if (parsed?.success && Number.isSafeInteger(id)) out.set(id, parsed.data);
  }
  return out;
}

/** JSON, or undefined where the text is none (a foreign entry in the bucket is skipped, not a failed resume). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
