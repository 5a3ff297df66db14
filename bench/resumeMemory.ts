/**
 * Resume's memory. `coordinator.memory.resume.rssMB.m1M`: peak RSS of `tabpool run --resume` over a
 * 1M-input manifest whose output already holds all but the last RESUME_LEFT rows (JSON Lines rows of
 * the built-in classifier's shape, top 5), measured as `coordinator.memory.rssMB.m1M` is (100 instant
 * actors, batch 16, VmHWM polled). `io.idSet.mbPerMillionIds`, `io.stringSet.mbPerMillionIds`: what a
 * million 32-byte ids cost in the exact id set --resume loads them into, against a Set<string>, each
 * in a process of its own (bench/idSetMemory.ts: heap and array buffers grown between full collections).
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../test/support/coordinatorProcess.ts';
import { mulberry32, writeTestPngs } from '../test/support/testImages.ts';
import { runOnce, writeManifest, type BenchOptions } from './coordinatorCapacity.ts';

const INPUTS = 1_000_000;
const RESUME_LEFT = 1_000;
const MB = 1e6;

/** The rows a finished classifier job wrote for ids i0000000…, top 5 with full-precision scores (as --top-k 5 writes them). */
export async function writeOutput(file: string, rows: number): Promise<void> {
  const rand = mulberry32(0x4e5);
  const out = createWriteStream(file);
  const chunk: string[] = [];
  for (let i = 0; i < rows; i++) {
    let score = 0.02 + rand() * 0.01;
    const topk = Array.from({ length: 5 }, () => {
      const c = Math.floor(rand() * 1000);
      score *= 0.9 + rand() * 0.09;
      return { class: c, label: `class ${c}`, score };
    });
    const row = {
      id: `i${String(i).padStart(7, '0')}`,
      class: topk[0]!.class,
      label: topk[0]!.label,
      score: topk[0]!.score,
      topk,
      error: null,
    };
    chunk.push(`${JSON.stringify(row)}\n`);
    if (chunk.length === 10_000 || i === rows - 1) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk.length = 0;
    }
  }
  out.end();
  await once(out, 'finish');
}

interface SetMemory {
  heapUsed: number;
  arrayBuffers: number;
  bytes: number;
}

async function setMemory(kind: 'idset' | 'set'): Promise<SetMemory> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench', 'idSetMemory.ts'), kind],
    {
      cwd: ROOT,
    },
  );
  return JSON.parse(stdout) as SetMemory;
}

export async function benchResumeMemory(o: BenchOptions): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  const idSet = await setMemory('idset');
  const stringSet = await setMemory('set');
  result['io.idSet.mbPerMillionIds'] = idSet.bytes / MB;
  result['io.stringSet.mbPerMillionIds'] = stringSet.bytes / MB;
  o.log(`  1M 32-byte ids: IdSet ${(idSet.bytes / MB).toFixed(1)} MB, Set<string> ${(stringSet.bytes / MB).toFixed(1)} MB`);
  o.notes.push(
    `io.*.mbPerMillionIds: 1M distinct 32-character ids (hex, made by JSON.parse as a row's id is), added to an empty set in a ` +
      `process of its own (node --expose-gc), heapUsed + arrayBuffers after two full collections minus before: IdSet ` +
      `${(idSet.heapUsed / MB).toFixed(1)} MB heap + ${(idSet.arrayBuffers / MB).toFixed(1)} MB typed arrays; Set<string> ` +
      `${(stringSet.heapUsed / MB).toFixed(1)} MB heap.`,
  );

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-resume-'));
  try {
    const pngs = (await writeTestPngs(path.join(dir, 'png'), 4, 32, 32)).map((f) => path.relative(dir, f.path));
    const manifest = path.join(dir, 'manifest.jsonl');
    await writeManifest(manifest, INPUTS, pngs);
    const out = path.join(dir, 'out-resume.jsonl');
    await writeOutput(out, INPUTS - RESUME_LEFT);
    const outMB = (await fs.stat(out)).size / MB;
    o.log(`resume: --resume over ${INPUTS} inputs, ${INPUTS - RESUME_LEFT} rows already written (${outMB.toFixed(0)} MB of JSON Lines)`);
    const r = await runOnce('resume-m1M', 100, manifest, 16, o.quick ? 240_000 : 600_000, dir, o, { out, args: ['--resume'] });
    const s = r.summary;
    if (!s || s.rows.resumedRows !== INPUTS - RESUME_LEFT || s.rows.written !== RESUME_LEFT)
      o.notes.push(
        `resume-m1M: ${s?.rows.resumedRows ?? '?'} rows resumed and ${s?.rows.written ?? '?'} written ` +
          `(expected ${INPUTS - RESUME_LEFT} and ${RESUME_LEFT})`,
      );
    result['coordinator.memory.resume.rssMB.m1M'] = r.peakRssMB;
    o.notes.push(
      `coordinator.memory.resume.rssMB.m1M: peak RSS (VmHWM) of \`tabpool run --resume\` over a ${INPUTS}-input manifest whose ` +
        `JSON Lines output already held ${INPUTS - RESUME_LEFT} rows (${outMB.toFixed(0)} MB: the built-in classifier's rows, ` +
        `top 5; ids of 8 bytes), the last ${RESUME_LEFT} done by 100 instant actors, batch 16: ${r.peakRssMB.toFixed(0)} MB.`,
    );
    return result;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
