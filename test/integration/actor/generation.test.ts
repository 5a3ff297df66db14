/**
 * A generation job (`--actor generate`) with a real coordinator and Node actors running the generator
 * on onnxruntime-node over the real protocol: SIGKILLed half-way and resumed, every record exactly once
 * with the tokens the test's own loop gives; a record the generator cannot read is its row's error and
 * nothing else's; a bad model directory or config is refused before any actor joins, naming the fix.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { samplingParams } from '../../../actors/generation/requests.ts';
import { startCoordinator, runCli, type RunningCoordinator } from '../../support/coordinatorProcess.ts';
import { loopModel, referenceLoop, type LoopModel } from '../../support/greedyLoop.ts';
import { actorsHoldingAfter } from '../../support/holdingActors.ts';
import { until } from '../../support/queueJob.ts';
import { jobArgv, type JobFlags } from '../../support/jobArgv.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { nearTieFree, TINY_LM, tinyLmVocab, writeTinyLm } from '../../support/tinyLm.ts';
import { Tokenizer } from '@huggingface/tokenizers';

const RECORDS = 48;
const MAX_TOKENS = 8;
let tmp: string;
let model: string;
let data: string;
let want: Map<string, number[]>;
const running = new Set<RunningCoordinator>();

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-gen-'));
  model = await writeTinyLm(path.join(tmp, 'tiny-lm'));
  const v = tinyLmVocab();
  const loop: LoopModel = await loopModel(
    await fs.readFile(path.join(model, 'onnx', 'model.onnx')),
    TINY_LM.layers,
    TINY_LM.heads,
    TINY_LM.headDim,
    [v.endOfText, v.imEnd],
  );
  const tokenizer = new Tokenizer(
    JSON.parse(await fs.readFile(path.join(model, 'tokenizer.json'), 'utf8')),
    JSON.parse(await fs.readFile(path.join(model, 'tokenizer_config.json'), 'utf8')),
  );
  // Prompts whose answers meet no crafted near-tie, so that "the same tokens" is well defined.
  const rows: { id: string; prompt: string; n: number }[] = [];
  want = new Map();
  for (let i = 0; rows.length < RECORDS; i++) {
    const r = { id: `p${i}`, prompt: `item ${i}: the ${'abc'.repeat(1 + (i % 4))}`, n: i };
    const ids = tokenizer.encode(r.prompt, { add_special_tokens: false }).ids;
    const tokens = (await referenceLoop(loop, ids, samplingParams(r.id, undefined, { max_tokens: MAX_TOKENS }))).tokens;
    if (!nearTieFree(tokens)) continue;
    rows.push(r);
    want.set(r.id, tokens);
  }
  data = path.join(tmp, 'prompts.jsonl');
  await fs.writeFile(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
});

after(async () => {
  for (const c of running) c.kill('SIGKILL');
  await fs.rm(tmp, { recursive: true, force: true });
});

async function job(out: string, flags: JobFlags = {}): Promise<RunningCoordinator> {
  const c = await startCoordinator(
    jobArgv({
      actor: 'generate',
      model,
      actorConfig: JSON.stringify({ max_tokens: MAX_TOKENS }),
      data,
      out,
      launch: 0,
      batchSize: 4,
      pool: 2,
      verify: 1,
      ...flags,
    }),
  );
  running.add(c);
  void c.exited.then(() => running.delete(c));
  return c;
}

async function rows(out: string): Promise<Record<string, unknown>[]> {
  const text = await fs.readFile(out, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.endsWith('}'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a generation job SIGKILLed half-way and resumed: every record once, each the tokens of onnxruntime-node’s own loop', async () => {
  const out = path.join(tmp, 'killed.jsonl');
  const first = await job(out);
  const held = actorsHoldingAfter(5);
  await startActors(first.workerUrl, 2, held.options);
  // Five batches of four answered (each checked, --verify 1, then written): then the actors hold the rest.
  await until('the rows of the answered batches', async () => (await rows(out)).length >= 20, 60_000);
  const before = (await rows(out)).length;
  first.kill('SIGKILL');
  await first.exited;
  assert.ok(before > 0 && before < RECORDS, `the kill came mid-job (${before} of ${RECORDS} rows)`);
  const second = await job(out, { resume: true });
  await startActors(second.workerUrl, 2, { mode: 'real' });
  assert.equal(await second.exited, 0, second.stderr().slice(-3000));
  const all = await rows(out);
  assert.equal(all.length, RECORDS);
  assert.equal(new Set(all.map((r) => r.id)).size, RECORDS, 'every record once');
  for (const r of all) {
    assert.equal(r.error, null, `${String(r.id)}: ${JSON.stringify(r.error)}`);
    assert.deepEqual(r.generated_tokens, want.get(r.id as string), `${String(r.id)}: tokens`);
    assert.equal(r.n, Number((r.id as string).slice(1)), 'the record’s other fields are carried');
  }
  assert.match(second.stdout(), /tokens: \d+ generated/);
});

test('a record with no prompt is that row’s ACTOR_ERROR, naming the fix; the other rows are written', async () => {
  const bad = path.join(tmp, 'bad.jsonl');
  await fs.writeFile(
    bad,
    ['{"id":"ok1","prompt":"hello","n":1}', '{"id":"nope","text":"hello","n":2}', '{"id":"ok2","prompt":"a b","n":3}'].join('\n') + '\n',
  );
  const out = path.join(tmp, 'bad-out.jsonl');
  const c = await job(out, { data: bad, maxRetries: 1 });
  await startActors(c.workerUrl, 2, { mode: 'real' });
  assert.equal(await c.exited, 3, c.stderr().slice(-3000));
  const byId = new Map((await rows(out)).map((r) => [r.id, r]));
  assert.equal(byId.size, 3);
  assert.match(JSON.stringify(byId.get('nope')!.error), /ACTOR_ERROR.*record nope: has no prompt \(a string\) or messages/);
  assert.equal(byId.get('ok1')!.error, null);
  assert.equal(byId.get('ok2')!.error, null);
});

test('--actor generate on a folder that is not a model directory, or without --data, is refused before any actor joins', async () => {
  const notModel = path.join(tmp, 'not-a-model');
  await fs.mkdir(notModel, { recursive: true });
  await fs.writeFile(path.join(notModel, 'weights.bin'), 'x');
  const r1 = await runCli(['run', ...jobArgv({ actor: 'generate', model: notModel, data, out: path.join(tmp, 'x.jsonl') })]);
  assert.equal(r1.code, 2, r1.stderr);
  assert.match(r1.stderr, /--actor generate needs a model directory .*config\.json, tokenizer\.json.*pass it with --model DIR/);
  const r2 = await runCli(['run', ...jobArgv({ actor: 'generate', model, out: path.join(tmp, 'y.jsonl') })]);
  assert.equal(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /--actor generate reads records with a prompt or messages: pass --data/);
});
