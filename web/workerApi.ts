/**
 * The actor worker's API, as a type-only interface: the page `wrap`s it, the worker `expose`s it.
 * Expected failures come back as `{ ok: false, code, message }`; only bugs throw.
 */
import type { ErrorCode, SerializedError } from '../shared/errors.ts';
import type { ExecutionProvider, ItemResult, JobSpec, AdapterInfo } from '../shared/protocol.ts';

export type Failure = { ok: false; code: ErrorCode; message: string };

export type InitOutcome =
  | { ok: true; ep: ExecutionProvider; loadMs: number; warmupMs: number; modelFromCache: boolean; adapter: AdapterInfo | null }
  | Failure;

export type BatchOutcome =
  | { ok: true; items: ItemResult[]; timing: { decodeMs: number; inferenceMs: number; totalMs: number } }
  | Failure;

/** Where each item sits in the transferred frame buffer. */
export interface ItemSlice {
  offset: number;
  length: number;
}

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

export interface ActorWorkerApi {
  /** Fetches (or reads from cache) the model, verifies its sha256, creates the session, warms it up. */
  init(job: JobSpec): Promise<InitOutcome>;
  /** Runs one prepared batch (the tensor is transferred, not copied) and returns an item per input. */
  runPrepared(prepared: Prepared): Promise<BatchOutcome>;
  /**
   * Benchmark hook: `session.run` alone on a ready-made tensor, repeated for `seconds`: the
   * model's ceiling on this actor, against which the whole pipeline's throughput is measured.
   */
  benchmarkRaw(batchSize: number, seconds: number): Promise<{ images: number; ms: number }>;
  /** Test hook: destroys the WebGPU device as a lost GPU would. */
  loseDevice(): Promise<boolean>;
  /** Test hook: an uncaught error in the worker, as a crash would raise. */
  crash(): Promise<void>;
  /** Test hook: the worker stops answering (a busy loop), as a hung GPU driver or a bug would. */
  freeze(): Promise<void>;
}
