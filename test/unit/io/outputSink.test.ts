import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { errorRow, type OutputRow } from '../../../coordinator/io/outputRow.ts';
import { classifierColumns, predictionRow } from '../../support/classifierRows.ts';
import { OutputSink } from '../../../coordinator/io/outputSink.ts';
import { IMAGENET_LABELS } from '../../../shared/imagenetLabels.ts';

async function tmpfile(name: string): Promise<string> {
  return path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-out-')), name);
}

const pred = (id: string) =>
  predictionRow(
    id,
    [
      { class: 207, score: 0.8 },
      { class: 1, score: 0.1 },
    ],
    IMAGENET_LABELS,
  );

test('writes one JSON line per row, predictions and errors alike', async () => {
  const out = await tmpfile('o.jsonl');
  const sink = await OutputSink.open(out, 'jsonl', { resume: false, overwrite: false, columns: classifierColumns() });
  await sink.write([pred('a.png'), errorRow('b.png', { code: 'CORRUPT_IMAGE', message: 'b.png: truncated' })]);
  await sink.close();
  const rows = (await fs.readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(rows[0], {
    id: 'a.png',
    class: 207,
    label: 'golden retriever',
    score: 0.8,
    topk: [
      { class: 207, label: 'golden retriever', score: 0.8 },
      { class: 1, label: 'goldfish', score: 0.1 },
    ],
    error: null,
  });
  assert.deepEqual(rows[1], { id: 'b.png', error: { code: 'CORRUPT_IMAGE', message: 'b.png: truncated' } });
  assert.equal('class' in rows[1], false);
});

test('writes CSV with a header and quotes ids that need it', async () => {
  const out = await tmpfile('o.csv');
  const sink = await OutputSink.open(out, 'csv', { resume: false, overwrite: false, columns: classifierColumns() });
  await sink.write([pred('x,"y".png'), errorRow('z.png', { code: 'NOT_AN_IMAGE', message: 'z' })]);
  await sink.close();
  const lines = (await fs.readFile(out, 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'id,class,label,score,topk,error_code,error_message');
  assert.match(lines[1]!, /^"x,""y"".png",207,golden retriever,0.8,/);
  assert.equal(lines[2], 'z.png,,,,,NOT_AN_IMAGE,z');
});

test('refuses to replace an existing output unless told to resume or overwrite', async () => {
  const out = await tmpfile('o.jsonl');
  await fs.writeFile(out, '{"id":"a","error":null}\n');
  await assert.rejects(
    OutputSink.open(out, 'jsonl', { resume: false, overwrite: false, columns: classifierColumns() }),
    /--resume|--overwrite/,
  );
});

test('resume skips ids already written and cuts a torn last line', async () => {
  const out = await tmpfile('o.jsonl');
  await fs.writeFile(out, `${JSON.stringify(pred('a'))}\n${JSON.stringify(pred('b'))}\n{"id":"c","cla`);
  const sink = await OutputSink.open(out, 'jsonl', { resume: true, overwrite: false, columns: classifierColumns() });
  assert.deepEqual([...sink.written].sort(), ['a', 'b']);
  assert.equal(sink.repairedTornLine, true);
  await sink.write([pred('c')]);
  await sink.close();
  const ids = (await fs.readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).id);
  assert.deepEqual(ids, ['a', 'b', 'c']);
});

test('resume counts the error rows already written, so a resumed job still exits 3 for them', async () => {
  for (const format of ['jsonl', 'csv'] as const) {
    const out = await tmpfile(`o.${format}`);
    const first = await OutputSink.open(out, format, { resume: false, overwrite: false, columns: classifierColumns() });
    await first.write([pred('a'), errorRow('b', { code: 'CORRUPT_IMAGE', message: 'b: bad, really' })]);
    await first.close();
    const again = await OutputSink.open(out, format, { resume: true, overwrite: false, columns: classifierColumns() });
    assert.deepEqual([...again.written].sort(), ['a', 'b']);
    assert.equal(again.writtenErrors, 1, format);
    await again.close();
  }
});

/** Ids a CSV must quote: a resume has to read each back whole. */
const AWKWARD_IDS = [
  'plain.png',
  'comma,in.png',
  'quote"in.png',
  'newline\nin.png',
  'crlf\r\nin.png',
  'tab\tin.png',
  'back\\slash.png',
  'ünïcode 画像.png',
  ' spaced .png',
];

test('CSV --resume keeps every complete record, whatever the ids hold', async () => {
  const out = await tmpfile('o.csv');
  const first = await OutputSink.open(out, 'csv', { resume: false, overwrite: false, columns: classifierColumns() });
  await first.write(
    AWKWARD_IDS.map((id, i) => (i % 3 === 2 ? errorRow(id, { code: 'CORRUPT_IMAGE', message: `${id}: bad, "really"\nbad` }) : pred(id))),
  );
  await first.close();
  const before = await fs.readFile(out);
  const again = await OutputSink.open(out, 'csv', { resume: true, overwrite: false, columns: classifierColumns() });
  assert.deepEqual([...again.written].sort(), [...AWKWARD_IDS].sort());
  assert.equal(again.writtenErrors, 3);
  assert.equal(again.repairedTornLine, false);
  await again.close();
  assert.deepEqual(await fs.readFile(out), before, 'nothing was cut');
});

test('CSV --resume cuts a record a crash left inside an open quote, and keeps the rest', async () => {
  const out = await tmpfile('o.csv');
  const first = await OutputSink.open(out, 'csv', { resume: false, overwrite: false, columns: classifierColumns() });
  await first.write(AWKWARD_IDS.map((id) => pred(id)));
  await first.close();
  await fs.appendFile(out, '"torn\nid.png",207,golden ret');
  const again = await OutputSink.open(out, 'csv', { resume: true, overwrite: false, columns: classifierColumns() });
  assert.deepEqual([...again.written].sort(), [...AWKWARD_IDS].sort());
  assert.equal(again.repairedTornLine, true);
  await again.write([pred('torn\nid.png')]);
  await again.close();
  const third = await OutputSink.open(out, 'csv', { resume: true, overwrite: false, columns: classifierColumns() });
  assert.deepEqual([...third.written].sort(), [...AWKWARD_IDS, 'torn\nid.png'].sort());
  assert.equal(third.repairedTornLine, false);
  await third.close();
});

test('CSV with --logits writes a logits column (a JSON array), and --resume refuses a file written without it', async () => {
  const out = await tmpfile('o.csv');
  const sink = await OutputSink.open(out, 'csv', { resume: false, overwrite: false, columns: classifierColumns(3) });
  await sink.write([{ ...pred('a'), logits: [0.5, -1.25, 3] } as OutputRow, errorRow('b', { code: 'CORRUPT_IMAGE', message: 'b: bad' })]);
  await sink.close();
  const [header, a, b] = (await fs.readFile(out, 'utf8')).trim().split('\n');
  assert.equal(header, 'id,class,label,score,topk,logits,error_code,error_message');
  assert.match(a!, /,"\[0\.5,-1\.25,3\]",,$/);
  assert.match(b!, /,,CORRUPT_IMAGE,b: bad$/);
  const again = await OutputSink.open(out, 'csv', { resume: true, overwrite: false, columns: classifierColumns(3) });
  assert.deepEqual([...again.written].sort(), ['a', 'b']);
  await again.close();
  await assert.rejects(
    OutputSink.open(out, 'csv', { resume: true, overwrite: false, columns: classifierColumns() }),
    /has the columns .*logits.*resume with the flags of the first run/,
  );
});
