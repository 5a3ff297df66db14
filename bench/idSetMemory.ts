/**
 * `node --expose-gc --import tsx bench/idSetMemory.ts idset|set [count]`: the memory `count` (default
 * 1M) distinct 32-byte ids cost in coordinator/io/idSet.ts's IdSet or in a Set<string>, as the heap
 * and array buffers grow between two full collections. Each id is a 32-character hex string made
 * by JSON.parse, as --resume gets it from a row; each kind runs in a process of its own. Prints JSON.
 */
import { createHash } from 'node:crypto';
import { IdSet } from '../coordinator/io/idSet.ts';

const kind = process.argv[2];
const count = Number(process.argv[3] ?? 1_000_000);
if (kind !== 'idset' && kind !== 'set') throw new Error('usage: idSetMemory.ts idset|set [count]');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function usage(): { heapUsed: number; arrayBuffers: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

const id = (i: number): string => JSON.parse(`"${createHash('md5').update(String(i)).digest('hex')}"`) as string;
const before = usage();
const set = kind === 'idset' ? new IdSet() : new Set<string>();
for (let i = 0; i < count; i++) set.add(id(i));
const after = usage();
if (set.size !== count) throw new Error(`${set.size} ids for ${count}`);
const heap = after.heapUsed - before.heapUsed;
const buffers = after.arrayBuffers - before.arrayBuffers;
process.stdout.write(`${JSON.stringify({ kind, count, idBytes: 32, heapUsed: heap, arrayBuffers: buffers, bytes: heap + buffers })}\n`);
