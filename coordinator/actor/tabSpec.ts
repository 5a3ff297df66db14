/**
 * What a tab is told to load (shared/protocol.ts JobSpec): the job's files and the actor, each by
 * URL and sha256 with this process's token, the config, the inputs and how images are made ready,
 * the declared columns; and the files this process serves them from (from disk, as streams).
 */
import type { ActorInputs } from '../../shared/actorApi.ts';
import type { Column } from '../../shared/columns.ts';
import type { ExecutionProvider, JobSpec, RecycleSpec } from '../../shared/protocol.ts';
import type { ImagePreprocess } from '../../shared/preprocess.ts';
import { actorPath, modelPath, TOKEN_PARAM } from '../../shared/routes.ts';
import type { JobFile } from '../model/jobFiles.ts';
import type { ServedFile } from '../server/httpServer.ts';

/** A file on this machine's disk, known by its content. */
export interface StoredFile {
  sha256: string;
  path: string;
  bytes: number;
}

/** A job's content as it travels (to tabs, or through NATS to gateways): everything but where it is served. */
export interface JobContent {
  /** `ctx.models`: every file the job names, by name (empty for an actor that loads none). */
  files: readonly JobFile[];
  /** The user's bundled module, or null for the built-in classifier. */
  module: StoredFile | null;
  config: unknown;
  inputs: ActorInputs;
  /** For image inputs, the tensor the actor gets or `'none'` (raw pixels); null for records and files. */
  preprocess: ImagePreprocess | null;
  /** --exif-transpose: images turned upright by their EXIF orientation on every side. */
  exifTranspose: boolean;
  columns: readonly Column[];
}

export function outputsRecord(columns: readonly Column[]): Record<string, string> {
  return Object.fromEntries(columns.map((c) => [c.name, c.type]));
}

/** The spec a tab of this process loads the job by, for the EPs it is offered. */
export function tabSpecFor(
  c: JobContent,
  token: string,
  o: { numThreads: number; allowSoftwareGpu: boolean; recycle: RecycleSpec },
): (eps: ExecutionProvider[]) => JobSpec {
  const withToken = (route: string): string => `${route}?${TOKEN_PARAM}=${encodeURIComponent(token)}`;
  const files = c.files.map((f) => ({ name: f.name, url: withToken(modelPath(f.sha256)), sha256: f.sha256, bytes: f.bytes }));
  const actor: JobSpec['actor'] = c.module
    ? { kind: 'module', url: withToken(actorPath(c.module.sha256)), sha256: c.module.sha256, bytes: c.module.bytes }
    : { kind: 'builtin', name: 'classifier' };
  const outputs = outputsRecord(c.columns);
  const preprocess = wirePreprocess(c.preprocess);
  return (eps) => ({
    files,
    actor,
    config: c.config,
    inputs: c.inputs,
    preprocess,
    exifTranspose: c.exifTranspose,
    outputs,
    eps,
    numThreads: o.numThreads,
    allowSoftwareGpu: o.allowSoftwareGpu,
    recycle: o.recycle,
  });
}

/** The preprocessing as the wire carries it (plain arrays for the mean and std). */
export function wirePreprocess(p: ImagePreprocess | null): JobSpec['preprocess'] {
  if (p === null || p === 'none') return p;
  return { ...p, mean: [...p.mean] as [number, number, number], std: [...p.std] as [number, number, number] };
}

/** The files the tabs fetch from this process, each streamed from disk. */
export function servedFiles(c: JobContent): ServedFile[] {
  const files: ServedFile[] = c.files.map((f) => ({
    route: modelPath(f.sha256),
    sha256: f.sha256,
    path: f.path,
    bytes: f.bytes,
    contentType: 'application/octet-stream',
  }));
  if (c.module) files.push({ route: actorPath(c.module.sha256), ...c.module, contentType: 'text/javascript' });
  return files;
}

/** Every file a tab of the job fetches (the actor module included), by content: what a standing pool's head must hold. */
export function storedFiles(c: JobContent): StoredFile[] {
  const all: StoredFile[] = c.files.map((f) => ({ sha256: f.sha256, path: f.path, bytes: f.bytes }));
  if (c.module) all.push(c.module);
  return all.filter((f, i) => all.findIndex((g) => g.sha256 === f.sha256) === i);
}

/** Bytes of one answer message at most: room for a batch of rows of these columns as JSON (vectors ~24 bytes a value). */
export function maxAnswerBytes(columns: readonly Column[], batch: number): number {
  const perRow = columns.reduce((n, col) => n + (col.spec.kind === 'vector' ? col.spec.length * 24 : 4096), 256);
  return 8 * 2 ** 20 + batch * perRow;
}
