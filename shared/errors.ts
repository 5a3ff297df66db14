/**
 * One table of error codes, shown the same way on the CLI, on the worker page and in output rows.
 * Each code has a one-line meaning; messages add the specifics (which input, which field, the fix).
 */
export const ERROR_CODES = {
  // Per-input errors (appear in output rows).
  EMPTY_FILE: 'the input file is empty (0 bytes)',
  UNREADABLE_FILE: 'the input file could not be read',
  NOT_AN_IMAGE: 'the input is not a PNG, JPEG, GIF, WebP or BMP image',
  CORRUPT_IMAGE: 'the image is truncated or corrupt and could not be decoded',
  IMAGE_TOO_LARGE: 'the image header claims dimensions over the decode limit (decompression bomb guard)',
  INFERENCE_FAILED: 'the model failed on this input',
  RETRIES_EXHAUSTED: 'the input failed on every actor it was sent to',
  // Job errors (fail the run before or during start-up).
  BAD_ARGUMENT: 'a command-line flag or value is invalid',
  DATA_NOT_FOUND: 'the --data path does not exist',
  DATA_EMPTY: 'the dataset contains no inputs',
  BAD_MANIFEST: 'a manifest line could not be parsed',
  MODEL_NOT_FOUND: 'the --model file does not exist',
  MODEL_NOT_ONNX: 'the --model file is not an ONNX model',
  MODEL_NOT_CLASSIFIER: 'the model is not a single-input image classifier',
  MODEL_OPSET_UNSUPPORTED: 'the model declares no ai.onnx opset, or one older than 7 (the oldest onnxruntime runs)',
  NO_ACTORS: 'no actor joined before --join-timeout',
  BROWSER_NOT_FOUND: 'no Chromium-family browser was found to launch',
  JOB_FAILED: 'the job could not finish',
  // Actor errors (shown on the page and the CLI).
  NO_WEBGPU: 'WebGPU is not available in this browser',
  SOFTWARE_GPU: 'the only WebGPU adapter is a software fallback',
  EP_UNAVAILABLE: 'the requested execution provider could not start',
  MODEL_LOAD_FAILED: 'the model could not be fetched or loaded',
  MODEL_HASH_MISMATCH: 'the downloaded model does not match its sha256',
  DEVICE_LOST: 'the WebGPU device was lost',
  PROTOCOL_ERROR: 'a message broke the protocol',
  UNAUTHORIZED: 'the join token is missing or wrong',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
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
