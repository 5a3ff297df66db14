/**
 * What travels on a job's subjects: a unit keeps its inputs (inline bytes, URLs, blobs) through
 * encode and decode; anything malformed, or signed under another secret, is refused with a reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeResult, decodeUnit, encodeResult, encodeUnit, sign, signedBy } from '../../../coordinator/queue/envelope.ts';

const SECRET = 'a'.repeat(64);

test('a unit keeps its inline bytes, URLs and blob names through encode and decode', () => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array([9, 8]);
  const body = encodeUnit(
    {
      v: 1,
      unit: 7,
      ids: ['a', 'u', 'big', 'b'],
      items: [{ byteLength: 3 }, { url: 'https://x.test/u.png' }, { blob: 'unit-7-2', byteLength: 5_000_000 }, { byteLength: 2 }],
    },
    [a, b],
  );
  const d = decodeUnit(body);
  assert.ok(d.ok, !d.ok ? d.error : '');
  assert.equal(d.value.header.unit, 7);
  assert.deepEqual(d.value.items, [{ bytes: a }, { url: 'https://x.test/u.png' }, { blob: 'unit-7-2' }, { bytes: b }]);
});

test('a truncated unit, a lying length and a header that is not JSON are refused with a reason', () => {
  const body = encodeUnit({ v: 1, unit: 1, ids: ['a'], items: [{ byteLength: 4 }] }, [new Uint8Array(4)]);
  const truncated = decodeUnit(body.subarray(0, body.byteLength - 1));
  assert.ok(!truncated.ok && /item lengths add up/.test(truncated.error), JSON.stringify(truncated));
  const lying = body.slice();
  new DataView(lying.buffer).setUint32(0, 1_000_000, true);
  const l = decodeUnit(lying);
  assert.ok(!l.ok && /header claims/.test(l.error), JSON.stringify(l));
  const junk = decodeUnit(new TextEncoder().encode('\u0004\u0000\u0000\u0000{{{{'));
  assert.ok(!junk.ok);
  const mismatched = decodeUnit(encodeUnit({ v: 1, unit: 1, ids: ['a', 'b'], items: [{ byteLength: 0 }] } as never, []));
  assert.ok(!mismatched.ok && /2 ids for 1 items/.test(mismatched.error), JSON.stringify(mismatched));
});

test('a result with an answer outside the schema is refused', () => {
  const good = {
    v: 1 as const,
    unit: 3,
    gateway: 'gw-1',
    answers: [{ id: 'a', actor: 'gw-1/actor-1', host: 'h', ep: 'wasm' as const, result: { ok: true as const, row: { class: 1 } } }],
  };
  assert.ok(decodeResult(encodeResult(good)).ok);
  const bad = decodeResult(
    new TextEncoder().encode(JSON.stringify({ ...good, answers: [{ ...good.answers[0], result: { ok: true, row: 'not a row' } }] })),
  );
  assert.ok(!bad.ok);
  assert.ok(!decodeResult(new Uint8Array([0xff, 0xfe])).ok, 'bytes that are not UTF-8');
});

test('only a signature made with the job secret over the same bytes is accepted', () => {
  const data = new TextEncoder().encode('unit');
  assert.ok(signedBy(SECRET, data, sign(SECRET, data)));
  assert.ok(!signedBy(SECRET, data, sign('b'.repeat(64), data)), 'another secret');
  assert.ok(!signedBy(SECRET, new TextEncoder().encode('unit!'), sign(SECRET, data)), 'other bytes');
  assert.ok(!signedBy(SECRET, data, undefined), 'no signature');
  assert.ok(!signedBy(SECRET, data, 'zz'), 'not hex');
});
