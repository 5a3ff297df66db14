/**
 * The dry run: before any browser starts, the actor is made in Node (onnxruntime-node) and called
 * on the job's first input, and its row checked against its declared columns, so a module that
 * cannot load its model, throws in `call`, or returns rows of the wrong shape fails in seconds,
 * exit 2, naming the file and the fault, instead of in every tab.
 */
import { TabpoolError } from '../../shared/errors.ts';
import type { ResolvedModel } from '../model/modelSource.ts';
import { callNode, nodeActor, releaseNodeActor } from './nodeActor.ts';
import type { ResolvedActor } from './resolveActor.ts';

export async function dryRun(
  actor: ResolvedActor,
  model: ResolvedModel | null,
  first: { id: string; bytes: Uint8Array } | null,
): Promise<string> {
  const bad = (what: string): TabpoolError => new TabpoolError('BAD_ACTOR', `--actor ${actor.name}: ${what}`);
  let instance;
  try {
    instance = await nodeActor(actor.cls, { model: model?.bytes ?? null, config: actor.config, role: 'dry-run' });
  } catch (err) {
    throw bad(`its init failed in the dry run (onnxruntime-node, before any browser starts): ${(err as Error).message}`);
  }
  if (!first) {
    await releaseNodeActor(instance);
    return 'dry run: init passed; no input to call it on';
  }
  let rows;
  try {
    rows = await callNode(instance, actor.columns, [first], actor.inputs, actor.preprocess);
  } catch (err) {
    throw bad(`its call on the first input (${first.id}) failed in the dry run: ${(err as Error).message}`);
  } finally {
    await releaseNodeActor(instance);
  }
  const row = rows[0];
  if (!row) return `dry run: init passed; the first input (${first.id}) could not be decoded here, so call was not tried`;
  const problem = actor.cls.check?.(row, actor.config) ?? null;
  if (problem) throw bad(`its row for the first input (${first.id}) fails its own check: ${problem}`);
  return (
    `dry run on ${first.id}: init and call passed, the row has the declared columns ` +
    `(${actor.columns.map((c) => `${c.name}: ${c.type}`).join(', ')})`
  );
}
