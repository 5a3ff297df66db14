/**
 * A job on NATS JetStream: its streams, consumers, buckets and object store (created by `run`,
 * attached to by gateways), the job spec every gateway serves its tabs from, the job's files (each
 * streamed into the object store and out of it to the gateway's disk), and the job's state
 * (running, draining, done). Everything read from the network is validated.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { TabpoolError } from '../../shared/errors.ts';
import { parseOutputs } from '../../shared/columns.ts';
import { actorInputsSchema, inputPreprocessSchema, recycleSchema } from '../../shared/protocol.ts';
import type { JobContent, StoredFile } from '../actor/tabSpec.ts';
import { jobResources, type JobResources } from './names.ts';

/** What a gateway needs to serve the job's tabs, published by `run`. */
const fileRef = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() });

const specSchema = z.object({
  v: z.literal(1),
  secret: z.string().length(64),
  /** The actor and model, in words, for messages (`built-in classifier on resnet18`). */
  modelName: z.string(),
  /** What a tab loads the model by, but where from (each gateway serves it) and which EPs (each actor is offered). */
  /** What a tab loads, but where from (each gateway serves the files from the object store) and which EPs (each actor is offered). */
  tab: z.object({
    /** `ctx.models`, by name. */
    files: z.array(fileRef.extend({ name: z.string().min(1).max(1024) })).max(4096),
    module: fileRef.nullable(),
    config: z.unknown(),
    inputs: actorInputsSchema,
    preprocess: inputPreprocessSchema,
    exifTranspose: z.boolean().default(false),
    outputs: z.record(z.string(), z.string()),
    numThreads: z.number().int().positive(),
    allowSoftwareGpu: z.boolean(),
    recycle: recycleSchema.default({ afterBatches: null, aboveBytes: null }),
  }),
  ep: z.enum(['auto', 'webgpu', 'wasm']),
  allowSoftwareGpu: z.boolean(),
  numGpus: z.number().nullable(),
  numCpus: z.number().nullable(),
  actorMemory: z.number().positive(),
  maxTasksInFlight: z.number().int().positive(),
  batchTimeoutMs: z.number().positive().nullable(),
  pool: z.object({ min: z.number().int().positive(), max: z.number().int().positive() }),
  /** Milliseconds a gateway may hold a batch without a sign of life before JetStream redelivers it. */
  ackWaitMs: z.number().int().positive(),
  maxRetries: z.number().int().nonnegative(),
  /**
   * How a gateway cuts the inputs of the units it holds into batches for its actors (--batch-size), within
   * the memory budget's largest batch.
   */
  batchSize: z.union([z.literal('auto'), z.number().int().positive()]),
  maxBatch: z.number().int().positive(),
  /** The model's batch dimension when it is fixed, else null. */
  fixedBatch: z.number().int().positive().nullable(),
  stallTimeoutMs: z.number().positive(),
});
export type QueueJobSpec = z.infer<typeof specSchema>;

const stateSchema = z.object({
  phase: z.enum(['running', 'draining', 'done', 'failed']),
  reason: z.string().nullable(),
  /**
   * Actors and hosts barred from the job (they lied): every gateway closes such an actor
   * (`gateway/actor-N`), and with `actor` null refuses and evicts every tab of the host.
   */
  barred: z.array(z.object({ host: z.string(), actor: z.string().nullable(), reason: z.string() })),
});
export type QueueJobState = z.infer<typeof stateSchema>;

export interface QueueConnection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: JobResources;
  state: KV;
  units: KV;
  pool: KV;
  gateways: KV;
  blobs: ObjectStore;
  maxPayload: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A gateway that stops refreshing its key (SIGKILL, a lost machine) is forgotten this long after its last refresh. */
export const GATEWAY_TTL_MS = 10_000;
/** `run` keeps each result it holds alive within this; a `run` that died has its results redelivered after it. */
const RESULTS_ACK_WAIT_MS = 10_000;

export async function connectQueue(servers: string[], job: string): Promise<QueueConnection> {
  const names = jobResources(job);
  let nc: NatsConnection;
  try {
    // noAsyncTraces: no Error built (for its stack) on every request; a tenth of the CPU at batch size 1.
    nc = await connect({ servers, name: `tabpool ${job}`, maxReconnectAttempts: -1, noAsyncTraces: true });
  } catch (err) {
    throw new TabpoolError(
      'JOB_FAILED',
      `could not connect to NATS at ${servers.join(', ')} (${(err as Error).message}); start nats-server ` +
        `-js, or point --queue at your cluster`,
    );
  }
  const jsm = await jetstreamManager(nc).catch((err: Error) => {
    throw new TabpoolError('JOB_FAILED', `NATS at ${servers.join(', ')} has no JetStream (${err.message}); run nats-server with -js`);
  });
  const kvm = new Kvm(nc);
  const [state, units, pool, gateways] = await Promise.all([
    kvm.create(names.stateBucket, { history: 1 }),
    kvm.create(names.unitsBucket, { history: 1 }),
    kvm.create(names.poolBucket, { history: 1 }),
    // A gateway's key is refreshed every few seconds; one that stops is gone after this.
    kvm.create(names.gatewaysBucket, { history: 1, ttl: GATEWAY_TTL_MS }),
  ]);
  const blobs = await new Objm(nc).create(names.blobStore);
  return { nc, js: jetstream(nc), jsm, names, state, units, pool, gateways, blobs, maxPayload: nc.info?.max_payload ?? 1_048_576 };
}

/** Creates the job's streams and consumers (`run`, once); a resumed job finds them there. */
export async function ensureStreams(q: QueueConnection, ackWaitMs: number): Promise<void> {
  const { jsm, names } = q;
  await addStream(jsm, {
    name: names.workStream,
    subjects: [names.workSubject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: 24 * 3600 * 1e9,
  });
  // Both are work queues: a batch leaves the stream once a gateway acks it, a result once `run` wrote its rows.
  await addStream(jsm, {
    name: names.resultsStream,
    subjects: [names.resultsSubject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await jsm.consumers.add(names.workStream, {
    durable_name: names.workConsumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitMs * 1e6,
    max_deliver: -1,
    deliver_policy: DeliverPolicy.All,
  });
  await jsm.consumers.add(names.resultsStream, {
    durable_name: names.resultsConsumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: RESULTS_ACK_WAIT_MS * 1e6,
    max_deliver: -1,
    deliver_policy: DeliverPolicy.All,
  });
}

async function addStream(jsm: JetStreamManager, config: Parameters<JetStreamManager['streams']['add']>[0]): Promise<void> {
  try {
    await jsm.streams.info(config.name!);
  } catch {
    await jsm.streams.add(config);
  }
}

export function newSecret(): string {
  return randomBytes(32).toString('hex');
}

export async function putSpec(q: QueueConnection, spec: QueueJobSpec): Promise<void> {
  await q.state.put('spec', encoder.encode(JSON.stringify(spec)));
}

/** The job's spec, as `run` published it; a gateway waits for it when it starts first. */
export async function readSpec(q: QueueConnection): Promise<QueueJobSpec | null> {
  const e = await q.state.get('spec');
  if (!e || e.length === 0) return null;
  const parsed = specSchema.safeParse(JSON.parse(decoder.decode(e.value)));
  if (!parsed.success)
    throw new TabpoolError(
      'JOB_FAILED',
      `job ${q.names.job}'s spec in NATS is not one this tabpool reads (${parsed.error.issues[0]?.message}); is it another version's job?`,
    );
  return parsed.data;
}

/**
 * This `run`'s incarnation of the job (1 the first time, one more on each --resume), by
 * compare-and-set: unit ids are incarnation × 2^30 + n, unique across restarts, so JetStream's
 * de-duplication (by unit id) never drops a new unit as an old one.
 */
export async function nextIncarnation(q: QueueConnection): Promise<number> {
  for (;;) {
    const e = await q.state.get('incarnation');
    const n = e && e.length > 0 ? Number(decoder.decode(e.value)) + 1 : 1;
    try {
      if (e && e.revision > 0) await q.state.update('incarnation', encoder.encode(String(n)), e.revision);
      else await q.state.create('incarnation', encoder.encode(String(n)));
      return n;
    } catch {
      // Another run of the same job changed it first: read again.
    }
  }
}

export const UNITS_PER_INCARNATION = 2 ** 30;

export async function putState(q: QueueConnection, state: QueueJobState): Promise<void> {
  await q.state.put('state', encoder.encode(JSON.stringify(state)));
}

export async function readState(q: QueueConnection): Promise<QueueJobState> {
  const e = await q.state.get('state');
  const parsed = e && e.length > 0 ? stateSchema.safeParse(JSON.parse(decoder.decode(e.value))) : null;
  return parsed?.success ? parsed.data : { phase: 'running', reason: null, barred: [] };
}

/** Waits for `run` to publish the job's spec (a gateway may start first); null after `timeoutMs`. */
export async function waitForSpec(q: QueueConnection, timeoutMs: number): Promise<QueueJobSpec | null> {
  const now = await readSpec(q);
  if (now) return now;
  const watch = await q.state.watch({ key: 'spec' });
  const timer = setTimeout(() => watch.stop(), timeoutMs);
  try {
    for await (const e of watch) if (e.length > 0) return await readSpec(q);
    return null;
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
}

/** Calls `on` with the job's state now and whenever it changes. */
export async function watchState(q: QueueConnection, on: (s: QueueJobState) => void): Promise<() => void> {
  const watch = await q.state.watch({ key: 'state' });
  void (async () => {
    for await (const e of watch) {
      const parsed = e.length > 0 ? stateSchema.safeParse(JSON.parse(decoder.decode(e.value))) : null;
      if (parsed?.success) on(parsed.data);
    }
  })();
  return () => watch.stop();
}

/** A job file (a model file, the actor module) into the job's object store, by its sha256, streamed from disk. */
export async function putFile(q: QueueConnection, f: StoredFile): Promise<void> {
  const name = `file-${f.sha256}`;
  if (await q.blobs.info(name)) return;
  await q.blobs.put({ name }, Readable.toWeb(createReadStream(f.path, { highWaterMark: 1 << 20 })) as ReadableStream<Uint8Array>);
}

/**
 * A job file out of the object store onto this machine's disk (`<cacheDir>/files/<sha256><ext>`, kept), its sha256
 * checked. The actor module gets `.mjs`, which Node imports as an ES module wherever the cache is.
 */
export async function getFile(q: QueueConnection, sha256: string, cacheDir: string, ext = ''): Promise<string> {
  const file = path.join(cacheDir, 'files', `${sha256}${ext}`);
  if (existsSync(file)) return file;
  const got = await q.blobs.get(`file-${sha256}`);
  if (!got) throw new TabpoolError('JOB_FAILED', `the file ${sha256.slice(0, 12)}… is not in job ${q.names.job}'s object store`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const hash = createHash('sha256');
  const out = createWriteStream(tmp);
  try {
    await pipeline(
      Readable.fromWeb(got.data as import('node:stream/web').ReadableStream<Uint8Array>),
      new Writable({
        write(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          out.write(chunk, done);
        },
        final(done) {
          out.end(done);
        },
      }),
    );
    const failed = await got.error;
    if (failed) throw failed;
    if (hash.digest('hex') !== sha256)
      throw new TabpoolError('JOB_FAILED', `a file in job ${q.names.job}'s object store does not match its sha256; restart the job`);
    await fs.rename(tmp, file);
  } catch (err) {
    out.destroy();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  return file;
}

/** The job's content as a gateway serves it: the spec's tab part, its files fetched to `cacheDir`. */
export async function readContent(q: QueueConnection, spec: QueueJobSpec, cacheDir: string): Promise<JobContent> {
  const t = spec.tab;
  const parsed = parseOutputs(t.outputs);
  if (!parsed.ok) throw new TabpoolError('JOB_FAILED', `job ${q.names.job}'s outputs do not parse: ${parsed.error}`);
  const files = [];
  for (const f of t.files) files.push({ ...f, path: await getFile(q, f.sha256, cacheDir) });
  return {
    files,
    module: t.module && { ...t.module, path: await getFile(q, t.module.sha256, cacheDir, '.mjs') },
    config: t.config,
    inputs: t.inputs,
    preprocess: t.preprocess,
    exifTranspose: t.exifTranspose,
    columns: parsed.columns,
  };
}
