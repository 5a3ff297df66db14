/**
 * A user's actor module, bundled once with Vite (already the project's toolchain) into one ES
 * module: TypeScript and the module's own imports compiled in, so the same bytes run in a tab's
 * worker (fetched by sha256 and cached like the model) and in Node (the dry run, verification).
 * Kept in `<cacheDir>/actors/<sha256>.mjs`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TabpoolError } from '../../shared/errors.ts';

export interface BundledActor {
  /** The module as given (--actor). */
  source: string;
  /** The bundle, as tabs fetch it. */
  code: Uint8Array;
  sha256: string;
  /** The bundle on disk, for Node to import. */
  file: string;
}

function bad(source: string, what: string): TabpoolError {
  return new TabpoolError('BAD_ACTOR', `--actor ${source}: ${what}`);
}

export async function bundleActor(source: string, cacheDir: string): Promise<BundledActor> {
  const entry = path.resolve(source);
  if (!existsSync(entry)) throw bad(source, 'no such file; pass the path of a .ts or .js module whose default export is your actor class');
  if (!(await fs.stat(entry)).isFile()) throw bad(source, 'is not a file');
  const { build } = await import('vite');
  let code: string;
  try {
    const out = await build({
      configFile: false,
      logLevel: 'silent',
      root: path.dirname(entry),
      publicDir: false,
      build: {
        write: false,
        minify: false,
        target: 'es2022',
        lib: { entry, formats: ['es'], fileName: 'actor' },
      },
    });
    const outputs = (Array.isArray(out) ? out : [out]) as { output: { type: string; code?: string }[] }[];
    const chunk = outputs.flatMap((o) => o.output).find((o) => o.type === 'chunk');
    if (!chunk?.code) throw new Error('the bundler produced no code');
    code = chunk.code;
  } catch (err) {
    throw bad(source, `does not compile: ${firstLines((err as Error).message)}`);
  }
  const bytes = new TextEncoder().encode(code);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const dir = path.join(cacheDir, 'actors');
  const file = path.join(dir, `${sha256}.mjs`);
  if (!existsSync(file)) {
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(`${file}.${process.pid}.tmp`, bytes);
    await fs.rename(`${file}.${process.pid}.tmp`, file);
  }
  return { source, code: bytes, sha256, file };
}

/** An error's first lines: a bundler's message names the file, line and column, then a code frame. */
function firstLines(message: string): string {
  return message.split('\n').filter(Boolean).slice(0, 6).join('\n  ');
}
