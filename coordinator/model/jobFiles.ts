/**
 * The files a user's actor gets (`ctx.models`), from every `--model`:
 * - `--model NAME=PATH` (repeatable): `ctx.models.NAME`; a folder gives `NAME/<its path inside>` for each file;
 * - `--model PATH` (or a built-in's name): `ctx.models.model`, also `ctx.model`;
 * - `--model DIR`: every file of the folder (dotfiles aside), each named by its path inside it, as
 *   model repositories are laid out (`ctx.models['onnx/model.onnx']`).
 * Any file may be named: a model, its external weights, a tokenizer, a vocabulary. An `.onnx` file
 * (by its name or its path) is read and checked as an ONNX model (tabpool's checks of --model; under
 * ONNX's 2 GB, so it fits in memory); every other file is only hashed, as a stream, and served from
 * disk: a large one (external weights) never passes through memory whole.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TabpoolError } from '../../shared/errors.ts';
import { imageInputSize } from './modelInfo.ts';
import { BUILTIN_MODELS, resolveModel, type ResolvedModel } from './modelSource.ts';

/** One file of the job's, on this machine's disk, known by its content. */
export interface JobFile {
  /** `ctx.models[name]`. */
  name: string;
  path: string;
  sha256: string;
  bytes: number;
}

export interface ResolvedFiles {
  files: JobFile[];
  /** The file named `model` as a model (`ctx.model`), when there is one. */
  model: ResolvedModel | null;
  /** The first image-shaped input's height and width of the `model` file (or of the only .onnx file): a user actor's default input size. */
  imageSize: { height: number; width: number } | null;
}

/** At most this many files (a model repository's folder included). */
export const MAX_FILES = 4096;
const NAME_RULE = /^[A-Za-z0-9_.@+-][A-Za-z0-9_.@+/ -]*$/;

const bad = (message: string): TabpoolError => new TabpoolError('BAD_ARGUMENT', message);

/** `NAME=PATH` → name and path; a plain path (or one that exists as written, `=` and all) has no name. */
export function splitModelArg(arg: string): { name: string | null; target: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0 || existsSync(arg)) return { name: null, target: arg };
  const name = arg.slice(0, eq);
  if (!NAME_RULE.test(name) || name.split('/').some((part) => part === '..' || part === '.' || part === ''))
    throw bad(
      `--model ${arg}: the name ${JSON.stringify(name)} is not a file name; use letters, digits, . _ - and / (as ctx.models.NAME reads it)`,
    );
  return { name, target: arg.slice(eq + 1) };
}

/** The sha256 of a file, read as a stream. */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function* walk(root: string, dir: string): AsyncGenerator<string> {
  const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(root, full);
    else if (e.isFile() || e.isSymbolicLink()) yield full;
  }
}

/** A file as the job serves it: hashed (read whole and checked when it is ONNX), with its size. */
async function jobFile(name: string, file: string, arg: string): Promise<{ file: JobFile; imageSize: ResolvedFiles['imageSize'] }> {
  const stat = await fs.stat(file).catch(() => null);
  if (!stat?.isFile()) throw new TabpoolError('MODEL_NOT_FOUND', `--model ${arg}: ${file} is not a readable file`);
  if (![name, file].some((n) => n.toLowerCase().endsWith('.onnx')))
    return { file: { name, path: file, sha256: await hashFile(file), bytes: stat.size }, imageSize: null };
  if (stat.size >= 2 ** 31)
    throw new TabpoolError(
      'MODEL_NOT_ONNX',
      `--model ${arg}: ${file} is ${stat.size} bytes, past the 2 GB an ONNX protobuf can hold; export it with ` +
        `its weights as external data (model.onnx + model.onnx_data) and pass both (a folder, or NAME=PATH each)`,
    );
  const bytes = await fs.readFile(file);
  const imageSize = imageInputSize(bytes, `--model ${arg} (${name})`);
  return { file: { name, path: file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: stat.size }, imageSize };
}

/**
 * Every --model of a user's actor, resolved: named, hashed, ONNX files checked. A plain single
 * model (or a built-in) is inspected as `--model PATH` always was (refused when it is not ONNX).
 */
export async function resolveActorFiles(args: readonly string[], cacheDir: string): Promise<ResolvedFiles> {
  const files: JobFile[] = [];
  let model: ResolvedModel | null = null;
  const sizes = new Map<string, ResolvedFiles['imageSize']>();
  const add = (f: JobFile, arg: string): void => {
    const clash = files.find((g) => g.name === f.name);
    if (clash)
      throw bad(
        `--model ${arg}: two files would be ctx.models[${JSON.stringify(f.name)}] (${clash.path} and ${f.path}); ` +
          `name them apart with NAME=PATH`,
      );
    if (files.length >= MAX_FILES) throw bad(`--model: more than ${MAX_FILES} files; name the ones the actor needs`);
    files.push(f);
  };
  for (const arg of args) {
    const { name, target } = splitModelArg(arg);
    const builtin = Object.hasOwn(BUILTIN_MODELS, target);
    const stat = builtin ? null : await fs.stat(target).catch(() => null);
    if (!builtin && !stat)
      throw new TabpoolError(
        'MODEL_NOT_FOUND',
        `--model ${arg}: no such file or folder; pass an .onnx file, a folder of files, NAME=PATH, or one of ` +
          `${Object.keys(BUILTIN_MODELS).join(', ')}`,
      );
    if (stat?.isDirectory()) {
      const root = path.resolve(target);
      for await (const file of walk(root, root)) {
        const rel = path.relative(root, file).split(path.sep).join('/');
        const got = await jobFile(name ? `${name}/${rel}` : rel, file, arg);
        add(got.file, arg);
        sizes.set(got.file.name, got.imageSize);
      }
      continue;
    }
    if (builtin || name === null || name === 'model') {
      // `--model PATH` as it always was: an ONNX model (or a built-in), inspected; `ctx.model` when it is named so.
      const resolved = await resolveModel(target, cacheDir, false);
      if ((name ?? 'model') === 'model') model = resolved;
      add({ name: name ?? 'model', path: resolved.path, sha256: resolved.sha256, bytes: resolved.bytes }, arg);
      sizes.set(name ?? 'model', resolved.imageSize);
      continue;
    }
    const got = await jobFile(name, path.resolve(target), arg);
    add(got.file, arg);
    sizes.set(name, got.imageSize);
  }
  const onnx = files.filter((f) => f.name.toLowerCase().endsWith('.onnx'));
  const imageSize = sizes.get('model') ?? (onnx.length === 1 ? (sizes.get(onnx[0]!.name) ?? null) : null);
  return { files, model, imageSize };
}

/** The built-in classifier's one model file, `ctx.model` and `ctx.models.model`. */
export function classifierFiles(model: ResolvedModel): JobFile[] {
  return [{ name: 'model', path: model.path, sha256: model.sha256, bytes: model.bytes }];
}

/** Bytes of all the files. */
export function totalBytes(files: readonly JobFile[]): number {
  return files.reduce((n, f) => n + f.bytes, 0);
}
