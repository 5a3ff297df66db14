import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { countDataset, openDataset } from '../../../coordinator/io/dataset.ts';

async function tmpdir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-ds-'));
}

async function collect(target: string): Promise<{ id: string; source: string }[]> {
  const out = [];
  for await (const item of (await openDataset(target)).items()) out.push(item);
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

test('a manifest reads the same whatever its line endings, escapes, spacing and chunk boundaries', async () => {
  const dir = await tmpdir();
  const lines = [
    '{"id":"plain","path":"a/b.png"}',
    '{ "id" : "spaced" , "path" : "c.png" }',
    '{"id":"esc\\"aped","path":"d\\u00e9.png"}',
    '{"id":7,"path":"e.png"}',
    '{"path":"./x/../f.png","id":"order"}',
    '{"id":"dots","path":"g/./h//i.png"}',
    '{"id":"up","path":"../j.png"}',
    '{"id":"abs","path":"/srv/k.png"}',
    '{"id":"web","path":"https://example.com/l.png"}',
  ];
  const want = [
    ['plain', path.join(dir, 'a/b.png')],
    ['spaced', path.join(dir, 'c.png')],
    ['esc"aped', path.join(dir, 'dé.png')],
    ['7', path.join(dir, 'e.png')],
    ['order', path.join(dir, 'f.png')],
    ['dots', path.join(dir, 'g/h/i.png')],
    ['up', path.resolve(dir, '../j.png')],
    ['abs', '/srv/k.png'],
    ['web', 'https://example.com/l.png'],
  ];
  const got = async (text: string) => {
    await fs.writeFile(path.join(dir, 'm.jsonl'), text);
    return (await collect(path.join(dir, 'm.jsonl'))).map((i) => [i.id, i.source]);
  };
  assert.deepEqual(await got(lines.join('\n') + '\n'), want);
  assert.deepEqual(await got(lines.join('\r\n')), want, 'CRLF, no final newline');
  assert.deepEqual(await got(lines.join('\r')), want, 'a lone CR ends a line, as readline has it');
  // Lines across the reader's 1 MiB chunks: 30,000 lines of ~40 bytes, every one read once, in order.
  const many = Array.from({ length: 30_000 }, (_, i) => `{"id":"n${i}","path":"p/${i}.png"}`);
  const read = await got(many.join('\n'));
  assert.equal(read.length, many.length);
  assert.ok(read.every(([id, source], i) => id === `n${i}` && source === path.join(dir, `p/${i}.png`)));
  assert.equal((await countDataset(await openDataset(path.join(dir, 'm.jsonl')))).total, 30_000);
});

test('a bad line deep in a manifest names its line number', async () => {
  const dir = await tmpdir();
  const lines = Array.from({ length: 50_000 }, (_, i) => `{"id":"n${i}","path":"p.png"}`);
  lines[41_234] = '{"id":"n41234","path":';
  await fs.writeFile(path.join(dir, 'm.jsonl'), lines.join('\r\n'));
  await assert.rejects(
    collect(path.join(dir, 'm.jsonl')),
    (e: Error & { code?: string }) => e.code === 'BAD_MANIFEST' && /m\.jsonl:41235 is not JSON/.test(e.message),
  );
});
