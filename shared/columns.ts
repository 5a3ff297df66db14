/**
 * An actor's declared columns, as both sides read them: the declaration parsed and checked (the CLI
 * refuses a bad one before any browser starts), and each row checked against it, in the tab before
 * it is sent (a bad row is the actor's error, retried and isolated) and in the coordinator when it
 * arrives (a bad row there is a lying tab). Rows travel as JSON: vectors as arrays, int64 as
 * numbers (safe integers only: ±2^53).
 */
import type { ColumnType, OutputDeclaration } from './actorApi.ts';

export type ScalarType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'string' | 'json' | 'topk';
export type ElementType = 'float32' | 'float64' | 'int32';

export type ColumnSpec = { kind: 'scalar'; type: ScalarType } | { kind: 'vector'; element: ElementType; length: number };

export interface Column {
  name: string;
  type: ColumnType;
  spec: ColumnSpec;
}

/** Columns a row has whatever the actor: not for an actor to declare. */
export const RESERVED_COLUMNS = new Set(['id', 'error', 'error_code', 'error_message']);
const SCALARS = new Set<string>(['float32', 'float64', 'int32', 'int64', 'bool', 'string', 'json', 'topk']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Longest vector a column may declare, and most columns. */
export const MAX_VECTOR = 1_000_000;
const MAX_COLUMNS = 256;
const MAX_STRING = 1 << 20;

export type ParseColumns = { ok: true; columns: Column[] } | { ok: false; error: string };

/** Parses `static outputs`: what is wrong with it in words, or its columns in order. */
export function parseOutputs(declared: unknown): ParseColumns {
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
    return {
      ok: false,
      error: `outputs must be an object of column name → type, like { embedding: 'float32[512]' }; got ${describe(declared)}`,
    };
  }
  const entries = Object.entries(declared);
  if (entries.length === 0) return { ok: false, error: 'outputs declares no column' };
  if (entries.length > MAX_COLUMNS) return { ok: false, error: `outputs declares ${entries.length} columns, more than ${MAX_COLUMNS}` };
  const columns: Column[] = [];
  for (const [name, type] of entries) {
    if (!NAME.test(name))
      return { ok: false, error: `column ${JSON.stringify(name)}: a name is letters, digits and _, not starting with a digit` };
    if (RESERVED_COLUMNS.has(name))
      return { ok: false, error: `column ${JSON.stringify(name)}: the name is tabpool's own (every row has id and error)` };
    const spec = parseType(type);
    if (typeof spec === 'string') return { ok: false, error: `column ${name}: ${spec}` };
    columns.push({ name, type: type as ColumnType, spec });
  }
  return { ok: true, columns };
}

function parseType(type: unknown): ColumnSpec | string {
  if (typeof type !== 'string') return `a type is a string like 'float32' or 'float32[512]'; got ${describe(type)}`;
  if (SCALARS.has(type)) return { kind: 'scalar', type: type as ScalarType };
  const m = /^(float32|float64|int32)\[(\d+)\]$/.exec(type);
  if (!m)
    return (
      `unknown type ${JSON.stringify(type)}: use float32, float64, int32, int64, bool, string, json, topk, ` +
      `or a vector like float32[512]`
    );
  const length = Number(m[2]);
  if (length < 1 || length > MAX_VECTOR) return `vector length ${length} is not from 1 to ${MAX_VECTOR}`;
  return { kind: 'vector', element: m[1] as ElementType, length };
}

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v).slice(0, 80) : typeof v;

/** What is wrong with `value` as a `spec` value (as it arrived, JSON), or null. */
export function checkValue(spec: ColumnSpec, value: unknown): string | null {
  if (spec.kind === 'vector') {
    if (!Array.isArray(value)) return `expected ${spec.element}[${spec.length}] (an array), got ${describe(value)}`;
    if (value.length !== spec.length) return `expected ${spec.length} values, got ${value.length}`;
    for (let i = 0; i < value.length; i++) {
      const problem = checkNumber(spec.element, value[i]);
      if (problem) return `[${i}]: ${problem}`;
    }
    return null;
  }
  switch (spec.type) {
    case 'float32':
    case 'float64':
    case 'int32':
    case 'int64':
      return checkNumber(spec.type, value);
    case 'bool':
      return typeof value === 'boolean' ? null : `expected a boolean, got ${describe(value)}`;
    case 'string':
      if (typeof value !== 'string') return `expected a string, got ${describe(value)}`;
      return value.length > MAX_STRING ? `a string of ${value.length} characters, over ${MAX_STRING}` : null;
    case 'json':
      return value === undefined ? 'missing' : null;
    case 'topk':
      return checkTopK(value);
    default: {
      const never: never = spec.type;
      return `unknown type ${String(never)}`;
    }
  }
}

function checkNumber(type: 'float32' | 'float64' | 'int32' | 'int64', v: unknown): string | null {
  if (typeof v !== 'number') return `expected a number (${type}), got ${describe(v)}`;
  if (!Number.isFinite(v)) return `expected a finite ${type}, got ${v}`;
  if (type === 'int32' && (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)) return `expected an int32, got ${v}`;
  if (type === 'int64' && !Number.isSafeInteger(v)) return `expected an int64 within ±2^53 (JSON numbers), got ${v}`;
  if (type === 'float32' && Math.abs(v) > 3.4028234663852886e38) return `${v} is out of float32 range`;
  return null;
}

function checkTopK(v: unknown): string | null {
  if (!Array.isArray(v) || v.length < 1 || v.length > 1000)
    return `expected a top-k list of 1 to 1000 {class, label, score}, got ${describe(v)}`;
  for (const [i, e] of v.entries()) {
    const x = e as { class?: unknown; label?: unknown; score?: unknown };
    if (typeof x !== 'object' || x === null) return `[${i}]: expected {class, label, score}`;
    if (typeof x.class !== 'number' || !Number.isInteger(x.class) || x.class < 0)
      return `[${i}].class: expected a class index, got ${describe(x.class)}`;
    if (typeof x.label !== 'string') return `[${i}].label: expected a string, got ${describe(x.label)}`;
    if (typeof x.score !== 'number' || !(x.score >= 0 && x.score <= 1))
      return `[${i}].score: expected a probability, got ${describe(x.score)}`;
  }
  return null;
}

/** What is wrong with a row (as it arrived, JSON) against the columns, or null: every declared column present and of its type, no other. */
export function checkRow(columns: readonly Column[], row: unknown): string | null {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return `a row is an object of column → value, got ${describe(row)}`;
  const r = row as Record<string, unknown>;
  for (const c of columns) {
    if (!(c.name in r)) return `column ${c.name} is missing`;
    const problem = checkValue(c.spec, r[c.name]);
    if (problem) return `column ${c.name}: ${problem}`;
  }
  if (Object.keys(r).length !== columns.length) {
    const extra = Object.keys(r).find((k) => !columns.some((c) => c.name === k));
    if (extra !== undefined) return `column ${JSON.stringify(extra)} is not declared (declared: ${columns.map((c) => c.name).join(', ')})`;
  }
  return null;
}

/**
 * A row an actor returned, as it travels: typed arrays as plain arrays, bigints as numbers, only
 * the declared columns; or what is wrong with it (the tab reports that as the actor's error).
 */
export function toWireRow(columns: readonly Column[], row: unknown): { row: Record<string, unknown> } | { error: string } {
  if (typeof row !== 'object' || row === null || Array.isArray(row))
    return { error: `call returned ${describe(row)} for a row; return one object per input` };
  const r = row as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const c of columns) {
    let v = r[c.name];
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) v = Array.from(v as unknown as ArrayLike<number>);
    if (typeof v === 'bigint') v = Number.isSafeInteger(Number(v)) ? Number(v) : v;
    if (c.spec.kind === 'scalar' && c.spec.type === 'json') v = v === undefined ? undefined : JSON.parse(JSON.stringify(v));
    out[c.name] = v;
  }
  const problem = checkRow(columns, out);
  if (problem) return { error: problem };
  const extra = Object.keys(r).find((k) => !columns.some((c) => c.name === k));
  if (extra !== undefined)
    return { error: `column ${JSON.stringify(extra)} is not declared in outputs (declared: ${columns.map((c) => c.name).join(', ')})` };
  return { row: out };
}

/** The declared outputs for a config: the static object, or the function of the config it is. */
export function outputsFor(outputs: unknown, config: unknown): unknown {
  return typeof outputs === 'function' ? (outputs as (c: unknown) => OutputDeclaration)(config) : outputs;
}
