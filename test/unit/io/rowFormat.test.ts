import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { errorRow, type OutputRow } from '../../../coordinator/io/outputRow.ts';
import { formatRows, readWrittenRows } from '../../../coordinator/io/rowFormat.ts';

const ids = ['a.png', 'dir/café.png', 'q"uote.png', 'back\\slash.png', 'new\nline.png', 'x","error":null}', '雪.jpg', '\u0001ctl'];

test('reading a JSON Lines output back finds every id exactly, escaped or not, and stops at the torn last line', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-rows-'));
  const file = path.join(dir, 'o.jsonl');
  const rows: OutputRow[] = ids.map((id) => ({ id, class: 1, score: 0.5, error: null }) as OutputRow);
  rows.push(errorRow('bad.png', { code: 'CORRUPT_IMAGE', message: 'bad.png: truncated' }));
  // A row of another shape (the error not last) is read whole, as JSON.
  const text = `${formatRows(rows, 'jsonl', [])}{"id":"other.png","error":null,"class":2}\n`;
  await fs.writeFile(file, `${text}{"id":"torn.png","cla`);
  const written = await readWrittenRows(file, 'jsonl');
  for (const id of [...ids, 'bad.png', 'other.png']) assert.ok(written.ids.has(id), `missing ${JSON.stringify(id)}`);
  assert.equal(written.ids.size, ids.length + 2);
  assert.equal(written.ids.has('torn.png'), false);
  assert.equal(written.ids.has('x'), false, 'an id holding an escaped quote is not cut at it');
  assert.equal(written.errors, 1);
  assert.equal(written.intactBytes, Buffer.byteLength(text));
  assert.equal(written.torn, true);
  await fs.rm(dir, { recursive: true });
});
