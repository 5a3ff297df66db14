import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { errorRow, type OutputRow } from '../../../coordinator/io/outputRow.ts';
import { classifierColumns, predictionRow } from '../../support/classifierRows.ts';
import { OutputSink } from '../../../coordinator/io/outputSink.ts';
import { ParquetSink, type ParquetSinkOptions, type ParquetSinkTuning } from '../../../coordinator/io/parquetSink.ts';
import { TabpoolError } from '../../../shared/errors.ts';
import { IMAGENET_LABELS } from '../../../shared/imagenetLabels.ts';
import { readParquet, wasmMemory } from 'parquet-wasm';
import { committedParts, describeArrow, readDataset, readPart } from '../../support/parquetReader.ts';

// The sink writes with hyparquet-writer; every read here goes through parquet-wasm (Rust arrow-rs),
// a reader that shares no code with it.

async function tmpdir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-parquet-'));
}

const FRESH: ParquetSinkOptions = { resume: false, overwrite: false, columns: classifierColumns() };
const RESUME: ParquetSinkOptions = { ...FRESH, resume: true };
/** Long enough that no part is cut by time while a test runs; tests that need time cuts pass their own. */
const NO_TIMER = { maxDelayMs: 600_000 };
/** A write that never resolves is a failure, not a hang. */
const LIMIT = { timeout: 20_000 };

const pred = (id: string, logits?: number[]) =>
  predictionRow(
    id,
    [
      { class: 207, score: 0.1 + 0.2 },
      { class: 1, score: 1 / 3 },
      { class: 999, score: 1e-300 },
    ],
    IMAGENET_LABELS,
    logits,
  );
const fail = (id: string) => errorRow(id, { code: 'CORRUPT_IMAGE', message: `${id}: truncated, "really"\nbad` });

/** Ids that break naive text formats, all of which a Parquet string column must keep whole. */
const AWKWARD_IDS = [
  'plain.png',
  'comma,in.png',
  'quote"in.png',
  'newline\nin.png',
  'crlf\r\nin.png',
  'tab\tin.png',
  'back\\slash.png',
  'ünïcode 画像.png',
  '😀 emoji.png',
  ' spaced .png',
  '',
];

/** What the Parquet row must hold for a row of the JSONL output. */
function expectedFromJsonl(row: OutputRow, logits: boolean): Record<string, unknown> {
  const r = row as Record<string, unknown> & OutputRow;
  const ok = row.error === null;
  const expected: Record<string, unknown> = {
    id: row.id,
    class: ok ? r.class : null,
    label: ok ? r.label : null,
    score: ok ? r.score : null,
    topk: ok ? (r.topk as { class: number; score: number }[]).map((e) => ({ class: e.class, score: e.score })) : null,
  };
  if (logits) expected.logits = ok ? (r.logits ?? null) : null;
  expected.error_code = ok ? null : (row.error as { code: string }).code;
  expected.error_message = ok ? null : (row.error as { message: string }).message;
  return expected;
}

/**
 * Opens a sink that is closed after the test whatever happens, so a failed assertion cannot leave a part
 * timer holding the process open.
 */
async function openSink(t: TestContext, dir: string, opts: ParquetSinkOptions, tuning: ParquetSinkTuning): Promise<ParquetSink> {
  const sink = await ParquetSink.open(dir, opts, tuning);
  t.after(() => sink.close().catch(() => undefined));
  return sink;
}

async function writeDataset(dir: string, rows: OutputRow[], rowsPerPart: number, opts: ParquetSinkOptions = FRESH): Promise<void> {
  const sink = await ParquetSink.open(dir, opts, { rowsPerPart, ...NO_TIMER });
  const written = sink.write(rows);
  await sink.close();
  await written;
}

test('an independent reader gets back exactly the values of the JSONL output of the same rows', LIMIT, async () => {
  for (const logits of [false, true]) {
    const rows = AWKWARD_IDS.map((id, i) => (i % 3 === 1 ? fail(id) : pred(id, logits ? [-1.5, 0, 1e308, 5e-324, 0.1 + 0.2] : undefined)));
    const dir = path.join(await tmpdir(), 'preds.parquet');
    const jsonl = path.join(path.dirname(dir), 'preds.jsonl');
    const columns = classifierColumns(logits ? 5 : null);
    const text = await OutputSink.open(jsonl, 'jsonl', { resume: false, overwrite: false, columns });
    await text.write(rows);
    await text.close();
    await writeDataset(dir, rows, 4, { ...FRESH, columns });
    const fromJsonl = (await fs.readFile(jsonl, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => expectedFromJsonl(JSON.parse(l) as OutputRow, logits));
    assert.deepEqual(await readDataset(dir), fromJsonl, `logits ${logits}`);
  }
});

test('columns have the documented types, topk a list of struct{class, score} in the standard LIST layout', LIMIT, async () => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  await writeDataset(dir, [pred('a', [1, 2]), fail('b')], 10, { ...FRESH, columns: classifierColumns(2) });
  const table = readParquet(new Uint8Array(await fs.readFile(path.join(dir, (await committedParts(dir))[0]!))));
  const ffi = table.schema.intoFFI();
  const described = describeArrow(new DataView(wasmMemory().buffer), ffi.addr());
  ffi.free();
  assert.equal(
    described,
    '+s<id:u,class?:i,label?:u,score?:g,topk?:+l<element:+s<class:i,score:g>>,logits?:+l<element:g>,error_code?:u,error_message?:u>',
  );
});

test('commits a part whole every rowsPerPart rows and leaves no temporary file', LIMIT, async (t) => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  const sink = await openSink(t, dir, FRESH, { rowsPerPart: 3, ...NO_TIMER });
  const ids = Array.from({ length: 10 }, (_, i) => `img-${i}.png`);
  // Nine rows fill three parts, so this resolves without a flush or a timer.
  await sink.write(ids.slice(0, 9).map((id) => pred(id)));
  assert.equal((await committedParts(dir)).length, 3);
  const last = sink.write([pred(ids[9]!)]);
  await sink.close();
  await last;
  const parts = await committedParts(dir);
  assert.deepEqual(
    parts.map((p) => p.slice(0, 10)),
    ['part-00000', 'part-00001', 'part-00002', 'part-00003'],
  );
  const perPart = await Promise.all(parts.map(async (p) => (await readPart(path.join(dir, p))).map((r) => r.id)));
  assert.deepEqual(perPart, [ids.slice(0, 3), ids.slice(3, 6), ids.slice(6, 9), ids.slice(9)]);
  assert.deepEqual(
    (await fs.readdir(dir)).filter((n) => !parts.includes(n)),
    [],
  );
});

test('a write resolves only once the part holding its rows is committed', LIMIT, async (t) => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  const sink = await openSink(t, dir, FRESH, { rowsPerPart: 3, ...NO_TIMER });
  let settled = false;
  const first = sink.write([pred('a'), pred('b')]).then(() => {
    settled = true;
  });
  // Rows spanning a cut: this write waits for the second part too.
  const second = sink.write([pred('c'), pred('d')]);
  await first;
  assert.deepEqual(
    (await readDataset(dir)).map((r) => r.id),
    ['a', 'b', 'c'],
  );
  assert.equal(await Promise.race([second.then(() => 'resolved'), Promise.resolve('pending')]), 'pending');
  await sink.flushed();
  await second;
  assert.equal(settled, true);
  assert.deepEqual(
    (await readDataset(dir)).map((r) => r.id),
    ['a', 'b', 'c', 'd'],
  );
  await sink.close();
});

test('commits a part maxDelayMs after its first row when no more rows come', LIMIT, async (t) => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  const sink = await openSink(t, dir, FRESH, { rowsPerPart: 1000, maxDelayMs: 1 });
  await sink.write([pred('a'), fail('b')]);
  assert.deepEqual(
    (await readDataset(dir)).map((r) => r.id),
    ['a', 'b'],
  );
  await sink.close();
  assert.equal((await committedParts(dir)).length, 1);
});

test(
  'resume ignores and removes a half-written part, keeps the committed ids, and numbers new parts after the highest',
  LIMIT,
  async (t) => {
    const dir = path.join(await tmpdir(), 'preds.parquet');
    await writeDataset(dir, [pred('a'), fail('b'), pred('c'), pred('d'), fail('e')], 2);
    await fs.writeFile(path.join(dir, '.part-00009-x.parquet.tmp'), 'PAR1 half a part');
    const sink = await openSink(t, dir, RESUME, { rowsPerPart: 2, ...NO_TIMER });
    assert.deepEqual([...sink.written].sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(sink.writtenErrors, 2);
    assert.equal(sink.repairedTornLine, true);
    assert.equal(
      (await fs.readdir(dir)).some((n) => n.endsWith('.tmp')),
      false,
    );
    await writeRest(sink, [pred('f')]);
    const parts = await committedParts(dir);
    assert.deepEqual(
      parts.map((p) => p.slice(0, 10)),
      ['part-00000', 'part-00001', 'part-00002', 'part-00003'],
    );
    assert.deepEqual(
      (await readPart(path.join(dir, parts[3]!))).map((r) => r.id),
      ['f'],
    );
  },
);

async function writeRest(sink: ParquetSink, rows: OutputRow[]): Promise<void> {
  const written = sink.write(rows);
  await sink.close();
  await written;
}

test('refuses an existing dataset without --resume or --overwrite; --overwrite starts afresh', LIMIT, async (t) => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  await writeDataset(dir, [pred('old-1'), pred('old-2'), pred('old-3')], 2);
  await assert.rejects(
    ParquetSink.open(dir, FRESH),
    (err: unknown) => err instanceof TabpoolError && err.code === 'BAD_ARGUMENT' && /--resume.*--overwrite/.test(err.message),
  );
  const sink = await openSink(t, dir, { ...FRESH, overwrite: true }, { rowsPerPart: 2, ...NO_TIMER });
  assert.equal(sink.written.size, 0);
  await writeRest(sink, [pred('new')]);
  assert.deepEqual(
    (await readDataset(dir)).map((r) => r.id),
    ['new'],
  );
  assert.equal((await committedParts(dir)).length, 1);
});

test('refuses a file at the --out path, and never touches a directory holding files it did not write', LIMIT, async () => {
  const base = await tmpdir();
  const file = path.join(base, 'preds.parquet');
  await fs.writeFile(file, 'not a dataset');
  for (const opts of [FRESH, RESUME]) {
    await assert.rejects(ParquetSink.open(file, opts), /is a file.*--overwrite/);
  }
  const mixed = path.join(base, 'mixed');
  await writeDataset(mixed, [pred('a')], 2);
  await fs.writeFile(path.join(mixed, 'notes.txt'), 'mine');
  await assert.rejects(ParquetSink.open(mixed, { ...FRESH, overwrite: true }), /holds notes\.txt/);
  assert.equal((await committedParts(mixed)).length, 1);
});

test('a committed part that cannot be read fails resume with a message naming the file', LIMIT, async () => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  await writeDataset(dir, [pred('a'), pred('b'), pred('c')], 2);
  const damaged = (await committedParts(dir))[1]!;
  const bytes = await fs.readFile(path.join(dir, damaged));
  await fs.writeFile(path.join(dir, damaged), bytes.subarray(0, bytes.length - 20));
  await assert.rejects(
    ParquetSink.open(dir, RESUME),
    (err: unknown) =>
      err instanceof TabpoolError && err.code === 'BAD_ARGUMENT' && err.message.includes(damaged) && /restore it/.test(err.message),
  );
});

test('resume refuses parts written with other columns (another --logits setting or actor)', LIMIT, async () => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  await writeDataset(dir, [pred('a')], 2);
  await assert.rejects(
    ParquetSink.open(dir, { ...RESUME, columns: classifierColumns(1000) }),
    /resume with the actor and flags of the job that wrote it/,
  );
});

test('a part that cannot be committed rejects every waiting write, and later writes too', LIMIT, async (t) => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  const sink = await openSink(t, dir, FRESH, { rowsPerPart: 2, ...NO_TIMER });
  await fs.rm(dir, { recursive: true });
  const waiting = [sink.write([pred('a')]), sink.write([pred('b'), pred('c')])];
  for (const w of waiting) await assert.rejects(w, (err: unknown) => err instanceof TabpoolError && err.message.includes('--resume'));
  await assert.rejects(sink.write([pred('d')]), /could not be written/);
  await assert.rejects(sink.flushed(), /could not be written/);
});
