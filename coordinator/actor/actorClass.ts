/**
 * What an actor class declares, checked before any browser starts: a default-exported class with
 * `init` and `call`, `static inputs` ('image', 'record' or 'file'), `static outputs` (columns, or a
 * function of the config giving them), and the optional `preprocess` (an object, or 'none' for raw
 * pixels), `memory`, `agree`, `check` and `referenceConfig`. Each fault is named with the file, so a
 * user fixes it in one try.
 */
import { pathToFileURL } from 'node:url';
import type { ActorClass, ActorInputs, MemoryDeclaration, PreprocessDeclaration } from '../../shared/actorApi.ts';
import { outputsFor, parseOutputs, type Column } from '../../shared/columns.ts';
import { TabpoolError } from '../../shared/errors.ts';

export interface ActorShape {
  inputs: ActorInputs;
  columns: Column[];
  preprocess: PreprocessDeclaration | 'none' | null;
  memory: MemoryDeclaration | null;
}

const bad = (source: string, what: string): TabpoolError => new TabpoolError('BAD_ACTOR', `--actor ${source}: ${what}`);

/** The module's default export, from its bundle on disk. */
export async function importActorModule(file: string, source: string): Promise<unknown> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw bad(source, `fails when loaded: ${(err as Error).message}`);
  }
  return mod.default;
}

function isTuple3(v: unknown): v is [number, number, number] {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function checkPreprocess(p: unknown, source: string): PreprocessDeclaration | 'none' | null {
  if (p === undefined) return null;
  if (p === 'none') return 'none';
  if (typeof p !== 'object' || p === null)
    throw bad(
      source,
      `static preprocess must be 'none' (the raw RGB pixels, as batch.pixels) or an object like { size: 224, mean: [...], ` +
        `std: [...] } (a tensor, as batch.images); got ${JSON.stringify(p)}`,
    );
  const d = p as PreprocessDeclaration;
  const dim = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 8192;
  if (d.size !== undefined && !(dim(d.size) || (Array.isArray(d.size) && d.size.length === 2 && d.size.every(dim)))) {
    throw bad(source, `preprocess.size must be a whole number from 1 to 8192 or [height, width]; got ${JSON.stringify(d.size)}`);
  }
  if (d.resize !== undefined && !dim(d.resize))
    throw bad(source, `preprocess.resize must be a whole number of pixels; got ${JSON.stringify(d.resize)}`);
  if (d.crop !== undefined && typeof d.crop !== 'boolean')
    throw bad(
      source,
      `preprocess.crop must be true (resize the shorter side, then centre-crop) or false (resize to size); got ${JSON.stringify(d.crop)}`,
    );
  if (d.crop === false && d.resize !== undefined)
    throw bad(source, 'preprocess.resize sizes the shorter side before a crop; with crop: false the image is resized to size itself');
  if (d.mean !== undefined && !isTuple3(d.mean)) throw bad(source, 'preprocess.mean must be three numbers (R, G, B)');
  if (d.std !== undefined && !(isTuple3(d.std) && d.std.every((x) => x > 0)))
    throw bad(source, 'preprocess.std must be three positive numbers (R, G, B)');
  return d;
}

function checkMemory(declared: unknown, source: string, config: unknown): MemoryDeclaration | null {
  if (declared === undefined) return null;
  let m: unknown = declared;
  if (typeof declared === 'function') {
    try {
      m = (declared as (config: unknown) => unknown)(config);
    } catch (err) {
      throw bad(source, `static memory(config) threw: ${(err as Error).message}`);
    }
  }
  const d = m as MemoryDeclaration;
  const ok = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (typeof m !== 'object' || m === null || !ok(d.fixedBytes) || !ok(d.perItemBytes)) {
    throw bad(
      source,
      'static memory must be { fixedBytes?: number, perItemBytes?: number } (bytes), or a function of the config giving one',
    );
  }
  return d;
}

/** Checks `value` is an actor class and reads its declarations for `config`. */
export function checkActorClass(value: unknown, source: string, config: unknown): { cls: ActorClass; shape: ActorShape } {
  if (value === undefined) throw bad(source, 'has no default export: end it with `export default class MyActor { … }`');
  if (typeof value !== 'function' || !value.prototype)
    throw bad(source, `its default export is ${value === null ? 'null' : typeof value}, not a class`);
  const cls = value as ActorClass;
  for (const m of ['init', 'call'] as const) {
    if (typeof (cls.prototype as Record<string, unknown>)[m] !== 'function') {
      throw bad(
        source,
        `class ${cls.name || '(anonymous)'} has no ${m} method: an actor needs async init(ctx) (load the model ` +
          `once) and async call(batch) (one row per input)`,
      );
    }
  }
  if (cls.inputs !== 'image' && cls.inputs !== 'record' && cls.inputs !== 'file')
    throw bad(
      source,
      `static inputs must be 'image' (decoded images), 'record' (rows of JSONL, CSV or Parquet) or 'file' (each file's ` +
        `bytes, decoded by the actor); got ${JSON.stringify(cls.inputs)}`,
    );
  let declared: unknown;
  try {
    declared = outputsFor(cls.outputs, config);
  } catch (err) {
    throw bad(source, `static outputs(config) threw: ${(err as Error).message}`);
  }
  const parsed = parseOutputs(declared);
  if (!parsed.ok) throw bad(source, `static outputs: ${parsed.error}`);
  for (const hook of ['agree', 'check', 'referenceConfig'] as const) {
    if (cls[hook] !== undefined && typeof cls[hook] !== 'function') throw bad(source, `static ${hook} must be a function`);
  }
  return {
    cls,
    shape: {
      inputs: cls.inputs,
      columns: parsed.columns,
      preprocess: checkPreprocess(cls.preprocess, source),
      memory: checkMemory(cls.memory, source, config),
    },
  };
}
