/**
 * The wire format between the coordinator and a worker page (an actor), and nothing else.
 * Control messages are JSON text frames tagged by a kebab-case `type`; batch payloads travel as
 * binary frames (see batchFrame.ts). Every message is validated at the boundary (messageSchema.ts).
 */
import type { ErrorCode } from './errors.ts';

export const PROTOCOL_VERSION = 1;

/** Execution providers an actor can run on. */
export type ExecutionProvider = 'webgpu' | 'wasm';

/** The WebGPU adapter as the page sees it; fields copied by name (adapter.info's fields are getters). */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a software fallback (SwiftShader reports `swiftshader` as its architecture). */
  isSoftware: boolean;
  limits: Record<string, number>;
}

/** What a page reports about itself when it joins. */
export interface Capabilities {
  webgpu: AdapterInfo | null;
  hardwareConcurrency: number;
  /** navigator.deviceMemory in GiB, when the browser reports it (it rounds and caps at 8). */
  deviceMemoryGiB: number | null;
  crossOriginIsolated: boolean;
  userAgent: string;
}

/** Resources the person opening the page declared in its URL; they win over what the browser reports. */
export interface DeclaredResources {
  gpus?: number;
  cpus?: number;
  memoryBytes?: number;
}

/** Everything an actor needs to load the model and answer batches. */
export interface JobSpec {
  modelUrl: string;
  modelSha256: string;
  modelBytes: number;
  ep: ExecutionProvider;
  inputName: string;
  outputName: string;
  inputHeight: number;
  inputWidth: number;
  numClasses: number;
  topK: number;
  /** wasm threads for this actor (from --num-cpus). */
  numThreads: number;
  /** Send the full logits vector back with each item (for --logits and tests). */
  returnLogits: boolean;
  allowSoftwareGpu: boolean;
}

export type AdmissionStatus = 'admitted' | 'standby' | 'rejected';

// ---------------------------------------------------------------- coordinator → actor

/** First answer to `hello`: who the tab is in the pool and, when admitted, the job. */
export interface WelcomeMessage {
  type: 'welcome';
  protocol: number;
  actorId: string;
  status: AdmissionStatus;
  /** Why the tab is standing by or rejected, in words with the numbers. */
  reason: string | null;
  job: JobSpec | null;
}

/** A standby tab was promoted, or an admitted one demoted; `job` comes with a promotion. */
export interface AdmissionMessage {
  type: 'admission';
  status: AdmissionStatus;
  reason: string | null;
  job: JobSpec | null;
}

/** The job is over (or the coordinator is shutting down); the page shows the reason and stops. */
export interface ShutdownMessage {
  type: 'shutdown';
  reason: string;
}

/** Header of a binary batch frame (the image bytes follow it in the same frame). */
export interface BatchHeader {
  type: 'batch';
  batchId: number;
  /** Byte length of each item, in order; items are concatenated after the header. */
  items: { byteLength: number }[];
}

export type ToActorJson = WelcomeMessage | AdmissionMessage | ShutdownMessage;

// ---------------------------------------------------------------- actor → coordinator

export interface HelloMessage {
  type: 'hello';
  protocol: number;
  /** Stable id of the browser profile (tabs of one profile on one machine are one host). */
  hostId: string;
  capabilities: Capabilities;
  declared: DeclaredResources;
}

/** The model is loaded, verified and warmed up; the actor takes batches from now on. */
export interface ReadyMessage {
  type: 'ready';
  ep: ExecutionProvider;
  /** Milliseconds to fetch (or read from cache), verify and create the session. */
  loadMs: number;
  /** Milliseconds of the warm-up run (shader compilation on WebGPU). */
  warmupMs: number;
  modelFromCache: boolean;
}

export interface TopKEntry {
  class: number;
  score: number;
}

export type ItemResult =
  | { ok: true; topk: TopKEntry[]; logits?: number[] }
  | { ok: false; code: ErrorCode; message: string };

export interface ResultMessage {
  type: 'result';
  batchId: number;
  items: ItemResult[];
  timing: { decodeMs: number; inferenceMs: number; totalMs: number };
}

/** The whole batch failed for a reason not tied to one input (device lost, session error). */
export interface BatchFailedMessage {
  type: 'batch-failed';
  batchId: number;
  code: ErrorCode;
  message: string;
}

/** The actor cannot go on (model failed to load, no WebGPU, device lost for good). */
export interface ActorErrorMessage {
  type: 'actor-error';
  code: ErrorCode;
  message: string;
}

export type ToCoordinator = HelloMessage | ReadyMessage | ResultMessage | BatchFailedMessage | ActorErrorMessage;
