/**
 * The job's actor class in Node: the coordinator's own instance (onnxruntime-node as `ctx.ort`, one
 * thread, the CPU EP), for the dry run before any browser starts and for verification. Inputs are
 * made ready as a tab makes them: images decoded as Chromium decodes them and preprocessed by the
 * shared (Pillow-exact) pipeline, records parsed from their JSON.
 */
import * as ort from 'onnxruntime-node';
import type { Actor, ActorClass, ActorRole } from '../../shared/actorApi.ts';
import { toWireRow, type Column } from '../../shared/columns.ts';
import { preprocessInto, type PreprocessSpec } from '../../shared/preprocess.ts';
import { decodeForReference } from '../io/chromiumDecode.ts';

/** The sessions each Node actor opened through `ctx.ort`, released by releaseNodeActor. */
const opened = new WeakMap<Actor, ort.InferenceSession[]>();

/** An instance of `cls` after its `init`, on onnxruntime-node. */
export async function nodeActor(
  cls: ActorClass,
  a: { model: Uint8Array | null; config: unknown; role: ActorRole; threads?: number },
): Promise<Actor> {
  const actor = new cls();
  const sessions: ort.InferenceSession[] = [];
  opened.set(actor, sessions);
  // ctx.ort is onnxruntime-node with InferenceSession.create tracked, so the sessions can be released before a
  // worker thread ends: terminating one that holds a live session aborts the whole process (Napi::Error in teardown).
  const create = (async (...args: Parameters<typeof ort.InferenceSession.create>) => {
    const session = await ort.InferenceSession.create(...args);
    sessions.push(session);
    return session;
  }) as typeof ort.InferenceSession.create;
  const tracked = {
    ...ort,
    InferenceSession: Object.create(ort.InferenceSession, { create: { value: create } }) as typeof ort.InferenceSession,
  };
  await actor.init({
    ort: tracked as never,
    model: a.model,
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
  kind: 'image' | 'record',
  preprocess: PreprocessSpec | null,
): Promise<(Record<string, unknown> | null)[]> {
  const out: (Record<string, unknown> | null)[] = inputs.map(() => null);
  const ready: number[] = [];
  let rows: unknown;
  if (kind === 'image') {
    const p = preprocess!;
    const per = 3 * p.height * p.width;
    const images = new Float32Array(inputs.length * per);
    for (const [i, input] of inputs.entries()) {
      const pixels = await decodeForReference(input.bytes).catch(() => null);
      if (!pixels) continue;
      preprocessInto(pixels, p, images, ready.length * per);
      ready.push(i);
    }
    if (ready.length === 0) return out;
    const ids = ready.map((i) => inputs[i]!.id);
    rows = await actor.call({
      ids,
      size: ids.length,
      images: images.subarray(0, ready.length * per),
      shape: [ids.length, 3, p.height, p.width],
    });
  } else {
    const records: Record<string, unknown>[] = [];
    for (const [i, input] of inputs.entries()) {
      try {
        records.push(JSON.parse(new TextDecoder().decode(input.bytes)) as Record<string, unknown>);
        ready.push(i);
      } catch {
        // Not a record here either: the tab's answer (a BAD_RECORD row) is not compared.
      }
    }
    if (ready.length === 0) return out;
    rows = await actor.call({ ids: ready.map((i) => inputs[i]!.id), size: ready.length, records });
  }
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
