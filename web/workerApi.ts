/**
 * The workers' APIs, as type-only interfaces: the page `wrap`s them, the workers `expose` them;
 * and the one helper both sides hand a prepared batch over with (its buffers transferred, not copied).
 * Expected failures come back as `{ ok: false, code, message }`; only bugs throw.
 */
import type { RgbImage } from '../shared/actorApi.ts';
import type { ErrorCode, SerializedError } from '../shared/errors.ts';
import type { AdapterInfo, ExecutionProvider, ItemResult, JobSpec } from '../shared/protocol.ts';

export type Failure = { ok: false; code: ErrorCode; message: string };

export type InitOutcome =
  | {
      ok: true;
      ep: ExecutionProvider;
      loadMs: number;
      warmupMs: number;
      modelFromCache: boolean;
      adapter: AdapterInfo | null;
      /** The wasm threads onnxruntime-web runs (1 where the page is not cross-origin isolated). */
      threads: number;
    }
  | Failure;

export type BatchOutcome = { ok: true; items: ItemResult[]; timing: { decodeMs: number; inferenceMs: number; totalMs: number } } | Failure;

/** Where each item sits in the transferred frame buffer, or the URL the worker fetches it from. */
export type ItemSlice = { offset: number; length: number } | { url: string };

interface PreparedBase {
  /** The inputs' ids, in batch order. */
  ids: string[];
  /** Index in the batch of each input the actor gets, in order (the others failed to prepare). */
  rows: number[];
  /** Per input: why it could not be prepared, or null. */
  errors: (SerializedError | null)[];
  decodeMs: number;
}

/** A batch made ready for the actor: the packed image tensor, the images' raw pixels, the parsed records, or the files' bytes. */
export type Prepared =
  | (PreparedBase & {
      kind: 'image';
      /** `rows.length` images, NCHW, densely packed. */ input: Float32Array;
      height: number;
      width: number;
    })
  | (PreparedBase & { kind: 'pixels'; pixels: RgbImage[] })
  | (PreparedBase & { kind: 'record'; records: Record<string, unknown>[] })
  | (PreparedBase & { kind: 'file'; files: Uint8Array[] });

/** What preparing a batch needs to know of the job. */
export type PrepareSpec = Pick<JobSpec, 'inputs' | 'preprocess' | 'exifTranspose'>;

/** The preprocessing worker: decode and preprocess (or parse records, cut out files), off the actor worker's thread. */
export interface PrepareWorkerApi {
  /** `frame` is transferred, and so are the returned buffers (transferList). */
  prepare(frame: ArrayBuffer, slices: ItemSlice[], ids: string[], job: PrepareSpec): Promise<Prepared>;
}

/** The buffers a prepared batch owns alone, to transfer with it (records are plain objects, copied). */
export function transferList(p: Prepared): ArrayBuffer[] {
  switch (p.kind) {
    case 'image':
      return [p.input.buffer as ArrayBuffer];
    case 'pixels':
      return [...new Set(p.pixels.map((px) => px.data.buffer as ArrayBuffer))];
    case 'file':
      return [...new Set(p.files.map((f) => f.buffer as ArrayBuffer))];
    case 'record':
      return [];
    default: {
      const never: never = p;
      throw new Error(`unknown prepared batch ${String(never)}`);
    }
  }
}

/** The actor's `call` alone on a ready-made batch, repeated: its speed on this tab. */
export interface RawSpeed {
  images: number;
  ms: number;
}

/** The actor worker: one instance of the job's actor class, kept for every batch. */
export interface ActorWorkerApi {
  /**
   * Fetches (or reads from cache) the model and the actor module, verifies their sha256, makes the actor on
   * `ep` (its `init`), warms it up.
   */
  init(job: JobSpec, ep: ExecutionProvider): Promise<InitOutcome>;
  /** Runs one prepared batch through `call` (the tensor is transferred, not copied) and returns an item per input. */
  runPrepared(prepared: Prepared): Promise<BatchOutcome>;
  /**
   * Measures `call` alone on a ready-made batch of `batchSize` images for about `seconds` (image actors: zero
   * tensors, or 224 × 224 black images for raw pixels; null for records and files, which have no input to time before their first batch).
   */
  measureRaw(batchSize: number, seconds: number): Promise<RawSpeed | null>;
}
