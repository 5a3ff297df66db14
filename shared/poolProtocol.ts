/**
 * The wire format between a standing pool's head (`tabpool serve`) and a submitting process
 * (`tabpool run --on URL`), over ROUTES.submitSocket: the job it submits, and the tabs the head
 * lends it, each as a numbered channel that carries the tab's own protocol (shared/protocol.ts)
 * unchanged. JSON text frames tagged by `type`; a batch for a tab is a binary frame whose first
 * four bytes (big-endian) are its channel. One zod schema per message, types derived from them.
 */
import { z } from 'zod';
import { ERROR_CODE_NAMES } from './errors.ts';
import { MAX_JOB_FILES } from './protocol.ts';

export const POOL_PROTOCOL_VERSION = 1;

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const channel = z.number().int().nonnegative();
const count = z.number().int().nonnegative();

/** What the head needs to place a job's actors: its pool size, EP and per-actor budget (the job's own flags). */
export const placementSchema = z.object({
  pool: z.object({ min: z.number().int().positive(), max: z.number().int().positive() }),
  ep: z.enum(['auto', 'webgpu', 'wasm']),
  allowSoftwareGpu: z.boolean(),
  numGpus: z.number().nonnegative().nullable(),
  numCpus: z.number().nonnegative().nullable(),
  actorMemory: z.number().nonnegative(),
  /** Actors beyond the minimums are shared in proportion to it (default 1). */
  weight: z.number().positive().max(1e6),
  /** A job waiting for actors gets the next one freed, highest first. */
  priority: z.number().int().min(-1000).max(1000),
});
export type Placement = z.infer<typeof placementSchema>;

const submit = z.object({
  type: z.literal('submit'),
  protocol: z.number().int(),
  /** Chosen by the submitting process; the same id reattaches the job after a reconnect (or a head restart). */
  jobId: id,
  /** Proves a reattach comes from the process that submitted the job. */
  secret: z.string().min(16).max(128),
  name: z.string().max(256),
  /** The token tabs fetch the job's files with (only tabs serving the job are told it). */
  grant: z.string().min(16).max(128),
  /** The job's files, uploaded beforehand (ROUTES.filesApi): every one it names, and its actor module. */
  files: z.array(sha256).max(MAX_JOB_FILES + 1),
  placement: placementSchema,
  out: z.string().max(4096),
  total: count.nullable(),
});

const progress = z.object({
  type: z.literal('progress'),
  total: count.nullable(),
  done: count,
  errors: count,
});

/** The job ended on the submitting side; its tabs go back to the pool. */
const finished = z.object({
  type: z.literal('finished'),
  status: z.enum(['done', 'failed', 'cancelled']),
  message: z.string().max(4096),
});

const tabText = z.object({ type: z.literal('tab-text'), channel, text: z.string() });
const tabClose = z.object({ type: z.literal('tab-close'), channel, code: z.number().int(), reason: z.string().max(256) });

export const toHeadSchema = z.discriminatedUnion('type', [submit, progress, finished, tabText, tabClose]);
export type ToHead = z.infer<typeof toHeadSchema>;
export type SubmitMessage = z.infer<typeof submit>;

const accepted = z.object({ type: z.literal('accepted'), jobId: id, reattached: z.boolean() });
const refused = z.object({ type: z.literal('refused'), code: z.enum(ERROR_CODE_NAMES), message: z.string() });
/** The head lends the job a tab: its hello follows on the channel as a tab-text. */
const tabOpen = z.object({ type: z.literal('tab-open'), channel, hostId: z.string(), tabId: z.string() });
/** The head wants this tab back (another job's share): stop giving it batches; close the channel once its batches are in. */
const release = z.object({ type: z.literal('release'), channel, reason: z.string() });
/** `tabpool cancel`: drain the job (batches out finish, their rows are written; --resume finishes it). */
const cancel = z.object({ type: z.literal('cancel'), reason: z.string() });

export const toSubmitterSchema = z.discriminatedUnion('type', [accepted, refused, tabOpen, tabText, tabClose, release, cancel]);
export type ToSubmitter = z.infer<typeof toSubmitterSchema>;

/** A job as the head lists it (`GET /api/jobs`, `tabpool jobs`), and as it keeps it in --state. */
export const jobRecordSchema = z.object({
  id,
  name: z.string(),
  status: z.enum(['queued', 'running', 'disconnected', 'done', 'failed', 'cancelled']),
  placement: placementSchema,
  out: z.string(),
  total: count.nullable(),
  done: count,
  errors: count,
  submittedAt: z.number(),
  endedAt: z.number().nullable(),
  message: z.string().nullable(),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;
export type JobRecordStatus = JobRecord['status'];

function parse<T>(schema: z.ZodType<T>, text: string): { ok: true; value: T } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; ') };
}

export const parseToHead = (text: string) => parse<ToHead>(toHeadSchema, text);
export const parseToSubmitter = (text: string) => parse<ToSubmitter>(toSubmitterSchema, text);

/** A batch for the tab on `channel`: the channel, then the tab's batch frame as it is. */
export function channelFrame(ch: number, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + frame.byteLength);
  new DataView(out.buffer).setUint32(0, ch);
  out.set(frame, 4);
  return out;
}

export function splitChannelFrame(data: Uint8Array): { channel: number; frame: Uint8Array } | null {
  if (data.byteLength < 5) return null;
  return { channel: new DataView(data.buffer, data.byteOffset, 4).getUint32(0), frame: data.subarray(4) };
}
