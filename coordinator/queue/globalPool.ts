/**
 * The job's pool across gateways: one document in a key-value bucket listing every actor that
 * holds a slot (which gateway serves it, its host, what it reserves), changed only by
 * compare-and-set, so two gateways cannot both take the last slot. Gateways announce themselves
 * in a bucket whose keys expire: the actors of a gateway that stopped (SIGKILL, a lost machine)
 * stop counting GATEWAY_TTL_MS (10 s) later, and the next change removes them.
 */
import { z } from 'zod';
import type { ActorRoster } from '../pool/actorRoster.ts';
import type { PoolActor } from '../pool/actor.ts';
import type { Resources } from '../pool/resources.ts';
import type { QueueConnection } from './jobStore.ts';

const KEY = 'doc';
/** A gateway refreshes its key this often; the bucket forgets it GATEWAY_TTL_MS after the last refresh. */
const HEARTBEAT_MS = 3_000;
const MAX_TRIES = 50;

const resources = z.object({ gpus: z.number(), cpus: z.number(), memoryBytes: z.number() });
const docSchema = z.object({
  actors: z.record(z.string(), z.object({ gateway: z.string(), host: z.string(), state: z.enum(['loading', 'ready']), budget: resources })),
});
export type PoolDoc = z.infer<typeof docSchema>;
export type PoolEntry = PoolDoc['actors'][string];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class GlobalPool {
  /** The document as last read, without the actors of gateways that are gone; what is read of it, counted once a read. */
  private snapshotDoc: PoolDoc = { actors: {} };
  private counts: SnapshotCounts | null = null;
  private alive = new Set<string>();
  private heartbeat: NodeJS.Timeout | null = null;
  private stopWatch: (() => void) | null = null;

  constructor(
    private readonly q: QueueConnection,
    readonly gatewayId: string,
    private readonly onChange: () => void,
  ) {}

  private get snapshot(): PoolDoc {
    return this.snapshotDoc;
  }

  private set snapshot(doc: PoolDoc) {
    this.snapshotDoc = doc;
    this.counts = null;
  }

  /** What admission and the job's minimum read of the last snapshot, counted once per read (they ask per tab). */
  private counted(): SnapshotCounts {
    if (this.counts) return this.counts;
    const c: SnapshotCounts = { ready: 0, othersActive: 0, othersOnHost: new Map(), gateways: new Set([this.gatewayId]) };
    for (const a of Object.values(this.snapshotDoc.actors)) {
      if (a.state === 'ready') c.ready++;
      c.gateways.add(a.gateway);
      if (a.gateway === this.gatewayId) continue;
      c.othersActive++;
      c.othersOnHost.set(a.host, plus(c.othersOnHost.get(a.host) ?? NONE, a.budget));
    }
    return (this.counts = c);
  }

  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), HEARTBEAT_MS);
    this.heartbeat.unref();
    const watch = await this.q.pool.watch({ key: KEY });
    this.stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) {
        const doc = e.length > 0 ? parse(e.value) : { actors: {} };
        await this.refreshAlive(doc).catch(() => undefined);
        this.snapshot = this.live(doc);
        this.onChange();
      }
    })();
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.stopWatch?.();
    await this.change((doc) => {
      for (const [k, v] of Object.entries(doc.actors)) if (v.gateway === this.gatewayId) delete doc.actors[k];
      return true;
    }).catch(() => undefined);
    await this.q.gateways.delete(this.gatewayId).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    await this.q.gateways.put(this.gatewayId, encoder.encode(String(Date.now())));
  }

  /** Which gateways named in `doc` are alive: their key is in the bucket (one direct get each, no consumer). */
  private async refreshAlive(doc: PoolDoc): Promise<void> {
    const named = new Set(Object.values(doc.actors).map((a) => a.gateway));
    named.delete(this.gatewayId);
    const alive = new Set<string>([this.gatewayId]);
    await Promise.all(
      [...named].map(async (g) => {
        const e = await this.q.gateways.get(g);
        if (e && e.operation === 'PUT' && e.length > 0) alive.add(g);
      }),
    );
    this.alive = alive;
  }

  private live(doc: PoolDoc): PoolDoc {
    const actors: PoolDoc['actors'] = {};
    for (const [k, v] of Object.entries(doc.actors)) if (this.alive.has(v.gateway)) actors[k] = v;
    return { actors };
  }

  /** Actors other gateways hold, and what they reserve on `hostId` (from the last read). */
  elsewhere(): { active: number; hostUsed(hostId: string): Resources } {
    const c = this.counted();
    return { active: c.othersActive, hostUsed: (hostId) => c.othersOnHost.get(hostId) ?? NONE };
  }

  /** Reads the pool again, dropping the actors of gateways that are gone. */
  async refresh(): Promise<void> {
    const e = await this.q.pool.get(KEY);
    const doc = e && e.length > 0 ? parse(e.value) : { actors: {} };
    await this.refreshAlive(doc);
    this.snapshot = this.live(doc);
  }

  /** Gateways serving actors of the job (as last read), this one included. */
  get gateways(): number {
    return this.counted().gateways.size;
  }

  /** Ready actors in the whole job (the pool's minimum is counted across gateways). */
  readyCount(): number {
    return this.counted().ready;
  }

  /**
   * Applies `edit` to the latest document by compare-and-set, retrying on a concurrent change.
   * `edit` returns false to leave the document as it is (its check failed on the latest state).
   */
  async change(edit: (doc: PoolDoc) => boolean): Promise<boolean> {
    for (let i = 0; i < MAX_TRIES; i++) {
      const e = await this.q.pool.get(KEY);
      const read = e && e.length > 0 ? parse(e.value) : { actors: {} };
      await this.refreshAlive(read);
      const doc = this.live(read);
      this.snapshot = doc;
      const before = canonical(read);
      if (!edit(doc)) return false;
      // Unchanged: no write (every write wakes every gateway's watch, which syncs again).
      if (canonical(doc) === before) return true;
      try {
        const bytes = encoder.encode(JSON.stringify(doc));
        if (e && e.revision > 0) await this.q.pool.update(KEY, bytes, e.revision);
        else await this.q.pool.create(KEY, bytes);
        this.snapshot = doc;
        return true;
      } catch {
        // Another gateway changed it first: read again and decide again.
      }
    }
    throw new Error(`the job's pool document kept changing under ${MAX_TRIES} tries`);
  }
}

/**
 * Writes a gateway's active actors into the job's pool by compare-and-set. Actors already there
 * stay; a new one is added only if the latest pool has room for it (under `max`, and its host's
 * capacity counting every gateway's actors on that host); those that do not fit are demoted to
 * standby in `pool` and returned.
 */
export async function syncPool(global: GlobalPool, pool: ActorRoster, gatewayId: string, max: number): Promise<PoolActor[]> {
  const demoted: PoolActor[] = [];
  await global.change((doc) => {
    const before = new Set(Object.keys(doc.actors).filter((k) => doc.actors[k]!.gateway === gatewayId));
    for (const k of before) delete doc.actors[k];
    const known = (a: PoolActor) => before.has(poolKey(gatewayId, a.id));
    const mine = pool.active().sort((a, b) => Number(!known(a)) - Number(!known(b)));
    demoted.length = 0;
    // What each host holds and how many actors the pool has, kept as actors are added (one pass, not one per actor).
    const onHost = new Map<string, Resources>();
    let count = 0;
    for (const e of Object.values(doc.actors)) {
      onHost.set(e.host, plus(onHost.get(e.host) ?? NONE, e.budget));
      count++;
    }
    for (const a of mine) {
      const host = pool.hosts.get(a.hostId)!;
      const used = onHost.get(a.hostId) ?? NONE;
      const fits = (r: 'gpus' | 'cpus' | 'memoryBytes') => used[r] + a.budget[r] <= host.capacity[r] + 1e-9;
      if (!known(a) && (count >= max || !fits('gpus') || !fits('cpus') || !fits('memoryBytes'))) {
        demoted.push(a);
        continue;
      }
      onHost.set(a.hostId, plus(used, a.budget));
      count++;
      doc.actors[poolKey(gatewayId, a.id)] = {
        gateway: gatewayId,
        host: a.hostId,
        state: a.state === 'ready' ? 'ready' : 'loading',
        budget: a.budget,
      };
    }
    return true;
  });
  for (const a of demoted)
    pool.demote(a, `the job's pool is full across its gateways (max ${max}), or host ${a.hostId} is; waiting for an actor to leave`);
  return demoted;
}

interface SnapshotCounts {
  ready: number;
  othersActive: number;
  othersOnHost: Map<string, Resources>;
  gateways: Set<string>;
}

const NONE: Resources = { gpus: 0, cpus: 0, memoryBytes: 0 };

function plus(r: Resources, b: Resources): Resources {
  return { gpus: r.gpus + b.gpus, cpus: r.cpus + b.cpus, memoryBytes: r.memoryBytes + b.memoryBytes };
}

/** An actor's key in the pool document: gateways number their actors independently. */
function poolKey(gateway: string, actorId: string): string {
  return `${gateway}/${actorId}`;
}

/** The document with its actors in key order: equal strings, equal pools. */
function canonical(doc: PoolDoc): string {
  return JSON.stringify(Object.entries(doc.actors).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function parse(bytes: Uint8Array): PoolDoc {
  const parsed = docSchema.safeParse(JSON.parse(decoder.decode(bytes)));
  return parsed.success ? parsed.data : { actors: {} };
}
