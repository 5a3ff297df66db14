/**
 * An actor's declared columns: declarations parsed (a bad one named), rows checked against them
 * (what the tab checks before sending and the coordinator when a row arrives), and rows as a tab
 * sends them (typed arrays as arrays, bigints as numbers).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRow, parseOutputs, toWireRow, type Column } from '../../../shared/columns.ts';

const columns = (d: unknown): Column[] => {
  const p = parseOutputs(d);
  if (!p.ok) throw new Error(p.error);
  return p.columns;
};

test('a declaration of scalars, vectors, JSON and top-k parses in order', () => {
  const c = columns({ embedding: 'float32[512]', norm: 'float64', n: 'int64', ok: 'bool', name: 'string', meta: 'json', topk: 'topk' });
  assert.deepEqual(
    c.map((x) => [x.name, x.spec.kind]),
    [
      ['embedding', 'vector'],
      ['norm', 'scalar'],
      ['n', 'scalar'],
      ['ok', 'scalar'],
      ['name', 'scalar'],
      ['meta', 'scalar'],
      ['topk', 'scalar'],
    ],
  );
});

test('a bad declaration is named: an unknown type, a reserved or bad name, a zero-length vector, no columns', () => {
  const error = (d: unknown) => {
    const p = parseOutputs(d);
    return p.ok ? '' : p.error;
  };
  assert.match(error({ x: 'float16' }), /column x: unknown type "float16"/);
  assert.match(error({ id: 'string' }), /column "id": the name is tabpool's own/);
  assert.match(error({ '1x': 'int32' }), /column "1x": a name is letters/);
  assert.match(error({ v: 'float32[0]' }), /column v: vector length 0/);
  assert.match(error({}), /declares no column/);
  assert.match(error(['float32']), /outputs must be an object/);
});

test('rows are checked column by column: missing, of another type, not finite, the wrong length, undeclared', () => {
  const c = columns({ v: 'float32[3]', score: 'float64', n: 'int32' });
  const good = { v: [1, 2, 3], score: 0.5, n: 2 };
  assert.equal(checkRow(c, good), null);
  assert.match(checkRow(c, { ...good, score: undefined })!, /column score: expected a number \(float64\)/);
  assert.match(checkRow(c, { v: [1, 2, 3], n: 2 })!, /column score is missing/);
  assert.match(checkRow(c, { ...good, score: null })!, /column score: expected a number/);
  assert.match(checkRow(c, { ...good, v: [1, 2] })!, /column v: expected 3 values, got 2/);
  assert.match(checkRow(c, { ...good, n: 2.5 })!, /column n: expected an int32, got 2\.5/);
  assert.match(checkRow(c, { ...good, extra: 1 })!, /column "extra" is not declared/);
  assert.match(checkRow(columns({ k: 'topk' }), { k: [{ class: -1, label: 'x', score: 0.5 }] })!, /\[0\]\.class: expected a class index/);
  assert.match(checkRow(columns({ k: 'topk' }), { k: [{ class: 1, label: 'x', score: 1.5 }] })!, /\[0\]\.score: expected a probability/);
});

test("a tab sends typed arrays as arrays and safe bigints as numbers; a NaN is the actor's error, named", () => {
  const c = columns({ v: 'float32[2]', n: 'int64' });
  assert.deepEqual(toWireRow(c, { v: new Float32Array([0.5, 1]), n: 7n }), { row: { v: [0.5, 1], n: 7 } });
  assert.deepEqual(toWireRow(c, { v: [NaN, 1], n: 1 }), { error: 'column v: [0]: expected a finite float32, got NaN' });
  assert.match((toWireRow(c, { v: [1, 2], n: 1, other: 3 }) as { error: string }).error, /"other" is not declared in outputs/);
});
