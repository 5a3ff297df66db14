/**
 * `llm.*` (issue 31): generation on the test's small decoder-only model (test/support/tinyLm.ts).
 * - `llm.tokensPerSec.batch1` / `.batched`: generated tokens a second of one wasm tab (`--launch 1`,
 *   `--verify 0`), with `--batch-size 1` and `--batch-size 8`, from the summary's steady figure;
 *   `llm.batchingGain` is their ratio (goal ≥ 3 at a batch of 8).
 * - `llm.verify.costRatio`: the CPU time the coordinator's copy (onnxruntime-node, one thread) spends
 *   checking a row by teacher forcing, over the time the same copy takes to generate that row one at a
 *   time (goal ≤ 0.2): what verifying costs against what computing again would.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Generator from '../actors/generator.ts';
import type { ActorClass } from '../shared/actorApi.ts';
import type { RunSummary } from '../coordinator/api/summary.ts';
import { nodeActor, releaseNodeActor } from '../coordinator/actor/nodeActor.ts';
import { startCoordinator } from '../test/support/coordinatorProcess.ts';
import { CRAFTED, writeTinyLm } from '../test/support/tinyLm.ts';

const WORDS = ['the', 'cat', 'rain', 'over', 'seven', 'blue', 'station', 'quiet', 'north', 'letters'];
const prompt = (i: number): string => Array.from({ length: 3 + (i % 5) }, (_, k) => WORDS[(i * 3 + k * 7) % WORDS.length]).join(' ');

async function tabRun(dir: string, model: string, data: string, batchSize: number): Promise<RunSummary> {
  const summaryFile = path.join(dir, `summary-${batchSize}.json`);
  const c = await startCoordinator([
    ...['--actor', 'generate', '--model', model, '--data', data, '--out', path.join(dir, `out-${batchSize}.jsonl`)],
    ...['--actor-config', '{"max_tokens": 64}', '--launch', '1', '--ep', 'wasm', '--pool', '1', '--verify', '0'],
    ...['--batch-size', String(batchSize), '--summary-json', summaryFile, '--quiet'],
  ]);
  const code = await c.exited;
  if (code !== 0) throw new Error(`llm bench job exited ${code}: ${c.stderr().slice(-1000)}`);
  return JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary;
}

async function verifyCost(model: string, records: Record<string, unknown>[]): Promise<{ generateMs: number; verifyMs: number }> {
  const names = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];
  const files = names.map((name) => ({ name, path: path.join(model, name) }));
  const actor = await nodeActor(Generator as unknown as ActorClass, { files, config: { max_tokens: 64 }, role: 'reference' });
  try {
    const batch = (r: Record<string, unknown>) => ({ ids: [String(r.id)], size: 1, records: [r] });
    const rows = [];
    let cpu = process.cpuUsage();
    for (const r of records) rows.push((await actor.call(batch(r)))[0]!);
    const generated = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    for (const [i, r] of records.entries()) {
      const [verdict] = await actor.verify!(batch(r), [rows[i]!]);
      if (verdict) throw new Error(`the bench's own honest row failed its check: ${verdict}`);
    }
    const verified = process.cpuUsage(cpu);
    return { generateMs: (generated.user + generated.system) / 1000, verifyMs: (verified.user + verified.system) / 1000 };
  } finally {
    await releaseNodeActor(actor);
  }
}

/** Generated tokens a second of the same actor in Node (onnxruntime-node, one thread), at batch 1 and at batch 8. */
async function nodeGain(model: string, records: Record<string, unknown>[]): Promise<{ batch1: number; batched: number }> {
  const names = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];
  const files = names.map((name) => ({ name, path: path.join(model, name) }));
  const actor = await nodeActor(Generator as unknown as ActorClass, { files, config: { max_tokens: 64 }, role: 'reference' });
  try {
    const rate = async (size: number): Promise<number> => {
      let tokens = 0;
      const started = performance.now();
      for (let i = 0; i < records.length; i += size) {
        const part = records.slice(i, i + size);
        const rows = await actor.call({ ids: part.map((r) => String(r.id)), size: part.length, records: part });
        for (const row of rows as { num_generated_tokens: number }[]) tokens += row.num_generated_tokens;
      }
      return (tokens * 1000) / (performance.now() - started);
    };
    await rate(8);
    return { batch1: await rate(1), batched: await rate(8) };
  } finally {
    await releaseNodeActor(actor);
  }
}

export async function benchLlm(o: { quick: boolean; log: (s: string) => void; notes: string[] }): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-llm-'));
  try {
    // The end token crafted on a token this model never says, so that every answer runs to max_tokens: the bench
    // measures steps, not how soon a seeded model happens to stop.
    const model = await writeTinyLm(path.join(dir, 'tiny-lm'), { crafted: { ...CRAFTED, stopper: 0 } });
    const n = o.quick ? 96 : 320;
    const records = Array.from({ length: n }, (_, i) => ({ id: `p${i}`, prompt: prompt(i) }));
    const data = path.join(dir, 'prompts.jsonl');
    await fs.writeFile(data, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out: Record<string, number> = {};
    for (const batch of [1, 8]) {
      o.log(`llm: the test model, 1 wasm tab, --batch-size ${batch}, ${n} prompts, 64 tokens each…`);
      const s = await tabRun(dir, model, data, batch);
      const rate = s.tokens?.generatedPerSecond ?? NaN;
      out[batch === 1 ? 'llm.tokensPerSec.batch1' : 'llm.tokensPerSec.batched'] = rate;
      o.log(`llm:   ${rate.toFixed(1)} tokens/s generated (${s.tokens?.generated ?? 0} tokens)`);
    }
    out['llm.batchingGain'] = out['llm.tokensPerSec.batched']! / out['llm.tokensPerSec.batch1']!;
    o.log('llm: the same batches on onnxruntime-node (one thread), for comparison…');
    const node = await nodeGain(model, records.slice(0, 32));
    out['llm.node.tokensPerSec.batch1'] = node.batch1;
    out['llm.node.tokensPerSec.batched'] = node.batched;
    out['llm.node.batchingGain'] = node.batched / node.batch1;
    o.log('llm: verifying rows by teacher forcing against generating them, onnxruntime-node, one thread…');
    const cost = await verifyCost(model, records.slice(0, o.quick ? 24 : 80));
    out['llm.verify.costRatio'] = cost.verifyMs / cost.generateMs;
    out['llm.verify.msPerRow'] = cost.verifyMs / (o.quick ? 24 : 80);
    o.log(`llm:   generate ${cost.generateMs.toFixed(0)} ms CPU, verify ${cost.verifyMs.toFixed(0)} ms CPU`);
    o.notes.push(
      'llm.*: the test model (2 layers, hidden 32, a vocabulary of 275, seeded weights), not a real language model: none is ' +
        'reachable here. On it a step is mostly fixed cost (session.run, tensors in and out), which batching shares; a real ' +
        "model's step is mostly arithmetic, where the gain depends on the device. llm.verify.costRatio: CPU time of the " +
        "coordinator's check (one teacher-forced pass in chunks of 32 tokens) over the same copy generating the row, batch 1.",
    );
    return out;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
