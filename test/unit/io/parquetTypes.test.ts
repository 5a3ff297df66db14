/**
 * A user actor's Parquet output as the tools people read it with see it: DuckDB itself
 * (@duckdb/node-api) reads every declared column type as declared, `json` columns as JSON objects
 * (once encoded: `json_type` OBJECT, `->>` finds their fields), and error rows as nulls; the
 * independent reader of the other Parquet tests (parquet-wasm) agrees on the values.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { errorRow, type OutputRow } from '../../../coordinator/io/outputRow.ts';
import { ParquetSink } from '../../../coordinator/io/parquetSink.ts';
import { parseOutputs, type Column } from '../../../shared/columns.ts';
import { readDataset } from '../../support/parquetReader.ts';

const declared = {
  embedding: 'float32[4]',
  score: 'float32',
  exact: 'float64',
  n: 'int32',
  big: 'int64',
  ok: 'bool',
  name: 'string',
  meta: 'json',
  tags: 'json',
  top: 'topk',
} as const;
const columns = (parseOutputs(declared) as { ok: true; columns: Column[] }).columns;

const rows: OutputRow[] = [
  {
    id: 'a',
    embedding: [0.5, -1.25, 3, 0],
    score: 0.75,
    exact: 0.1 + 0.2,
    n: -7,
    big: 2 ** 53 - 1,
    ok: true,
    name: 'ünïcode "quoted"',
    meta: { id: 'x-1', nested: { k: [1, 2] } },
    tags: ['red', 'green'],
    top: [{ class: 3, label: 'three', score: 0.5 }],
    error: null,
  },
  {
    id: 'b',
    embedding: [1, 2, 3, 4],
    score: 1,
    exact: -1e300,
    n: 2 ** 31 - 1,
    big: -(2 ** 53) + 1,
    ok: false,
    name: '',
    meta: { id: 'x-2' },
    tags: [],
    top: [{ class: 0, label: 'zero', score: 1 }],
    error: null,
  },
  errorRow('c', { code: 'ACTOR_ERROR', message: 'call threw' }),
] as OutputRow[];

test('DuckDB reads every declared column type as declared, json as objects, error rows as nulls', async () => {
  const dir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-duck-')), 'out.parquet');
  const sink = await ParquetSink.open(dir, { resume: false, overwrite: false, columns }, { rowsPerPart: 100, maxDelayMs: 600_000 });
  const written = sink.write(rows);
  await sink.close();
  await written;
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    const glob = `${dir.replaceAll("'", "''")}/*.parquet`;
    const types = await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${glob}')`);
    const typeOf = Object.fromEntries(types.getRowObjects().map((r) => [String(r.column_name), String(r.column_type)]));
    assert.deepEqual(
      { ...typeOf, top: typeOf.top?.replace(/\s+/g, ' ') },
      {
        id: 'VARCHAR',
        embedding: 'FLOAT[]',
        score: 'FLOAT',
        exact: 'DOUBLE',
        n: 'INTEGER',
        big: 'BIGINT',
        ok: 'BOOLEAN',
        name: 'VARCHAR',
        meta: 'JSON',
        tags: 'JSON',
        top: 'STRUCT("class" INTEGER, score DOUBLE)[]',
        error_code: 'VARCHAR',
        error_message: 'VARCHAR',
      },
    );
    const got = await c.runAndReadAll(
      `SELECT id, json_type(meta) AS meta_type, meta->>'$.id' AS meta_id, meta->>'$.nested.k[1]' AS deep, json_type(tags) AS tags_type,
         json_array_length(tags) AS tag_count, big, n, ok, name, exact, embedding[2] AS e2, top[1]."class" AS top_class, error_code
       FROM read_parquet('${glob}') ORDER BY id`,
    );
    const r = got.getRowObjectsJson();
    assert.deepEqual(
      r.map((x) => [x.id, x.meta_type, x.meta_id, x.deep, x.tags_type, x.tag_count]),
      [
        ['a', 'OBJECT', 'x-1', '2', 'ARRAY', '2'],
        ['b', 'OBJECT', 'x-2', null, 'ARRAY', '0'],
        ['c', null, null, null, null, null],
      ],
    );
    assert.deepEqual(
      r.map((x) => [x.big, x.n, x.ok, x.name, x.exact, x.e2, x.top_class, x.error_code]),
      [
        [String(2 ** 53 - 1), -7, true, 'ünïcode "quoted"', 0.1 + 0.2, -1.25, 3, null],
        [String(-(2 ** 53) + 1), 2 ** 31 - 1, false, '', -1e300, 2, 0, null],
        [null, null, null, null, null, null, null, 'ACTOR_ERROR'],
      ],
    );
  } finally {
    c.closeSync();
    db.closeSync();
  }
  // The independent reader: the JSON column's bytes are the object's text, once.
  const back = await readDataset(dir);
  const a = back.find((x) => x.id === 'a')!;
  assert.deepEqual(JSON.parse(String(a.meta)), { id: 'x-1', nested: { k: [1, 2] } });
  await fs.rm(path.dirname(dir), { recursive: true, force: true });
});
