/**
 * What a tab is told to load (shared/protocol.ts JobSpec): the model and the actor, each by URL and
 * sha256 with this process's token, the config, the inputs and how images are preprocessed, the
 * declared columns; and the files this process serves them from.
 */
import type { Column } from '../../shared/columns.ts';
import type { ExecutionProvider, JobSpec, RecycleSpec } from '../../shared/protocol.ts';
import type { PreprocessSpec } from '../../shared/preprocess.ts';
import { actorPath, modelPath, TOKEN_PARAM } from '../../shared/routes.ts';
import type { ServedFile } from '../server/httpServer.ts';

/** A job's content as it travels (to tabs, or through NATS to gateways): everything but where it is served. */
export interface JobContent {
  model: { sha256: string; bytes: Uint8Array } | null;
  /** The user's bundled module, or null for the built-in classifier. */
  module: { sha256: string; bytes: Uint8Array } | null;
  config: unknown;
  inputs: 'image' | 'record';
  preprocess: PreprocessSpec | null;
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
  const model = c.model ? { url: withToken(modelPath(c.model.sha256)), sha256: c.model.sha256, bytes: c.model.bytes.byteLength } : null;
  const actor: JobSpec['actor'] = c.module
    ? { kind: 'module', url: withToken(actorPath(c.module.sha256)), sha256: c.module.sha256, bytes: c.module.bytes.byteLength }
    : { kind: 'builtin', name: 'classifier' };
  const outputs = outputsRecord(c.columns);
  const p = c.preprocess;
  const preprocess = p && {
    height: p.height,
    width: p.width,
    resizeShorter: p.resizeShorter,
    mean: [...p.mean] as [number, number, number],
    std: [...p.std] as [number, number, number],
  };
  return (eps) => ({
    model,
    actor,
    config: c.config,
    inputs: c.inputs,
    preprocess,
    outputs,
    eps,
    numThreads: o.numThreads,
    allowSoftwareGpu: o.allowSoftwareGpu,
    recycle: o.recycle,
  });
}

/** The files the tabs fetch from this process. */
export function servedFiles(c: JobContent): ServedFile[] {
  const files: ServedFile[] = [];
  if (c.model)
    files.push({ route: modelPath(c.model.sha256), sha256: c.model.sha256, bytes: c.model.bytes, contentType: 'application/octet-stream' });
  if (c.module)
    files.push({ route: actorPath(c.module.sha256), sha256: c.module.sha256, bytes: c.module.bytes, contentType: 'text/javascript' });
  return files;
}

/** Bytes of one answer message at most: room for a batch of rows of these columns as JSON (vectors ~24 bytes a value). */
export function maxAnswerBytes(columns: readonly Column[], batch: number): number {
  const perRow = columns.reduce((n, col) => n + (col.spec.kind === 'vector' ? col.spec.length * 24 : 4096), 256);
  return 8 * 2 ** 20 + batch * perRow;
}
