/**
 * Verification's cost and what a liar gets through it. `verify.wrongRowsPerLiar.*`: three honest
 * actors and one that lies (every batch, or a tenth of them: each class shifted by one), all
 * speaking the real protocol and running the model on onnxruntime-node; the wrong rows that reach
 * the output are counted against the reference. (`verify.overhead` is measured on real tabs in
 * bench.ts.)
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureBuiltinModel } from '../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR, startCoordinator } from '../test/support/coordinatorProcess.ts';
import { readRows, referencePredictions } from '../test/support/reference.ts';
import { startActors, type SimulatedActorOptions } from '../test/support/simulatedActor.ts';
import { mulberry32, writeTestPngs } from '../test/support/testImages.ts';

export interface TrustOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
}

/** A lie: every class the row names shifted by one, scores untouched, the row well-formed. */
function shiftClasses(row: Record<string, unknown>): void {
  const topk = row.topk as { class: number; label: string }[];
  for (const e of topk) {
    e.class = (e.class + 1) % 1000;
    e.label = `class ${e.class}`;
  }
  row.class = topk[0]!.class;
  row.label = topk[0]!.label;
}

function liar(lieShare: number, seed: number): SimulatedActorOptions {
  const rand = mulberry32(seed);
  return {
    mode: 'real',
    onBatch: async (batch, actor) => {
      const honest = await actor.answer(batch);
      if (rand() < lieShare) for (const item of honest.items) if (item.ok) shiftClasses(item.row);
      actor.send(honest);
    },
  };
}

async function wrongRows(
  dir: string,
  files: { id: string; path: string }[],
  reference: Map<string, { top1: number }>,
  lieShare: number,
  seed: number,
  o: TrustOptions,
): Promise<number> {
  const out = path.join(dir, `out-${lieShare}-${seed}.jsonl`);
  const c = await startCoordinator(['--model', 'resnet18-tiny', '--data', path.join(dir, 'data'), '--out', out, '--pool', '4', '--quiet']);
  await startActors(c.workerUrl, 1, liar(lieShare, seed));
  await startActors(c.workerUrl, 3, { mode: 'real' });
  const code = await c.exited;
  if (code !== 0) throw new Error(`trust bench job exited ${code}: ${c.stderr().slice(-1000)}`);
  const rows = await readRows(out);
  if (rows.length !== files.length) throw new Error(`trust bench: ${rows.length} rows for ${files.length} inputs`);
  const wrong = rows.filter((r) => r.error === null && r.class !== reference.get(r.id)!.top1).length;
  o.log(
    `  liar lying on ${lieShare * 100}% of its batches (seed ${seed}): ${wrong} wrong row(s) in the output; ` +
      `${/(\d+) host\(s\) barred/.exec(c.stdout())?.[1] ?? '?'} host(s) barred`,
  );
  return wrong;
}

export async function benchTrust(o: TrustOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-trust-'));
  try {
    const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
    const files = await writeTestPngs(path.join(dir, 'data'), o.quick ? 1500 : 4000, 64, 64, 113);
    const reference = await referencePredictions(model.path, files);
    const always = await wrongRows(dir, files, reference, 1, 1, o);
    const runs = o.quick ? [2, 3, 4] : [2, 3, 4, 5, 6];
    const tenth: number[] = [];
    for (const seed of runs) tenth.push(await wrongRows(dir, files, reference, 0.1, seed, o));
    o.notes.push(
      `verify.wrongRowsPerLiar: ${files.length} inputs, 3 honest actors and 1 liar (the tiny model on ` +
        `onnxruntime-node, real protocol), default --verify; tenPercent is the mean over ${runs.length} runs (each: ${tenth.join(', ')}).`,
    );
    return {
      'verify.wrongRowsPerLiar.always': always,
      'verify.wrongRowsPerLiar.tenPercent': tenth.reduce((a, b) => a + b, 0) / tenth.length,
      'verify.wrongRowsPerLiar.tenPercentMax': Math.max(...tenth),
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
