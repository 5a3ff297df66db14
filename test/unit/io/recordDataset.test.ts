/**
 * Records datasets (an actor with `static inputs = 'record'`): the rows of a JSON Lines, CSV or
 * Parquet file become plain objects with their ids, a bad row becomes that row's BAD_RECORD and
 * nothing else, and a record is read again by its source (a check, a resumed unit, a barred
 * actor's inputs) in any order.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { openRecords, readRecordAt } from '../../../coordinator/io/recordDataset.ts';
import type { DatasetItem } from '../../../coordinator/io/dataset.ts';

let tmp: string;
const decoder = new TextDecoder();
const ROWS = 300;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-records-'));
});
after(async () => fs.rm(tmp, { recursive: true, force: true }));

async function all(file: string): Promise<DatasetItem[]> {
  const out: DatasetItem[] = [];
  for await (const it of (await openRecords(file)).items()) out.push(it);
  return out;
}

function recordOf(it: { bytes?: Uint8Array } | { error: unknown }): Record<string, unknown> {
  assert.ok('bytes' in it && it.bytes, JSON.stringify(it));
  return JSON.parse(decoder.decode(it.bytes)) as Record<string, unknown>;
}

test('JSON Lines: ids from the id field or the row number; a line that is not JSON is its BAD_RECORD; blank lines skipped', async () => {
  const file = path.join(tmp, 'r.jsonl');
  await fs.writeFile(file, '{"id":"a","x":1}\n\n{"x":2}\nnot json\n[1,2]\n{"id":7,"x":[0.5,1.5]}\n');
  const items = await all(file);
  assert.deepEqual(
    items.map((i) => i.id),
    ['a', '1', '2', '3', '7'],
  );
  assert.deepEqual(recordOf(items[1]!), { x: 2 });
  assert.equal(items[2]!.error?.code, 'BAD_RECORD');
  assert.match(items[2]!.error!.message, /r\.jsonl:4 is not JSON/);
  assert.match(items[3]!.error!.message, /r\.jsonl:5: a record is a JSON object .* got an array/);
  assert.deepEqual(recordOf(items[4]!), { id: 7, x: [0.5, 1.5] });
});

test('CSV: unquoted numbers and booleans typed, quoted cells and ids kept as written', async () => {
  const file = path.join(tmp, 'r.csv');
  await fs.writeFile(file, 'id,score,ok,name\n007,0.25,true,"a, b"\nq2,3,false,"12"\n');
  const items = await all(file);
  assert.deepEqual(
    items.map((i) => recordOf(i)),
    [
      { id: '007', score: 0.25, ok: true, name: 'a, b' },
      { id: 'q2', score: 3, ok: false, name: '12' },
    ],
  );
});

for (const ext of ['jsonl', 'csv', 'parquet'] as const) {
  test(`${ext}: a record is read again by its source, in order, backwards and past the end`, async () => {
    const file = path.join(tmp, `many.${ext}`);
    const ids = Array.from({ length: ROWS }, (_, i) => `r${i}`);
    const values = ids.map((_, i) => i * 0.5);
    if (ext === 'jsonl') await fs.writeFile(file, ids.map((id, i) => JSON.stringify({ id, v: values[i] })).join('\n') + '\n');
    else if (ext === 'csv') await fs.writeFile(file, `id,v\n${ids.map((id, i) => `${id},${values[i]}`).join('\n')}\n`);
    else {
      const buffer = parquetWriteBuffer({
        columnData: [
          { name: 'id', data: ids, type: 'STRING' },
          { name: 'v', data: values, type: 'DOUBLE' },
        ],
      });
      await fs.writeFile(file, new Uint8Array(buffer));
    }
    const items = await all(file);
    assert.equal(items.length, ROWS);
    const order = [0, 1, 2, 150, 151, 299, 5, 4, 200, 0];
    const again = await Promise.all(order.map((row) => readRecordAt(items[row]!.source)));
    assert.deepEqual(
      again.map((r) => recordOf(r)),
      order.map((row) => ({ id: ids[row], v: values[row] })),
    );
    const gone = await readRecordAt(`record:${file}#${ROWS}`);
    assert.ok('error' in gone && gone.error.code === 'UNREADABLE_FILE' && /has no row 300/.test(gone.error.message), JSON.stringify(gone));
  });
}
