/**
 * An independent Parquet reader for the tests: parquet-wasm (Rust arrow-rs) reads each part, and
 * its Arrow record batches are decoded from wasm memory through the Arrow C data interface (no
 * apache-arrow here). The sink writes with hyparquet-writer, which shares no code with this.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { readParquet, wasmMemory } from 'parquet-wasm';

function cString(mem: DataView, ptr: number): string {
  return new TextDecoder().decode(new Uint8Array(mem.buffer, ptr, new Uint8Array(mem.buffer, ptr).indexOf(0)));
}

/** The ArrowSchema children of an ArrowSchema (or ArrowArray children at +44 of an ArrowArray). */
function children(mem: DataView, struct: number, count: number, at: number): number[] {
  return Array.from({ length: count }, (_, i) => mem.getUint32(mem.getUint32(struct + at, true) + 4 * i, true));
}

/** One Arrow array exported through the C data interface into wasm32 memory (pointers 4 bytes, int64 fields 8). */
function decodeArrow(mem: DataView, schema: number, array: number): unknown[] {
  const format = cString(mem, mem.getUint32(schema, true));
  const length = Number(mem.getBigInt64(array, true));
  const offset = Number(mem.getBigInt64(array + 16, true));
  const n = Number(mem.getBigInt64(schema + 24, true));
  const schemas = children(mem, schema, n, 32);
  const arrays = children(mem, array, n, 44);
  const kids = schemas.map((s, i) => ({ name: cString(mem, mem.getUint32(s + 4, true)), values: decodeArrow(mem, s, arrays[i]!) }));
  const buffer = (i: number) => mem.getUint32(mem.getUint32(array + 40, true) + 4 * i, true);
  const validity = buffer(0);
  const valid = (i: number) => validity === 0 || ((mem.getUint8(validity + ((offset + i) >> 3)) >> ((offset + i) & 7)) & 1) === 1;
  const at = (i: number) => mem.getInt32(buffer(1) + 4 * (offset + i), true);
  const out: unknown[] = [];
  for (let i = 0; i < length; i++) {
    if (!valid(i)) out.push(null);
    else if (format === 'u') out.push(new TextDecoder().decode(new Uint8Array(mem.buffer, buffer(2) + at(i), at(i + 1) - at(i))));
    else if (format === 'i') out.push(at(i));
    else if (format === 'g') out.push(mem.getFloat64(buffer(1) + 8 * (offset + i), true));
    else if (format === 'f') out.push(mem.getFloat32(buffer(1) + 4 * (offset + i), true));
    else if (format === 'l') out.push(Number(mem.getBigInt64(buffer(1) + 8 * (offset + i), true)));
    else if (format === 'b') out.push(((mem.getUint8(buffer(1) + ((offset + i) >> 3)) >> ((offset + i) & 7)) & 1) === 1);
    else if (format === '+l') out.push(kids[0]!.values.slice(at(i), at(i + 1)));
    else if (format === '+s') out.push(Object.fromEntries(kids.map((c) => [c.name, c.values[offset + i]])));
    else throw new Error(`Arrow format ${format} is not one the sink should produce`);
  }
  return out;
}

/** An Arrow type as parquet-wasm maps the Parquet schema, e.g. `+l<element:+s<class:i,score:g>>`; `?` marks a nullable field. */
export function describeArrow(mem: DataView, schema: number): string {
  const format = cString(mem, mem.getUint32(schema, true));
  const fields = children(mem, schema, Number(mem.getBigInt64(schema + 24, true)), 32).map((k) => {
    const nullable = (mem.getBigInt64(k + 16, true) & 2n) !== 0n ? '?' : '';
    return `${cString(mem, mem.getUint32(k + 4, true))}${nullable}:${describeArrow(mem, k)}`;
  });
  return fields.length > 0 ? `${format}<${fields.join(',')}>` : format;
}

/** Every row of one part file, read by parquet-wasm. */
export async function readPart(file: string): Promise<Record<string, unknown>[]> {
  const table = readParquet(new Uint8Array(await fs.readFile(file)));
  const rows: Record<string, unknown>[] = [];
  for (const batch of table.recordBatches()) {
    const ffi = batch.intoFFI();
    rows.push(...(decodeArrow(new DataView(wasmMemory().buffer), ffi.schemaAddr(), ffi.arrayAddr()) as Record<string, unknown>[]));
    ffi.free();
  }
  table.free();
  return rows;
}

export async function committedParts(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => /^part-\d+-.+\.parquet$/.test(n)).sort();
}

/** The whole dataset in part order, read by parquet-wasm. */
export async function readDataset(dir: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const name of await committedParts(dir)) rows.push(...(await readPart(path.join(dir, name))));
  return rows;
}
