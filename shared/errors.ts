/**
 * One table of error codes, shown the same way on the CLI, on the worker page and in output rows.
 * Each code has a one-line meaning and a kind, which decides where it appears and, on the CLI,
 * the exit status it leads to:
 * - `input`: one input failed; it gets an error row and the job goes on (exit 3 at the end).
 * - `usage`: the job as given cannot start (a flag, the data, the model); exit 2 before any browser starts.
 * - `job`: the job could not finish; exit 1.
 * - `actor`: one tab cannot be an actor; shown on its page and logged by the CLI, the job goes on.
 * Messages add the specifics: which input, which field, and the fix.
 */
export type ErrorKind = 'input' | 'usage' | 'job' | 'actor';

export const ERROR_CODES = {
  // Per-input errors (appear in output rows).
  EMPTY_FILE: { kind: 'input', meaning: 'the input file is empty (0 bytes)' },
  UNREADABLE_FILE: { kind: 'input', meaning: 'the input file could not be read' },
  NOT_AN_IMAGE: { kind: 'input', meaning: 'the input is not a PNG, JPEG, GIF, WebP or BMP image' },
  CORRUPT_IMAGE: { kind: 'input', meaning: 'the image is truncated or corrupt and could not be decoded' },
  IMAGE_TOO_LARGE: { kind: 'input', meaning: 'the image header claims dimensions over the decode limit (decompression bomb guard)' },
  FILE_TOO_LARGE: { kind: 'input', meaning: 'the input file is over the size an input may have (256 MiB)' },
  INFERENCE_FAILED: { kind: 'input', meaning: 'the model failed on this input' },
  RETRIES_EXHAUSTED: { kind: 'input', meaning: 'the input failed on every actor it was sent to' },
  ACTOR_ERROR: {
    kind: 'input',
    meaning: "the actor's own code (its init or call) failed or returned rows that do not match its declared outputs",
  },
  BAD_RECORD: { kind: 'input', meaning: 'the record is not a JSON object, or could not be read from the dataset' },
  RECORD_TOO_LARGE: { kind: 'input', meaning: 'the record is over the size a record may have' },
  TAB_FETCH_FAILED: {
    kind: 'input',
    meaning:
      'the tab could not fetch this URL input itself (CORS refused, network); the coordinator fetches it instead, so it never ends a row',
  },
  // The job as given cannot start.
  BAD_ARGUMENT: { kind: 'usage', meaning: 'a command-line flag or value is invalid' },
  DATA_NOT_FOUND: { kind: 'usage', meaning: 'the --data path does not exist' },
  DATA_EMPTY: { kind: 'usage', meaning: 'the dataset contains no inputs' },
  BAD_MANIFEST: { kind: 'usage', meaning: 'a manifest line could not be parsed' },
  MODEL_NOT_FOUND: { kind: 'usage', meaning: 'the --model file does not exist' },
  MODEL_NOT_ONNX: { kind: 'usage', meaning: 'the --model file is not an ONNX model' },
  MODEL_NOT_CLASSIFIER: { kind: 'usage', meaning: 'the model is not a single-input image classifier' },
  BAD_ACTOR: {
    kind: 'usage',
    meaning: 'the --actor module is missing, does not load, or does not declare an actor class as tabpool expects',
  },
  MODEL_OPSET_UNSUPPORTED: {
    kind: 'usage',
    meaning: 'the model declares no ai.onnx opset, or one older than 7 (the oldest onnxruntime runs)',
  },
  BROWSER_NOT_FOUND: { kind: 'usage', meaning: 'no Chromium-family browser was found to launch' },
  // The job could not finish.
  NO_ACTORS: { kind: 'job', meaning: 'no actor joined before --join-timeout' },
  OUTPUT_WRITE_FAILED: {
    kind: 'job',
    meaning: 'the output could not be written (its disk full, read-only, gone); the rows before are kept and --resume finishes the job',
  },
  JOB_FAILED: { kind: 'job', meaning: 'the job could not finish' },
  STALLED: {
    kind: 'job',
    meaning: 'inputs waited with actors ready and nothing in flight for two --stall-timeout periods; the output is resumable',
  },
  // One tab cannot be an actor (shown on the page and the CLI).
  NO_WEBGPU: { kind: 'actor', meaning: 'WebGPU is not available in this browser' },
  SOFTWARE_GPU: { kind: 'actor', meaning: 'the only WebGPU adapter is a software fallback' },
  EP_UNAVAILABLE: { kind: 'actor', meaning: 'the requested execution provider could not start' },
  MODEL_LOAD_FAILED: { kind: 'actor', meaning: 'the model could not be fetched or loaded' },
  MODEL_HASH_MISMATCH: { kind: 'actor', meaning: 'the downloaded model does not match its sha256' },
  WORKER_CRASHED: { kind: 'actor', meaning: "the tab's worker crashed; the tab rejoins as a new actor" },
  DEVICE_LOST: { kind: 'actor', meaning: 'the WebGPU device was lost' },
  PROTOCOL_ERROR: { kind: 'actor', meaning: 'a message broke the protocol' },
  UNAUTHORIZED: { kind: 'actor', meaning: 'the join token is missing or wrong' },
  // A standing pool (tabpool serve) and the jobs submitted to it.
  SUBMIT_REFUSED: { kind: 'usage', meaning: 'the head refused the submit token (missing or wrong), or the request' },
  HEAD_UNREACHABLE: { kind: 'job', meaning: 'the standing pool at --on could not be reached (or stopped answering)' },
  JOB_NOT_FOUND: { kind: 'usage', meaning: 'the head has no job by that id' },
} as const satisfies Record<string, { kind: ErrorKind; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Every code, for schemas (`z.enum`). */
export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export function errorKind(code: ErrorCode): ErrorKind {
  return ERROR_CODES[code].kind;
}

/** The one error class of tabpool: a code from the table plus a specific message. */
export class TabpoolError extends Error {
  override readonly name = 'TabpoolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What crosses a socket or comlink boundary: custom fields are lost on thrown errors, so send this. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
}

export function serializeError(err: unknown, fallback: ErrorCode): SerializedError {
  if (err instanceof TabpoolError) return { code: err.code, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: fallback, message };
}

export function rebuildError(e: SerializedError): TabpoolError {
  return new TabpoolError(e.code, e.message);
}

/** `CODE: message`, the one way every surface prints an error. */
export function formatError(e: SerializedError): string {
  return `${e.code}: ${e.message}`;
}
