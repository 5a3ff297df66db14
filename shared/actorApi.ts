/**
 * Your own actor, as Ray's callable class: a module whose default export is a class with
 * `init(ctx)` (Ray's `__init__`: once per actor, load the model) and `call(batch)` (Ray's
 * `__call__`: once per batch, one row per input), and static declarations of what it reads and
 * writes. The same class runs in every tab (onnxruntime-web as `ctx.ort`) and, for verification,
 * in the coordinator (onnxruntime-node as `ctx.ort`). These are the types TypeScript users write
 * it against, exported as `tabpool/actor` (package.json `exports`).
 *
 * ```ts
 * import type { ActorContext, ImageBatch } from 'tabpool/actor';
 * export default class Embedder {
 *   static inputs = 'image';
 *   static outputs = { embedding: 'float32[512]', norm: 'float64' };
 *   session!: import('onnxruntime-common').InferenceSession;
 *   async init(ctx: ActorContext) { this.session = await ctx.ort.InferenceSession.create(ctx.model!, ctx.sessionOptions); }
 *   async call(batch: ImageBatch) { … return rows; }
 * }
 * ```
 */
import type * as Ort from 'onnxruntime-common';

/**
 * What an actor reads: images (a preprocessed NCHW float32 tensor, or with `preprocess = 'none'` the
 * raw RGB pixels), records (plain objects from JSONL, CSV or Parquet), or files (their bytes as stored,
 * Ray's `read_binary_files`: audio, documents, tensors, any format the actor decodes itself).
 */
export type ActorInputs = 'image' | 'record' | 'file';

/** Where the class runs: a tab, the coordinator checking a tab (verification), or the coordinator's dry run before any browser starts. */
export type ActorRole = 'tab' | 'reference' | 'dry-run';

/** Column types of an actor's rows: scalars, fixed-length vectors (`float32[512]`), any JSON, or a top-k list of classes. */
export type ColumnType =
  | 'float32'
  | 'float64'
  | 'int32'
  | 'int64'
  | 'bool'
  | 'string'
  | 'json'
  | 'topk'
  | `float32[${number}]`
  | `float64[${number}]`
  | `int32[${number}]`;

/** The columns of every row, by name, in order. */
export type OutputDeclaration = Record<string, ColumnType>;

/**
 * How image inputs are preprocessed (torchvision's PIL recipe): resize the shorter side, centre-crop,
 * normalise. Defaults: the model's input size, ImageNet mean and std. With `crop: false`, Ray's
 * `read_images(size=…)` instead: one resize to exactly `size`, the aspect ratio not kept, then normalise.
 */
export interface PreprocessDeclaration {
  /** Crop size (or, with `crop: false`, the size resized to): `224`, or `[height, width]`. */
  size?: number | [number, number];
  /** The shorter side is resized to this first (default: size × 256/224). */
  resize?: number;
  /** False: resize to `size` without keeping the aspect ratio and without a crop (default true). */
  crop?: boolean;
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** Bytes an actor needs on its host (for --memory's default): a fixed part and a part per input of a batch. */
export interface MemoryDeclaration {
  fixedBytes?: number;
  perItemBytes?: number;
}

export interface ActorContext<Config = unknown> {
  /** onnxruntime-web in a tab (its WebGPU or wasm build), onnxruntime-node in the coordinator. */
  ort: typeof Ort;
  /** The file of `--model PATH` (a built-in's too), as bytes: `models.model`; null without one. */
  model: Uint8Array | null;
  /**
   * Every file the job names, by name: `--model NAME=PATH` as `models.NAME`, `--model PATH` as
   * `models.model`, `--model DIR` as each file's path inside the folder (`models['onnx/model.onnx']`).
   * Any file (ONNX, external weights, a tokenizer, a vocabulary). For a model with external data, pass
   * the weights as onnxruntime-web takes them, in a tab and in Node alike:
   * `{ ...ctx.sessionOptions, externalData: [{ path: 'model.onnx_data', data: ctx.models['model.onnx_data'] }] }`.
   */
  models: Readonly<Record<string, Uint8Array>>;
  /** Session options for the chosen EP (and threads): pass them to `InferenceSession.create`. */
  sessionOptions: Ort.InferenceSession.SessionOptions;
  /** The execution provider this actor runs: `webgpu` or `wasm` in a tab, `cpu` in the coordinator. */
  ep: 'webgpu' | 'wasm' | 'cpu';
  /** --actor-config, parsed. */
  config: Config;
  role: ActorRole;
}

interface BatchBase {
  /** The inputs' ids, in order. */
  ids: string[];
  size: number;
}

export interface ImageBatch extends BatchBase {
  /** `size` images, NCHW float32, densely packed, preprocessed as declared. */
  images: Float32Array;
  shape: [number, 3, number, number];
}

/**
 * An image as stored: RGB bytes, row-major, 3 a pixel (what Pillow's `Image.open(f).convert('RGB')` and Ray's
 * `read_images(mode="RGB")` give).
 */
export interface RgbImage {
  width: number;
  height: number;
  /** `width × height × 3` bytes: R, G, B of the top-left pixel first, then along the row. */
  data: Uint8Array;
}

/** Images at their own sizes (`static preprocess = 'none'`): detection, OCR, segmentation, anything that resizes or tiles itself. */
export interface PixelsBatch extends BatchBase {
  pixels: RgbImage[];
}

export interface RecordBatch extends BatchBase {
  records: Record<string, unknown>[];
}

/** Files as stored (`static inputs = 'file'`): the actor decodes them itself. `ids` name them (a folder's relative paths). */
export interface FileBatch extends BatchBase {
  files: Uint8Array[];
}

/** What `call` gets, by what the class declares. */
export type ActorBatch = ImageBatch | PixelsBatch | RecordBatch | FileBatch;

/** One output row: a value for every declared column (typed arrays are fine for vectors, bigint for int64). */
export type ActorRow = Record<string, unknown>;

export interface Actor {
  init(ctx: ActorContext): Promise<void> | void;
  call(batch: ActorBatch): Promise<ActorRow[]> | ActorRow[];
  /**
   * Optional: checks tabs' rows in the coordinator's copy of the actor (role `reference`) more cheaply than
   * computing them again (a language model's answer in one pass over its tokens): for each input of `batch`,
   * what is wrong with `rows[i]`, or null. Where an actor has it, verification calls it instead of `call`
   * and comparing rows.
   */
  verify?(batch: ActorBatch, rows: ActorRow[]): Promise<(string | null)[]> | (string | null)[];
}

/** The class itself: what the module's default export must be. */
export interface ActorClass<Config = unknown> {
  new (): Actor;
  readonly inputs: ActorInputs;
  /** The columns, or a function of --actor-config giving them. */
  readonly outputs: OutputDeclaration | ((config: Config) => OutputDeclaration);
  /** How images reach `call`: a tensor (an object, or nothing for the defaults), or `'none'` for the raw pixels. */
  readonly preprocess?: PreprocessDeclaration | 'none';
  /** Bytes an actor needs (--memory's default), or a function of --actor-config giving them. */
  readonly memory?: MemoryDeclaration | ((config: Config) => MemoryDeclaration);
  /**
   * When a tab's row agrees with the coordinator's row for the same input (verification): null (or
   * true) when they agree, else what differs, in words (or false). Default: per declared column,
   * exact for ints, bools and strings, floats within a tolerance.
   */
  agree?(tab: ActorRow, reference: ActorRow, config: Config): string | boolean | null;
  /** The config the coordinator's reference copy runs with (default: the job's). */
  referenceConfig?(config: Config): Config;
  /** Checks of a row beyond its types (a class index within the model's classes): what is wrong, or null. */
  check?(row: ActorRow, config: Config): string | null;
}
