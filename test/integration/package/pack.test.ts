/**
 * The package a user installs: `npm pack`, installed into an empty project (with the one npm setting
 * the README names, and nothing of the clone's sources), runs there: the CLI demo (`npx tabpool run
 * --launch 2`: the built-in model and sample, local headless tabs) and a script using the API. Rows
 * equal onnxruntime-node's. The tarball carries no test or bench file; its size is reported.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { ensureSampleDataset, sampleNames } from '../../../coordinator/builtin/sampleImages.ts';
import { CACHE_DIR, ROOT } from '../../support/coordinatorProcess.ts';
import { jobArgv } from '../../support/jobArgv.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { referencePredictions } from '../../support/reference.ts';
import { writeTestPngs } from '../../support/testImages.ts';

const run = promisify(execFile);
let tmp: string;
let project: string;
let tarball: string;
// The built-in model and sample are made once, in the clone's cache, and shared with the installed package.
const env = { ...process.env, TABPOOL_CACHE: CACHE_DIR, npm_config_onnxruntime_node_install: 'skip' };

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-pack-'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT, env, maxBuffer: 64 << 20 });
  const [info] = JSON.parse(packed.stdout) as { filename: string; size: number; files: { path: string }[] }[];
  tarball = path.join(tmp, info!.filename);
  process.stderr.write(`# tarball ${info!.filename}: ${(info!.size / 2 ** 20).toFixed(1)} MiB, ${info!.files.length} files\n`);
  const shipped = info!.files.map((f) => f.path);
  assert.deepEqual(
    shipped.filter((p) => /(^|\/)(test|tests|bench|examples)\/|\.test\.|\.spec\.|web-test\//.test(p)),
    [],
    'test or bench files in the tarball',
  );
  assert.ok(!shipped.some((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')), 'TypeScript sources in the tarball');
  project = path.join(tmp, 'project');
  await fs.mkdir(project);
  await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-tabpool', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: project, env, maxBuffer: 64 << 20 });
});
after(() => fs.rm(tmp, { recursive: true, force: true }));

test('installed from its tarball in a new project, `npx tabpool run --launch 2` runs the demo as onnxruntime-node predicts', async () => {
  const out = path.join(project, 'predictions.jsonl');
  const { stdout } = await run('npx', ['tabpool', 'run', ...jobArgv({ launch: 2, out })], { cwd: project, env, maxBuffer: 64 << 20 });
  assert.match(stdout, /done: 256 rows \(256 predictions, 0 errors\)/);
  const sample = await ensureSampleDataset(CACHE_DIR);
  const files = sampleNames().map((n) => ({ id: n, path: path.join(sample, n) }));
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  await assertCompleteAndCorrect(out, files, await referencePredictions(model.path, files, 'chromium'));
});

test('installed, an API script (readImages → mapBatches → writeJsonl) gets rows as onnxruntime-node, printing nothing', async () => {
  const data = path.join(tmp, 'images');
  const files = await writeTestPngs(data, 16, 64, 64, 5);
  const script = path.join(project, 'job.mjs');
  await fs.writeFile(
    script,
    [
      "import { ActorPool, Classifier, readImages } from 'tabpool';",
      `const job = readImages(${JSON.stringify(data)})`,
      "  .mapBatches(Classifier, { model: 'resnet18-tiny', compute: ActorPool(2), launch: 2, batchSize: 4 })",
      "  .writeJsonl('api.jsonl');",
      'const summary = await job.done;',
      'if (summary.rows.written !== 16) throw new Error(`rows: ${summary.rows.written}`);',
    ].join('\n'),
  );
  const { stdout, stderr } = await run('node', [script], { cwd: project, env });
  assert.equal(stdout + stderr, '', 'the API printed something');
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  await assertCompleteAndCorrect(path.join(project, 'api.jsonl'), files, await referencePredictions(model.path, files));
});
