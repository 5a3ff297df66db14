/**
 * Schemas for every message that crosses the socket, in both directions. A message that fails
 * gets an error naming the field path (`items.0.topk.1.score: expected number, received NaN`).
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './errors.ts';
import type { BatchHeader, ToActorJson, ToCoordinator } from './protocol.ts';

const MAX_ITEMS = 4096;
const MAX_CLASSES = 100_000;
const shortString = z.string().max(512);
const finite = z.number();
const nonNegative = z.number().nonnegative();
const errorCode = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);
const ep = z.enum(['webgpu', 'wasm']);

const adapterInfo = z.object({
  vendor: shortString,
  architecture: shortString,
  device: shortString,
  description: shortString,
  isSoftware: z.boolean(),
  limits: z.record(z.string().max(128), finite).refine((r) => Object.keys(r).length <= 256, 'too many limits'),
});

const hello = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  hostId: z.string().min(1).max(128),
  capabilities: z.object({
    webgpu: adapterInfo.nullable(),
    hardwareConcurrency: z.number().int().min(0).max(4096),
    deviceMemoryGiB: nonNegative.nullable(),
    crossOriginIsolated: z.boolean(),
    userAgent: z.string().max(1024),
  }),
  declared: z.object({
    gpus: nonNegative.optional(),
    cpus: nonNegative.optional(),
    memoryBytes: nonNegative.optional(),
  }),
});

const ready = z.object({
  type: z.literal('ready'),
  ep,
  loadMs: nonNegative,
  warmupMs: nonNegative,
  modelFromCache: z.boolean(),
});

const topKEntry = z.object({ class: z.number().int().min(0).max(MAX_CLASSES), score: z.number().min(0).max(1) });

const itemResult = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    topk: z.array(topKEntry).min(1).max(1000),
    logits: z.array(finite).max(MAX_CLASSES).optional(),
  }),
  z.object({ ok: z.literal(false), code: errorCode, message: z.string().max(2048) }),
]);

const result = z.object({
  type: z.literal('result'),
  batchId: z.number().int().nonnegative(),
  items: z.array(itemResult).min(1).max(MAX_ITEMS),
  timing: z.object({ decodeMs: nonNegative, inferenceMs: nonNegative, totalMs: nonNegative }),
});

const batchFailed = z.object({
  type: z.literal('batch-failed'),
  batchId: z.number().int().nonnegative(),
  code: errorCode,
  message: z.string().max(2048),
});

const actorError = z.object({ type: z.literal('actor-error'), code: errorCode, message: z.string().max(2048) });

export const toCoordinatorSchema = z.discriminatedUnion('type', [hello, ready, result, batchFailed, actorError]);

const jobSpec = z.object({
  modelUrl: z.string(),
  modelSha256: z.string().regex(/^[0-9a-f]{64}$/),
  modelBytes: z.number().int().positive(),
  ep,
  inputName: z.string(),
  outputName: z.string(),
  inputHeight: z.number().int().positive(),
  inputWidth: z.number().int().positive(),
  numClasses: z.number().int().positive(),
  topK: z.number().int().positive(),
  numThreads: z.number().int().positive(),
  returnLogits: z.boolean(),
  allowSoftwareGpu: z.boolean(),
});
const admissionStatus = z.enum(['admitted', 'standby', 'rejected']);

export const toActorSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    protocol: z.number().int(),
    actorId: z.string(),
    status: admissionStatus,
    reason: z.string().nullable(),
    job: jobSpec.nullable(),
  }),
  z.object({ type: z.literal('admission'), status: admissionStatus, reason: z.string().nullable(), job: jobSpec.nullable() }),
  z.object({ type: z.literal('shutdown'), reason: z.string() }),
]);

export const batchHeaderSchema = z.object({
  type: z.literal('batch'),
  batchId: z.number().int().nonnegative(),
  items: z.array(z.object({ byteLength: z.number().int().nonnegative() })).min(1).max(MAX_ITEMS),
});

// What the schemas accept must be what the protocol says; these fail to compile when the two drift.
const _toCoordinator: ToCoordinator = {} as z.infer<typeof toCoordinatorSchema>;
const _toActor: ToActorJson = {} as z.infer<typeof toActorSchema>;
const _batchHeader: BatchHeader = {} as z.infer<typeof batchHeaderSchema>;
void _toCoordinator;
void _toActor;
void _batchHeader;

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

/** Parses a JSON text frame from an actor. Never throws. */
export function parseToCoordinator(text: string): ParseResult<ToCoordinator> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  return parseWith(toCoordinatorSchema as z.ZodType<ToCoordinator>, value);
}

/** Parses a JSON text frame from the coordinator. Never throws. */
export function parseToActor(text: string): ParseResult<ToActorJson> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  return parseWith(toActorSchema as z.ZodType<ToActorJson>, value);
}

export function parseBatchHeader(value: unknown): ParseResult<BatchHeader> {
  return parseWith(batchHeaderSchema as z.ZodType<BatchHeader>, value);
}
