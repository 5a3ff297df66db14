/**
 * The job's actor class in Node: the coordinator's own instance (onnxruntime-node as `ctx.ort`, one
 * thread, the CPU EP), for the dry run before any browser starts and for verification. Inputs are
 * made ready as a tab makes them (nodeInputs.ts): images decoded by the same shared code and
 * preprocessed by the same (Pillow-exact) pipeline, or their raw pixels; records parsed from their
 * JSON; files as their bytes.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { Actor, ActorClass, ActorRole } from '../../shared/actorApi.ts';
import { toWireRow, type Column } from '../../shared/columns.ts';
import { batchFor, type InputKind } from './nodeInputs.ts';

/** The sessions each Node actor opened through `ctx.ort`, released by releaseNodeActor. */
const opened = new WeakMap<Actor, ort.InferenceSession[]>();

/** A file of the job's as Node's actor reads it: by name, from disk. */
export interface NodeFile {
  name: string;
  path: string;
}

/**
 * `ctx.models`: each file read from disk the first time the actor touches it (an actor that needs a
 * large file only in its tabs costs the coordinator nothing for it), kept for the actor's life.
 */
function lazyModels(files: readonly NodeFile[]): Record<string, Uint8Array> {
  const models: Record<string, Uint8Array> = {};
  for (const f of files) {
    let bytes: Uint8Array | null = null;
    Object.defineProperty(models, f.name, {
      enumerable: true,
      get(): Uint8Array {
        bytes ??= readFileSync(f.path);
        return bytes;
      },
    });
  }
  return Object.freeze(models);
}

/** An instance of `cls` after its `init`, on onnxruntime-node. */
export async function nodeActor(
  cls: ActorClass,
  a: { files: readonly NodeFile[]; config: unknown; role: ActorRole; threads?: number },
): Promise<Actor> {
  const actor = new cls();
  const sessions: ort.InferenceSession[] = [];
  opened.set(actor, sessions);
  // ctx.ort is onnxruntime-node with InferenceSession.create tracked, so the sessions can be released before a
  // worker thread ends: terminating one that holds a live session aborts the whole process (Napi::Error in teardown).
  // onnxruntime-node takes `externalData` from memory as onnxruntime-web does (test/unit/model/jobFiles.test.ts).
  const create = (async (...args: Parameters<typeof ort.InferenceSession.create>) => {
    const session = await ort.InferenceSession.create(...args);
    sessions.push(session);
    return session;
  }) as typeof ort.InferenceSession.create;
  const tracked = {
    ...ort,
    InferenceSession: Object.create(ort.InferenceSession, { create: { value: create } }) as typeof ort.InferenceSession,
  };
  const models = lazyModels(a.files);
  await actor.init({
    ort: tracked as never,
    model: a.files.some((f) => f.name === 'model') ? models.model! : null,
    models,
    // One thread unless told (--verify-cpu): the coordinator must not take the cores the tabs on this machine use.
    sessionOptions: { executionProviders: ['cpu'], intraOpNumThreads: a.threads ?? 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' },
    ep: 'cpu',
    config: a.config,
    role: a.role,
  });
  return actor;
}

/** Releases every session the actor opened; it must not be called again after this. */
export async function releaseNodeActor(actor: Actor): Promise<void> {
  for (const session of opened.get(actor) ?? []) await session.release().catch(() => undefined);
  opened.delete(actor);
}

export interface NodeInput {
  id: string;
  bytes: Uint8Array;
}

/**
 * Runs `inputs` through the actor's `call` and checks its rows; per input, the wire row (as a tab
 * would send it), or null for an input it cannot make ready here (an image it cannot decode).
 * Throws (with the actor's message) when `call` throws or returns rows that do not fit.
 */
export async function callNode(
  actor: Actor,
  columns: readonly Column[],
  inputs: readonly NodeInput[],
  kind: InputKind,
): Promise<(Record<string, unknown> | null)[]> {
  const out: (Record<string, unknown> | null)[] = inputs.map(() => null);
  const { batch, ready } = await batchFor(inputs, kind);
  if (ready.length === 0) return out;
  const rows: unknown = await actor.call(batch);
  if (!Array.isArray(rows) || rows.length !== ready.length) {
    throw new Error(
      `call returned ${Array.isArray(rows) ? `${rows.length} rows` : typeof rows} for a batch of ${ready.length}: ` +
        `return one row per input, in order`,
    );
  }
  for (const [j, i] of ready.entries()) {
    const wire = toWireRow(columns, rows[j]);
    if ('error' in wire) throw new Error(`the row for ${inputs[i]!.id}: ${wire.error}`);
    out[i] = wire.row;
  }
  return out;
}

/**
 * Checks tabs' answers with the actor's own `verify` (a class that checks more cheaply than it computes):
 * per input, what is wrong with the answer, null when it holds, or undefined where the input cannot be made
 * ready here. A tab's error answer holds only where the actor's own `call` fails on that input too.
 */
export async function verifyNode(
  actor: Actor,
  columns: readonly Column[],
  inputs: readonly NodeInput[],
  answers: readonly ({ row: Record<string, unknown> } | { code: string })[],
  kind: InputKind,
): Promise<(string | null | undefined)[]> {
  const out: (string | null | undefined)[] = inputs.map(() => undefined);
  const rows = answers.flatMap((a, i) => ('row' in a ? [i] : []));
  const { batch, ready } = await batchFor(
    rows.map((i) => inputs[i]!),
    kind,
  );
  if (ready.length > 0) {
    const verdicts = await actor.verify!(
      batch,
      ready.map((j) => (answers[rows[j]!] as { row: Record<string, unknown> }).row),
    );
    for (const [k, j] of ready.entries()) out[rows[j]!] = verdicts[k] ?? null;
  }
  for (const [i, a] of answers.entries()) {
    if ('row' in a) continue;
    const computed = await callNode(actor, columns, [inputs[i]!], kind).then(
      (r) => (r[0] ? 'a row' : undefined),
      () => null,
    );
    out[i] = computed === undefined ? undefined : computed === null ? null : `the tab answered ${a.code}, but the actor computes a row`;
  }
  return out;
}
