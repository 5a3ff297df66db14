/**
 * The workers' APIs, as type-only interfaces: the page `wrap`s them, the workers `expose` them.
 * Expected failures come back as `{ ok: false, code, message }`; only bugs throw.
 */
import type { ErrorCode, SerializedError } from '../shared/errors.ts';
import type { AdapterInfo, ExecutionProvider, ItemResult, JobSpec } from '../shared/protocol.ts';

export type Failure = { ok: false; code: ErrorCode; message: string };

export type InitOutcome =
  { ok: true; ep: ExecutionProvider; loadMs: number; warmupMs: number; modelFromCache: boolean; adapter: AdapterInfo | null } | Failure;

export type BatchOutcome = { ok: true; items: ItemResult[]; timing: { decodeMs: number; inferenceMs: number; totalMs: number } } | Failure;

/** Where each item sits in the transferred frame buffer, or the URL the worker fetches it from. */
export type ItemSlice = { offset: number; length: number } | { url: string };

/** A batch made ready for the model: the packed input tensor and, per input, an error or its row. */
export interface Prepared {
  /** `rows.length` images, NCHW, densely packed. */
  input: Float32Array;
  /** Index in the batch of each image in `input`, in order. */
  rows: number[];
  /** Per input: why it could not be prepared, or null. */
  errors: (SerializedError | null)[];
  decodeMs: number;
}

/** The preprocessing worker: decode and preprocess, off the inference worker's thread. */
export interface PrepareWorkerApi {
  /** `frame` is transferred, and so is the returned tensor. */
  prepare(frame: ArrayBuffer, slices: ItemSlice[], height: number, width: number): Promise<Prepared>;
}

/** `session.run` alone on a ready-made tensor, repeated: the model's speed on this actor. */
export interface RawSpeed {
  images: number;
  ms: number;
}

/** The actor worker: one ORT session, kept for every batch. */
export interface ActorWorkerApi {
  /** Fetches (or reads from cache) the model, verifies its sha256, creates the session on `ep`, warms it up. */
  init(job: JobSpec, ep: ExecutionProvider): Promise<InitOutcome>;
  /** Runs one prepared batch (the tensor is transferred, not copied) and returns an item per input. */
  runPrepared(prepared: Prepared): Promise<BatchOutcome>;
  /** Measures `session.run` alone on a ready-made tensor of `batchSize` for about `seconds`. */
  measureRaw(batchSize: number, seconds: number): Promise<RawSpeed>;
}
