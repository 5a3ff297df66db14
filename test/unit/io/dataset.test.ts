import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { countDataset, itemsOf, openDataset } from '../../../coordinator/io/dataset.ts';

async function tmpdir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-ds-'));
}

async function collect(target: string): Promise<{ id: string; source: string }[]> {
  const out = [];
  for await (const item of itemsOf(await openDataset(target))) out.push(item);
  return out;
}

test('walks a folder recursively, ids relative to it, images only, hidden files skipped', async () => {
  const dir = await tmpdir();
  await fs.mkdir(path.join(dir, 'sub', 'deeper'), { recursive: true });
  for (const f of ['a.png', 'b.JPG', 'notes.txt', '.hidden.png', 'sub/c.jpeg', 'sub/deeper/d.webp'])
    await fs.writeFile(path.join(dir, f), 'x');
  const items = await collect(dir);
  assert.deepEqual(items.map((i) => i.id).sort(), ['a.png', 'b.JPG', 'sub/c.jpeg', 'sub/deeper/d.webp']);
  assert.equal(items.find((i) => i.id === 'sub/c.jpeg')!.source, path.join(dir, 'sub', 'c.jpeg'));
});

test('reads .txt, .jsonl and .csv manifests, paths relative to the manifest', async () => {
  const dir = await tmpdir();
  await fs.writeFile(path.join(dir, 'm.txt'), 'x/a.png\n\n# comment\nb.png\n');
  await fs.writeFile(path.join(dir, 'm.jsonl'), '{"id":"one","path":"a.png"}\n{"path":"b.png"}\n');
  await fs.writeFile(path.join(dir, 'm.csv'), 'id,path\n"q,1",a.png\nq2,b.png\n');
  assert.deepEqual(await collect(path.join(dir, 'm.txt')), [
    { id: 'x/a.png', source: path.join(dir, 'x/a.png') },
    { id: 'b.png', source: path.join(dir, 'b.png') },
  ]);
  assert.deepEqual(
    (await collect(path.join(dir, 'm.jsonl'))).map((i) => i.id),
    ['one', 'b.png'],
  );
  assert.deepEqual(
    (await collect(path.join(dir, 'm.csv'))).map((i) => i.id),
    ['q,1', 'q2'],
  );
});

test('a missing path fails fast with DATA_NOT_FOUND naming it', async () => {
  await assert.rejects(
    openDataset('/no/such/place'),
    (e: Error & { code?: string }) => e.code === 'DATA_NOT_FOUND' && /\/no\/such\/place/.test(e.message),
  );
});

test('a manifest line that is not JSON names the file and line', async () => {
  const dir = await tmpdir();
  await fs.writeFile(path.join(dir, 'm.jsonl'), '{"path":"a.png"}\nnot json\n');
  await assert.rejects(
    collect(path.join(dir, 'm.jsonl')),
    (e: Error & { code?: string }) => e.code === 'BAD_MANIFEST' && /m\.jsonl:2/.test(e.message),
  );
});

test('counts without keeping the items', async () => {
  const dir = await tmpdir();
  for (let i = 0; i < 30; i++) await fs.writeFile(path.join(dir, `${i}.png`), 'x');
  assert.equal((await countDataset(await openDataset(dir))).total, 30);
});

test('every manifest line reads as JSON.parse and path.resolve read it, across 1 MiB chunks and line endings', async () => {
  const dir = await tmpdir();
  const refs = ['a.png', './b.png', '../up.png', 'x//y.png', 'd/./e.png', 'f/../g.png', '/abs/h.png', 'dir/', '.hidden.png', '..x.png'];
  const remote = ['https://img.test/a.png', 's3://bucket/k.png', 'c:odd.png'];
  const lines: string[] = ['\uFEFF{"id":"bom","path":"bom.png"}', '# comment', '', '   '];
  for (const [i, ref] of [...refs, ...remote].entries()) lines.push(JSON.stringify({ id: `r${i}`, path: ref }));
  lines.push(
    '{"id":"esc\\"aped","path":"q.png"}',
    '{"id":"bs","path":"back\\\\slash.png"}',
    '{"id":"雪","path":"snow/雪.png"}',
    '  {"id":"sp","path":"sp.png"}  ',
  );
  lines.push('{"path":"no-id.png"}', '{"id":7,"url":"https://img.test/7.png"}', '{"id":"crlf","path":"crlf.png"}\r');
  // Enough lines that some cross a 1 MiB read, and a last line without a newline.
  for (let i = 0; i < 40_000; i++) lines.push(JSON.stringify({ id: `n${i}`, path: `png/${i % 7}.png` }));
  lines.push('{"id":"last","path":"last.png"}');
  const file = path.join(dir, 'm.jsonl');
  await fs.writeFile(file, lines.join('\n'));
  const expected = lines.flatMap((l) => {
    const t = l.trim();
    if (t === '' || t.startsWith('#')) return [];
    const rec = JSON.parse(t) as { id?: string | number; path?: string; url?: string };
    const ref = (rec.path ?? rec.url)!;
    return [{ id: rec.id === undefined ? ref : String(rec.id), source: /^(https?|s3):\/\//.test(ref) ? ref : path.resolve(dir, ref) }];
  });
  assert.deepEqual(await collect(file), expected);
  assert.equal((await countDataset(await openDataset(file))).total, expected.length);
  const txt = path.join(dir, 'm.txt');
  await fs.writeFile(txt, [...refs, ...remote, '  spaced.png  ', 'cr.png\r', 'lone.png\rcr2.png'].join('\n'));
  const txtIds = [...refs, ...remote, 'spaced.png', 'cr.png', 'lone.png', 'cr2.png'];
  const want = txtIds.map((id) => ({ id, source: /^(https?|s3):\/\//.test(id) ? id : path.resolve(dir, id) }));
  assert.deepEqual(await collect(txt), want);
});
