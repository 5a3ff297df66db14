/**
 * The dry run: before any browser starts, the actor is made in Node (onnxruntime-node) and called
 * on the job's first inputs, one at a time, and each row checked against its declared columns, so a
 * class that cannot load its model, throws in `call`, or returns rows of the wrong shape fails in
 * seconds, exit 2, naming the file and the fault, instead of in every tab.
 *
 * It tells "this class is broken" from "this input is bad": a `call` that fails on the first input
 * is tried on the next, up to DRY_RUN_INPUTS, until one passes. Only when every input tried fails is
 * it BAD_ACTOR; otherwise the job runs and the failing inputs get their ACTOR_ERROR rows like any other.
 */
import { TabpoolError } from '../../shared/errors.ts';
import { callNode, nodeActor, releaseNodeActor, type NodeFile, type NodeInput } from './nodeActor.ts';
import type { InputKind } from './nodeInputs.ts';
import type { ResolvedActor } from './resolveActor.ts';

/** Inputs the dry run calls the actor on at most, until one passes. */
export const DRY_RUN_INPUTS = 8;

type Outcome = { id: string; passed: true } | { id: string; passed: false; why: string } | { id: string; undecodable: true };

async function tryInput(actor: ResolvedActor, instance: Awaited<ReturnType<typeof nodeActor>>, input: NodeInput, kind: InputKind) {
  let rows;
  try {
    rows = await callNode(instance, actor.columns, [input], kind);
  } catch (err) {
    return { id: input.id, passed: false, why: (err as Error).message } satisfies Outcome;
  }
  const row = rows[0];
  if (!row) return { id: input.id, undecodable: true } satisfies Outcome;
  const problem = actor.cls.check?.(row, actor.config) ?? null;
  if (problem) return { id: input.id, passed: false, why: `its row fails its own check: ${problem}` } satisfies Outcome;
  return { id: input.id, passed: true } satisfies Outcome;
}

export async function dryRun(
  actor: ResolvedActor,
  files: readonly NodeFile[],
  inputs: readonly NodeInput[],
  kind: InputKind,
): Promise<string> {
  const bad = (what: string): TabpoolError => new TabpoolError('BAD_ACTOR', `--actor ${actor.name}: ${what}`);
  let instance;
  try {
    instance = await nodeActor(actor.cls, { files, config: actor.config, role: 'dry-run' });
  } catch (err) {
    throw bad(`its init failed in the dry run (onnxruntime-node, before any browser starts): ${(err as Error).message}`);
  }
  const outcomes: Outcome[] = [];
  try {
    for (const input of inputs.slice(0, DRY_RUN_INPUTS)) {
      const outcome = await tryInput(actor, instance, input, kind);
      outcomes.push(outcome);
      if ('passed' in outcome && outcome.passed) break;
    }
  } finally {
    await releaseNodeActor(instance);
  }
  if (inputs.length === 0) return 'dry run: init passed; no input to call it on';
  const failed = outcomes.filter((o): o is Extract<Outcome, { passed: false }> => 'passed' in o && !o.passed);
  const passed = outcomes.find((o) => 'passed' in o && o.passed);
  const listed = failed
    .slice(0, 3)
    .map((f) => `${f.id}: ${f.why}`)
    .join('; ');
  if (!passed && failed.length > 0) {
    const tried = failed.length === 1 ? 'the one input tried' : `every one of the ${failed.length} inputs tried`;
    throw bad(`its call failed in the dry run on ${tried} (${listed}${failed.length > 3 ? '; …' : ''})`);
  }
  if (!passed)
    return (
      `dry run: init passed; the first inputs (${outcomes.map((o) => o.id).join(', ')}) could not be made ready here, ` +
      'so call was not tried'
    );
  const columns = actor.columns.map((c) => `${c.name}: ${c.type}`).join(', ');
  const before = failed.length
    ? `; it failed first on ${failed.length} input${failed.length === 1 ? '' : 's'}, which get ACTOR_ERROR rows if the tabs ` +
      `agree (${listed})`
    : '';
  return `dry run on ${passed.id}: init and call passed, the row has the declared columns (${columns})${before}`;
}
