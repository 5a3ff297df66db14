/**
 * Several files for one actor (coordinator/model/jobFiles.ts): `--model NAME=PATH`, `--model PATH`
 * (`model`), `--model DIR` (each file by its path inside, dotfiles aside), any file named (not only
 * ONNX), .onnx files checked as --model always was, names that clash refused, a model with external
 * data run by the Node copy of the actor from `ctx.models` as a tab runs it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { ActorClass, ActorContext, RecordBatch } from '../../../shared/actorApi.ts';
import { TabpoolError } from '../../../shared/errors.ts';
import { callNode, nodeActor, releaseNodeActor } from '../../../coordinator/actor/nodeActor.ts';
import { hashFile, resolveActorFiles, splitModelArg } from '../../../coordinator/model/jobFiles.ts';
import { parseOutputs, type Column } from '../../../shared/columns.ts';
import { CACHE_DIR } from '../../support/coordinatorProcess.ts';
import { externalDataExpected, externalDataModel } from '../../support/externalDataModel.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-files-'));
after(() => fs.rm(dir, { recursive: true, force: true }));

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const { model, weights } = externalDataModel();
const repo = path.join(dir, 'repo');
await fs.mkdir(path.join(repo, 'onnx'), { recursive: true });
await fs.mkdir(path.join(repo, '.git'), { recursive: true });
await fs.writeFile(path.join(repo, 'onnx', 'model.onnx'), model);
await fs.writeFile(path.join(repo, 'onnx', 'model.onnx_data'), weights);
await fs.writeFile(path.join(repo, 'tokenizer.json'), '{"vocab": {}}');
await fs.writeFile(path.join(repo, '.gitattributes'), '*.onnx_data filter=lfs');
await fs.writeFile(path.join(repo, '.git', 'HEAD'), 'ref: refs/heads/main');
const vocab = path.join(dir, 'vocab.txt');
await fs.writeFile(vocab, 'a\nb\nc\n');

async function refused(args: string[], code: string, message: RegExp): Promise<void> {
  await assert.rejects(resolveActorFiles(args, CACHE_DIR), (e: unknown) => {
    assert.ok(e instanceof TabpoolError);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test('--model DIR names each file by its path inside, as model repositories lay them out, and skips dotfiles', async () => {
  const r = await resolveActorFiles([repo], CACHE_DIR);
  assert.deepEqual(
    r.files.map((f) => [f.name, f.bytes, f.sha256]),
    [
      ['onnx/model.onnx', model.byteLength, sha(model)],
      ['onnx/model.onnx_data', weights.byteLength, sha(weights)],
      ['tokenizer.json', 13, sha('{"vocab": {}}')],
    ],
  );
  assert.equal(r.model, null, 'no file is named model: ctx.model is null');
});

test('--model NAME=PATH names any file; --model PATH is `model`, ctx.model, checked as ever; NAME=DIR prefixes', async () => {
  const r = await resolveActorFiles([`keys=${vocab}`, 'resnet18-tiny', `hf=${repo}`], CACHE_DIR);
  assert.deepEqual(
    r.files.map((f) => f.name),
    ['keys', 'model', 'hf/onnx/model.onnx', 'hf/onnx/model.onnx_data', 'hf/tokenizer.json'],
  );
  assert.equal(r.model?.name, 'resnet18-tiny');
  assert.deepEqual(r.imageSize, { height: r.model!.imageSize!.height, width: r.model!.imageSize!.width });
  assert.equal(r.files[0]!.sha256, await hashFile(vocab));
});

test('two files that would have one name, a file that is not there, and a broken .onnx are refused, naming the fix', async () => {
  await refused([`a=${vocab}`, `a=${vocab}`], 'BAD_ARGUMENT', /two files would be ctx\.models\["a"\].*NAME=PATH/);
  await refused([repo, repo], 'BAD_ARGUMENT', /two files would be ctx\.models\["onnx\/model\.onnx"\]/);
  await refused([`x=${path.join(dir, 'missing.bin')}`], 'MODEL_NOT_FOUND', /no such file or folder/);
  const broken = path.join(dir, 'broken.onnx');
  await fs.writeFile(broken, 'not a model');
  await refused([`det=${broken}`], 'MODEL_NOT_ONNX', /det.*not an ONNX model/);
  await refused([vocab], 'MODEL_NOT_ONNX', /vocab\.txt is not an ONNX model/);
  assert.throws(() => splitModelArg('../x=y'), /not a file name/);
  assert.deepEqual(splitModelArg(vocab), { name: null, target: vocab });
});

test('a model with external data runs in the Node copy of an actor from ctx.models, as onnxruntime-web runs it', async () => {
  const r = await resolveActorFiles([repo], CACHE_DIR);
  class External {
    static inputs = 'record' as const;
    static outputs = { y: 'float32[3]' } as const;
    session!: import('onnxruntime-common').InferenceSession;
    async init(ctx: ActorContext) {
      this.session = await ctx.ort.InferenceSession.create(ctx.models['onnx/model.onnx']!, {
        ...ctx.sessionOptions,
        externalData: [{ path: 'model.onnx_data', data: ctx.models['onnx/model.onnx_data']! }],
      });
    }
    async call(batch: RecordBatch) {
      const ort = await import('onnxruntime-node');
      const x = new ort.Tensor('float32', Float32Array.from(batch.records.flatMap((rec) => rec.x as number[])), [batch.size, 4]);
      const y = (await this.session.run({ x })).y!.data as Float32Array;
      return batch.records.map((_, i) => ({ y: y.subarray(i * 3, i * 3 + 3) }));
    }
  }
  const columns = (parseOutputs(External.outputs) as { ok: true; columns: Column[] }).columns;
  const actor = await nodeActor(External as unknown as ActorClass, {
    files: r.files.map((f) => ({ name: f.name, path: f.path })),
    config: null,
    role: 'dry-run',
  });
  try {
    const x = [1, -2, 0.5, 3];
    const [row] = await callNode(actor, columns, [{ id: 'r', bytes: new TextEncoder().encode(JSON.stringify({ x })) }], {
      inputs: 'record',
      preprocess: null,
      exifTranspose: false,
    });
    const want = externalDataExpected(x);
    (row!.y as number[]).forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `y[${i}] ${v} vs ${want[i]}`));
  } finally {
    await releaseNodeActor(actor);
  }
});
