/**
 * Any model a user brings, in real tabs (wasm), each row held to the same class on onnxruntime-node
 * run on pixels or bytes the test made or decoded itself (Pillow, not tabpool's code):
 * - raw pixels (`preprocess = 'none'`) over text lines of mixed sizes in every PNG layout and as
 *   JPEGs (one with an EXIF orientation tag), read by PaddleOCR's real, trained models (a package on
 *   the registry), two models and a character list named with `--model NAME=PATH`, `--verify 1`;
 * - files (`inputs = 'file'`): .npy tensors decoded by a package installed beside the actor module,
 *   a model folder (`--model DIR`) whose weights are external data, `--verify 1`, a bad first file;
 * - phone photos: JPEGs with each EXIF orientation tag, one tab, `--verify 1`, as stored by default
 *   and upright with --exif-transpose, rows equal to onnxruntime-node on Pillow's tensors.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { RunSummary } from '../../coordinator/api/summary.ts';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR, ROOT } from '../support/coordinatorProcess.ts';
import { externalDataExpected, externalDataModel } from '../support/externalDataModel.ts';
import { pillowPredictions } from '../support/pillowReference.ts';
import { maxRelativeDifference, readRows } from '../support/reference.ts';
import { mulberry32 } from '../support/testImages.ts';
import { nodeRows, npyBytes, OCR_FILES, pillowPixels, renderLines, writeLayouts } from '../support/userModels.ts';
import { expect, jobArgv, openTab, test } from './fixtures.ts';

type Row = Record<string, unknown> & { id: string; error: { code: string; message: string } | null };

async function jsonRows(file: string): Promise<Row[]> {
  return (await fs.readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
}

async function summaryOf(file: string): Promise<RunSummary> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as RunSummary;
}

const LINES = [
  'Hello World 123',
  'tabpool reads text',
  'invoice 4711',
  'Ray Data on tabs',
  'batch inference',
  'phone photo 2026',
  'open the worker page',
  'stateful actors',
];

test("raw pixels, PaddleOCR's two models: lines of mixed sizes in every PNG layout and JPEG equal onnxruntime-node on Pillow's", async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const page = await browser.newPage();
  const images = await renderLines(page, LINES);
  await page.close();
  const files = await writeLayouts(path.join(tmp, 'lines'), images);
  const pixels = await pillowPixels(files.map((f) => f.path));
  const named = Object.entries(OCR_FILES).map(([name, file]) => ({ name, path: file }));
  const module = path.join(ROOT, 'examples', 'ocr.ts');
  const want = await nodeRows(
    module,
    named,
    null,
    files.map((f, i) => ({ ids: [f.id], size: 1, pixels: [pixels[i]!] })),
  );
  const out = path.join(tmp, 'text.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(
    jobArgv({
      actor: module,
      model: named.map((f) => `${f.name}=${f.path}`),
      data: path.join(tmp, 'lines'),
      out,
      ep: 'wasm',
      pool: 1,
      batchSize: 3,
      verify: 1,
      summaryJson: summary,
    }),
  );
  await openTab(browser, c.workerUrl);
  expect(await c.exited, c.stderr()).toBe(0);
  const rows = await jsonRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
  for (const w of want) {
    const r = rows.find((x) => x.id === w.id)!;
    expect(r.error, `${w.id}: ${JSON.stringify(r.error)}`).toBeNull();
    expect([r.text, r.angle], `${w.id} vs onnxruntime-node`).toEqual([w.text, w.angle]);
    expect(Math.abs((r.confidence as number) - (w.confidence as number)), w.id).toBeLessThan(1e-4);
  }
  // The real model reads what the browser drew (a line turned by EXIF is read as stored: sideways, so it is left out).
  const read = files.filter(
    (f, i) => f.layout !== 'jpeg-exif6' && String(rows.find((r) => r.id === f.id)!.text).trim() === LINES[i],
  ).length;
  expect(read, JSON.stringify(rows.map((r) => r.text))).toBeGreaterThanOrEqual(LINES.length - 3);
  const s = await summaryOf(summary);
  expect(s.verify!.barredActors).toEqual([]);
  expect(c.stdout()).toMatch(/cls \(.*\), rec \(.*\), keys \(/);
});

const NPY_ACTOR = `import { parseNpy } from 'npy-lite';
export default class Linear {
  static inputs = 'file';
  static outputs = { y: 'float32[3]', shape: 'json' };
  async init(ctx) {
    this.ort = ctx.ort;
    this.session = await ctx.ort.InferenceSession.create(ctx.models['onnx/model.onnx'], {
      ...ctx.sessionOptions,
      externalData: [{ path: 'model.onnx_data', data: ctx.models['onnx/model.onnx_data'] }],
    });
  }
  async call(batch) {
    const arrays = batch.files.map((f) => parseNpy(f));
    const x = new Float32Array(batch.size * 4);
    arrays.forEach((a, i) => x.set(a.data, i * 4));
    const out = await this.session.run({ x: new this.ort.Tensor('float32', x, [batch.size, 4]) });
    const y = await out.y.getData();
    return arrays.map((a, i) => ({ y: y.slice(i * 3, i * 3 + 3), shape: { dims: a.shape } }));
  }
}
`;

test('a file actor decodes .npy with a package installed beside it, on a model folder with external weights, --verify 1', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const project = path.join(tmp, 'project');
  await fs.cp(path.join(ROOT, 'test', 'fixtures', 'packages', 'npy-lite'), path.join(project, 'node_modules', 'npy-lite'), {
    recursive: true,
  });
  await fs.writeFile(path.join(project, 'actor.js'), NPY_ACTOR);
  const repo = path.join(tmp, 'repo');
  const { model, weights } = externalDataModel();
  await fs.mkdir(path.join(repo, 'onnx'), { recursive: true });
  await fs.writeFile(path.join(repo, 'onnx', 'model.onnx'), model);
  await fs.writeFile(path.join(repo, 'onnx', 'model.onnx_data'), weights);
  const data = path.join(tmp, 'tensors');
  await fs.mkdir(path.join(data, 'deeper'), { recursive: true });
  const rand = mulberry32(5);
  const vectors = new Map<string, number[]>();
  for (let i = 0; i < 14; i++) {
    const x = Array.from({ length: 4 }, () => Math.round((rand() * 8 - 4) * 64) / 64);
    const id = `${i % 3 === 0 ? 'deeper/' : ''}t${String(i).padStart(2, '0')}.npy`;
    vectors.set(id, x);
    await fs.writeFile(path.join(data, id), npyBytes(Float32Array.from(x), [4]));
  }
  await fs.writeFile(path.join(data, 'empty.npy'), '');
  await fs.writeFile(path.join(data, 'notes.txt'), 'not an array');
  const module = path.join(project, 'actor.js');
  const files = await Promise.all([...vectors.keys()].map(async (id) => new Uint8Array(await fs.readFile(path.join(data, id)))));
  const want = await nodeRows(
    module,
    [
      { name: 'onnx/model.onnx', path: path.join(repo, 'onnx', 'model.onnx') },
      { name: 'onnx/model.onnx_data', path: path.join(repo, 'onnx', 'model.onnx_data') },
    ],
    null,
    [{ ids: [...vectors.keys()], size: vectors.size, files }],
  );
  const out = path.join(tmp, 'y.jsonl');
  const summary = path.join(tmp, 'summary.json');
  const c = await start(
    jobArgv({ actor: module, model: repo, data, out, ep: 'wasm', pool: 1, batchSize: 4, verify: 1, summaryJson: summary }),
  );
  await openTab(browser, c.workerUrl);
  expect(await c.exited, c.stderr()).toBe(3);
  const rows = await jsonRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual([...vectors.keys(), 'empty.npy', 'notes.txt'].sort());
  for (const w of want) {
    const r = rows.find((x) => x.id === w.id)!;
    expect(r.error, w.id).toBeNull();
    expect(r.shape).toEqual({ dims: [4] });
    expect(maxRelativeDifference(r.y as number[], w.y as number[]), `${w.id} vs onnxruntime-node`).toBeLessThan(1e-5);
    const exact = externalDataExpected(vectors.get(w.id)!);
    (r.y as number[]).forEach((v, k) => expect(Math.abs(v - exact[k]!), `${w.id}[${k}]`).toBeLessThan(1e-4));
  }
  expect(rows.find((r) => r.id === 'empty.npy')!.error!.code).toBe('EMPTY_FILE');
  const notNpy = rows.find((r) => r.id === 'notes.txt')!.error!;
  expect(notNpy.code).toBe('ACTOR_ERROR');
  expect(notNpy.message).toMatch(/not a \.npy file/);
  const s = await summaryOf(summary);
  expect(s.verify!.barredActors).toEqual([]);
});

test('phone photos: JPEGs with each EXIF tag, one tab, --verify 1, stored and --exif-transpose: equal onnxruntime-node on Pillow', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const data = path.join(tmp, 'photos');
  await fs.mkdir(data);
  const rand = mulberry32(11);
  const files: { id: string; path: string }[] = [];
  for (let o = 1; o <= 8; o++) {
    const [w, h] = [96 + o * 7, 64 + o * 3];
    const raw = Buffer.from(
      Uint8Array.from({ length: w * h * 3 }, (_, k) => ((k % 3) * 60 + Math.floor(rand() * 120) + (k / 3 / w) * 2) & 255),
    );
    const id = `photo-${o}.jpg`;
    await fs.writeFile(
      path.join(data, id),
      await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
        .jpeg()
        .withMetadata({ orientation: o })
        .toBuffer(),
    );
    files.push({ id, path: path.join(data, id) });
  }
  for (const exifTranspose of [false, true]) {
    const reference = await pillowPredictions(model.path, files, { exifTranspose });
    const out = path.join(tmp, `photos-${exifTranspose}.jsonl`);
    const summary = path.join(tmp, `summary-${exifTranspose}.json`);
    const c = await start(
      jobArgv({ model: 'resnet18-tiny', data, out, ep: 'wasm', pool: 1, verify: 1, logits: true, summaryJson: summary, exifTranspose }),
    );
    const tab = await openTab(browser, c.workerUrl);
    expect(await c.exited, c.stderr()).toBe(0);
    // The page says what it ran the model on: this wasm tab, the CPU.
    await expect(tab.locator('[data-field="runs-on"]')).toHaveText("it runs the job's model on this machine's CPU (WebAssembly).");
    const s = await summaryOf(summary);
    expect(s.verify!.barredActors, 'an honest tab is never barred').toEqual([]);
    const rows = await readRows(out);
    expect(rows).toHaveLength(8);
    for (const row of rows) {
      const ref = reference.get(row.id)!;
      expect(row.class, `${row.id} (exifTranspose ${exifTranspose}): top-1`).toBe(ref.top1);
      expect(maxRelativeDifference(row.logits!, ref.logits), `${row.id}: logits vs onnxruntime-node on Pillow`).toBeLessThan(1e-3);
    }
  }
});
