/**
 * The trusted reference, in a worker thread so decoding and the model never stall dispatch: the
 * job's own actor class on onnxruntime-node (actor/nodeActor.ts), given the inputs a tab was given,
 * decoded as Chromium decodes them and preprocessed by the same pipeline. It answers a batch with
 * each input's row, or null for an input it cannot make ready here (an image it cannot decode).
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import Classifier from '../../actors/classifier.ts';
import type { ActorClass } from '../../shared/actorApi.ts';
import { outputsFor, parseOutputs } from '../../shared/columns.ts';
import { callNode, nodeActor, releaseNodeActor, verifyNode, type NodeFile, type NodeInput } from '../actor/nodeActor.ts';
import type { InputKind } from '../actor/nodeInputs.ts';

export interface ReferenceInit {
  /** The built-in classifier, or the bundled module's file. */
  actor: { kind: 'builtin' } | { kind: 'module'; file: string };
  /** The job's files (`ctx.models`), read from disk when the actor first touches each. */
  files: NodeFile[];
  /** The config the reference runs with (the actor's referenceConfig of the job's). */
  config: unknown;
  /** What the inputs are and how images are made ready, as in the tabs. */
  kind: InputKind;
  /** Threads of the reference's session (--verify-cpu). */
  threads: number;
}

export type ReferenceRequest = CheckRequest | { close: true };

interface CheckRequest {
  id: number;
  inputs: NodeInput[];
  /** Tabs' answers to check with the actor's own `verify` (where its class has one), instead of computing rows. */
  answers?: TabAnswer[];
}

export type TabAnswer = { row: Record<string, unknown> } | { code: string };

export interface ReferenceReply {
  id: number;
  rows: (Record<string, unknown> | null)[];
  /** With `answers`: what is wrong with each, null when it holds, undefined where the input could not be made ready. */
  verdicts?: (string | null | undefined)[];
  error: string | null;
}

const init = workerData as ReferenceInit;
const cls = (
  init.actor.kind === 'builtin' ? Classifier : ((await import(pathToFileURL(init.actor.file).href)) as { default: unknown }).default
) as ActorClass;
const parsed = parseOutputs(outputsFor(cls.outputs, init.config));
if (!parsed.ok) throw new Error(`the reference's outputs: ${parsed.error}`);
const columns = parsed.columns;
const actor = await nodeActor(cls, { files: init.files, config: init.config, role: 'reference', threads: init.threads });
// Requests run one at a time: one actor, like a tab's.
let serial: Promise<unknown> = Promise.resolve();

async function answer(req: CheckRequest): Promise<ReferenceReply> {
  if (req.answers) {
    try {
      return { id: req.id, rows: [], verdicts: await verifyNode(actor, columns, req.inputs, req.answers, init.kind), error: null };
    } catch (err) {
      // The actor's verify itself failed: the job cannot verify (as when the reference model fails).
      return { id: req.id, rows: [], error: `its verify failed: ${(err as Error).message}` };
    }
  }
  try {
    return { id: req.id, rows: await callNode(actor, columns, req.inputs, init.kind), error: null };
  } catch {
    // The actor's own call failed here on these inputs: they cannot be checked (never counted as compared).
    return { id: req.id, rows: req.inputs.map(() => null), error: null };
  }
}

parentPort!.on('message', (req: ReferenceRequest) => {
  if ('close' in req) {
    // Asked to end: finish what is queued, release the sessions, and let the thread's loop run out.
    serial = serial.then(() => releaseNodeActor(actor)).then(() => parentPort!.close());
    return;
  }
  serial = serial.then(() =>
    answer(req).then(
      (reply) => parentPort!.postMessage(reply),
      (err: unknown) => parentPort!.postMessage({ id: req.id, rows: [], error: (err as Error).message } satisfies ReferenceReply),
    ),
  );
});
parentPort!.postMessage('ready');
