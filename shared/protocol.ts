/**
 * The wire format between the coordinator and a worker page (an actor), and nothing else: one zod
 * schema per message, and the TypeScript types derived from them (`z.infer`), so what is validated
 * is what is typed. Control messages are JSON text frames tagged by a kebab-case `type`; batch
 * payloads travel as binary frames (batchFrame.ts) whose header is validated here too.
 *
 * A message that fails its schema gets an error naming the field path
 * (`items.0.topk.1.score: expected number, received NaN`).
 */
import { z } from 'zod';
import { ERROR_CODE_NAMES } from './errors.ts';

export const PROTOCOL_VERSION = 7;

const MAX_ITEMS = 4096;
const shortString = z.string().max(512);
const nonNegative = z.number().nonnegative();
const errorCode = z.enum(ERROR_CODE_NAMES);

/** Execution providers an actor can run on. */
export const executionProviderSchema = z.enum(['webgpu', 'wasm']);
export type ExecutionProvider = z.infer<typeof executionProviderSchema>;

/** The WebGPU adapter as the page sees it; fields copied by name (adapter.info's fields are getters). */
const adapterInfo = z.object({
  vendor: shortString,
  architecture: shortString,
  device: shortString,
  description: shortString,
  /** True for a software fallback (SwiftShader reports `swiftshader` as its architecture). */
  isSoftware: z.boolean(),
  limits: z.record(z.string().max(128), z.number()).refine((r) => Object.keys(r).length <= 256, 'too many limits'),
});
export type AdapterInfo = z.infer<typeof adapterInfo>;

/** What a page reports about itself when it joins. */
const capabilities = z.object({
  webgpu: adapterInfo.nullable(),
  hardwareConcurrency: z.number().int().min(0).max(4096),
  /** navigator.deviceMemory in GiB, when the browser reports it (it rounds and caps at 8). */
  deviceMemoryGiB: nonNegative.nullable(),
  crossOriginIsolated: z.boolean(),
  /** False when the page was opened over plain http from another machine: no WebGPU there. */
  secureContext: z.boolean(),
  userAgent: z.string().max(1024),
});
export type Capabilities = z.infer<typeof capabilities>;

/** Resources the person opening the page declared in its URL; they win over what the browser reports. */
const declaredResources = z.object({
  gpus: nonNegative.optional(),
  cpus: nonNegative.optional(),
  memoryBytes: nonNegative.optional(),
});
export type DeclaredResources = z.infer<typeof declaredResources>;

/** One input's answer: the row the actor computed (checked against its declared columns, shared/columns.ts), or why it has none. */
export const itemResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), row: z.record(z.string().max(64), z.unknown()) }),
  z.object({ ok: z.literal(false), code: errorCode, message: z.string().max(2048) }),
]);
export type ItemResult = z.infer<typeof itemResultSchema>;

// ---------------------------------------------------------------- actor → coordinator

const hello = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  /** Stable id of the browser profile (tabs of one profile on one machine are one host). */
  hostId: z.string().min(1).max(128),
  capabilities,
  declared: declaredResources,
  /** The EP this tab was pinned to in its URL (`&ep=`), or null to let the job decide. */
  pinnedEp: executionProviderSchema.nullable(),
});

/** One EP as the tab measured it for the job's model (--ep auto): images a second, or null with why. */
const epFigure = z.object({
  ep: executionProviderSchema,
  imagesPerSecond: z.number().positive().nullable(),
  note: z.string().max(512),
});
export type EpFigure = z.infer<typeof epFigure>;

const ready = z.object({
  type: z.literal('ready'),
  /** The EP it runs on: the only one it was offered, or the faster it measured. */
  ep: executionProviderSchema,
  /** What it measured when it was offered more than one EP (empty otherwise). */
  probe: z.array(epFigure).max(2),
  /** Milliseconds to fetch (or read from cache), verify and create the session. */
  loadMs: nonNegative,
  /** Milliseconds of the warm-up run (shader compilation on WebGPU). */
  warmupMs: nonNegative,
  modelFromCache: z.boolean(),
  /** The wasm threads its actor runs (1 where the page is not cross-origin isolated, whatever was asked). */
  threads: z.number().int().positive().max(1024),
});

const result = z.object({
  type: z.literal('result'),
  batchId: z.number().int().nonnegative(),
  items: z.array(itemResultSchema).min(1).max(MAX_ITEMS),
  timing: z.object({ decodeMs: nonNegative, inferenceMs: nonNegative, totalMs: nonNegative }),
});

/** The whole batch failed for a reason not tied to one input (device lost, session error). */
const batchFailed = z.object({
  type: z.literal('batch-failed'),
  batchId: z.number().int().nonnegative(),
  code: errorCode,
  message: z.string().max(2048),
});

/** The actor cannot go on (model failed to load, no WebGPU, device lost for good). */
const actorError = z.object({ type: z.literal('actor-error'), code: errorCode, message: z.string().max(2048) });

/** A re-plan of its threads took effect: its actor now runs this many wasm threads. */
const threadsRunning = z.object({ type: z.literal('threads'), threads: z.number().int().positive().max(1024) });

export const toCoordinatorSchema = z.discriminatedUnion('type', [hello, ready, result, batchFailed, actorError, threadsRunning]);
export type ToCoordinator = z.infer<typeof toCoordinatorSchema>;
export type HelloMessage = z.infer<typeof hello>;
export type ReadyMessage = z.infer<typeof ready>;
export type ResultMessage = z.infer<typeof result>;

// ---------------------------------------------------------------- coordinator → actor

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** A file a tab fetches once and keeps (Cache Storage, by sha256): a model file, or a user's actor module. */
const fetchedFile = z.object({ url: z.string(), sha256, bytes: z.number().int().nonnegative() });

/** Files a job may name (`--model DIR` of a model repository: its graph, weights, tokenizer, configs). */
export const MAX_JOB_FILES = 4096;

/** A file of the actor's (`ctx.models[name]`): a model, its external weights, a tokenizer, any file the job names. */
export const namedFileSchema = fetchedFile.extend({ name: z.string().min(1).max(1024) });

/** How image inputs are preprocessed (torchvision's PIL recipe, or Ray's plain resize: shared/preprocess.ts). */
export const preprocessSpecSchema = z.object({
  height: z.number().int().positive().max(8192),
  width: z.number().int().positive().max(8192),
  resizeShorter: z.number().int().positive().max(16384),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  crop: z.boolean(),
});

/** What an actor reads (shared/actorApi.ts ActorInputs). */
export const actorInputsSchema = z.enum(['image', 'record', 'file']);

/** For image inputs: the tensor the actor gets, or `'none'` for the raw pixels. Null for records and files. */
export const inputPreprocessSchema = z.union([preprocessSpecSchema, z.literal('none')]).nullable();

export const recycleSchema = z.object({
  afterBatches: z.number().int().positive().nullable(),
  aboveBytes: z.number().positive().nullable(),
});
export type RecycleSpec = z.infer<typeof recycleSchema>;

/** Everything an actor needs to load the job's actor and answer batches. */
export const jobSpecSchema = z.object({
  /** The job's files (`--model`, each by name: `ctx.models`); empty for an actor that loads none. */
  files: z.array(namedFileSchema).max(MAX_JOB_FILES),
  /** The actor's class: the built-in classifier, or the user's module (bundled, fetched like the model). */
  actor: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('builtin'), name: z.literal('classifier') }),
    fetchedFile.extend({ kind: z.literal('module') }),
  ]),
  /** `ctx.config`: --actor-config, or the classifier's settings. */
  config: z.unknown(),
  inputs: actorInputsSchema,
  /** For image inputs: the tensor the actor gets, or `'none'` (raw pixels); null for records and files. */
  preprocess: inputPreprocessSchema,
  /** Images are turned upright by their EXIF orientation before anything else (--exif-transpose); else as stored. */
  exifTranspose: z.boolean(),
  /** The actor's columns (name → type), as the coordinator parsed them: the tab checks each row against them before it sends it. */
  outputs: z.record(z.string(), z.string()),
  /**
   * The EPs this tab may run, in the job's order of preference. With more than one (--ep auto and
   * a usable WebGPU adapter) the tab measures each on the actor and keeps the faster.
   */
  eps: z.array(executionProviderSchema).min(1).max(2),
  /** wasm threads for this actor: --num-cpus when given, else its share of its host's cores (re-planned by `threads`). */
  numThreads: z.number().int().positive(),
  allowSoftwareGpu: z.boolean(),
  /**
   * When the tab starts its actor afresh (a new worker, the model from cache), between batches:
   * after this many batches (--recycle-after), or once the page holds more than this many bytes
   * (--recycle-above, where the browser can measure it). Null: never for that reason.
   */
  recycle: recycleSchema,
});
export type JobSpec = z.infer<typeof jobSpecSchema>;

/** `idle`: in a standing pool (`tabpool serve`), joined and serving no job; it keeps its socket and waits for one. */
export const admissionStatusSchema = z.enum(['admitted', 'standby', 'rejected', 'idle']);
export type AdmissionStatus = z.infer<typeof admissionStatusSchema>;

/** First answer to `hello`: who the tab is in the pool and, when admitted, the job. */
const welcome = z.object({
  type: z.literal('welcome'),
  protocol: z.number().int(),
  actorId: z.string(),
  status: admissionStatusSchema,
  /** Why the tab is standing by or rejected, in words with the numbers. */
  reason: z.string().nullable(),
  job: jobSpecSchema.nullable(),
  /** In a standing pool: the job this tab now serves (`name (id)`), or null while idle. Absent from a job's own coordinator. */
  serving: shortString.nullable().optional(),
});

/** A standby tab was promoted, or an admitted one demoted; `job` comes with a promotion. */
const admission = z.object({
  type: z.literal('admission'),
  status: admissionStatusSchema,
  reason: z.string().nullable(),
  job: jobSpecSchema.nullable(),
  serving: shortString.nullable().optional(),
});

/** The job is over (or the coordinator is shutting down); the page shows the reason and stops. */
const shutdown = z.object({ type: z.literal('shutdown'), reason: z.string() });

/** Another actor answered this batch first: drop it (skip it if not started, discard its result). */
const cancel = z.object({ type: z.literal('cancel'), batchId: z.number().int().nonnegative() });

/**
 * Its share of its host's cores changed (another actor joined or left the host): a wasm actor starts
 * afresh with this many threads between batches, and answers `threads` once it runs them.
 */
const threadShare = z.object({ type: z.literal('threads'), numThreads: z.number().int().positive().max(1024) });

export const toActorSchema = z.discriminatedUnion('type', [welcome, admission, shutdown, cancel, threadShare]);
export type ToActorJson = z.infer<typeof toActorSchema>;
export type WelcomeMessage = z.infer<typeof welcome>;

/** Header of a binary batch frame (the image bytes follow it in the same frame). */
export const batchHeaderSchema = z
  .object({
    type: z.literal('batch'),
    batchId: z.number().int().nonnegative(),
    /** The inputs' ids, in order (the actor's `batch.ids`). */
    ids: z.array(z.string().max(4096)).min(1).max(MAX_ITEMS),
    /**
     * Each item, in order: the byte length of its bytes (concatenated after the header), or the
     * http(s) URL the tab fetches it from (CORS).
     */
    items: z
      .array(
        z.union([
          z.object({ byteLength: z.number().int().nonnegative() }),
          z.object({
            url: z
              .string()
              .max(8192)
              .regex(/^https?:\/\//),
          }),
        ]),
      )
      .min(1)
      .max(MAX_ITEMS),
  })
  .refine((h) => h.ids.length === h.items.length, 'ids and items differ in length');
export type BatchHeader = z.infer<typeof batchHeaderSchema>;

// ---------------------------------------------------------------- parsing

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** `path.to.field: message; …` — the first few issues, each naming its field. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`)
    .join('; ');
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown): ParseResult<T> {
  const r = schema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: describeIssues(r.error) };
}

function parseJsonWith<T>(schema: z.ZodType<T>, text: string): ParseResult<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  return parseWith(schema, value);
}

/** Parses a JSON text frame from an actor. Never throws. */
export function parseToCoordinator(text: string): ParseResult<ToCoordinator> {
  return parseJsonWith<ToCoordinator>(toCoordinatorSchema, text);
}

/** Parses a JSON text frame from the coordinator. Never throws. */
export function parseToActor(text: string): ParseResult<ToActorJson> {
  return parseJsonWith<ToActorJson>(toActorSchema, text);
}

export function parseBatchHeader(value: unknown): ParseResult<BatchHeader> {
  return parseWith<BatchHeader>(batchHeaderSchema, value);
}
