import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOutputs, type Column } from '../../../shared/columns.ts';
import { rowDisagreement } from '../../../coordinator/verify/columnAgreement.ts';

const columns = (
  parseOutputs({ n: 'int32', ok: 'bool', name: 'string', x: 'float32', v: 'float32[4]', meta: 'json' }) as { columns: Column[] }
).columns;
const ref = { n: 3, ok: true, name: 'a', x: 0.5, v: [1, 2, 3, 4], meta: { score: 0.25, tags: ['a'] } };

test('rows agree per declared column: exact ints, bools and strings; floats and vectors within the stated tolerance', () => {
  assert.equal(rowDisagreement(columns, { ...ref, x: 0.5 + 5e-5, v: [1 + 1e-4, 2, 3, 4 - 1e-4] }, ref), null);
  assert.match(rowDisagreement(columns, { ...ref, n: 4 }, ref)!, /^n is 4, the reference's 3/);
  assert.match(rowDisagreement(columns, { ...ref, name: 'b' }, ref)!, /^name is "b"/);
  assert.match(rowDisagreement(columns, { ...ref, x: 0.51 }, ref)!, /^x is 0\.51, the reference's 0\.5/);
  assert.match(rowDisagreement(columns, { ...ref, v: [1, 2, 3, 4.1] }, ref)!, /^v is 1\.00e-1 from the reference's \(L2\)/);
  assert.match(rowDisagreement(columns, { ...ref, meta: { score: 0.3, tags: ['a'] } }, ref)!, /^meta differs/);
  assert.equal(rowDisagreement(columns, { ...ref, meta: { tags: ['a'], score: 0.25 + 1e-5 } }, ref), null);
});
