/** How the worker page words what it runs: the EP it chose (and what it measured), and the job it loaded. */
import type { AdapterInfo, EpFigure, ExecutionProvider, JobSpec } from '../../shared/protocol.ts';
import { formatBytes } from '../../shared/units.ts';

/** `wasm (measured: wasm 8.1 img/s, webgpu no result within 20 s)`, or just the EP when none was measured. */
export function describeChoice(ep: ExecutionProvider, figures: readonly EpFigure[]): string {
  if (figures.length === 0) return ep;
  const parts = figures.map((f) => `${f.ep} ${f.imagesPerSecond !== null ? `${f.imagesPerSecond.toFixed(1)} img/s` : f.note}`);
  return `${ep} (measured: ${parts.join(', ')})`;
}

/** What the tab loads: the actor (built-in or the user's module) and its files, with their sizes. */
export function describeJob(job: JobSpec): string {
  const actor =
    job.actor.kind === 'builtin' ? 'built-in classifier' : `actor ${job.actor.sha256.slice(0, 12)}… (${formatBytes(job.actor.bytes)})`;
  const [only] = job.files;
  if (!only) return `${actor}, no model`;
  if (job.files.length === 1) return `${actor}, ${only.name} ${only.sha256.slice(0, 12)}… (${formatBytes(only.bytes)})`;
  const total = job.files.reduce((n, f) => n + f.bytes, 0);
  const names = job.files.slice(0, 5).map((f) => f.name);
  if (job.files.length > 5) names.push(`${job.files.length - 5} more`);
  return `${actor}, ${job.files.length} files (${formatBytes(total)}: ${names.join(', ')})`;
}

/** Where the tab runs the model, in words, once it chose. */
export function describeRunsOn(ep: ExecutionProvider, adapter: AdapterInfo | null): string {
  return ep === 'webgpu'
    ? `it runs the job's model on this machine's GPU (WebGPU${adapter?.isSoftware ? ', a software adapter' : ''}).`
    : "it runs the job's model on this machine's CPU (WebAssembly).";
}

/** The adapter a WebGPU actor runs on: vendor, architecture, description, and whether it is software. */
export function describeAdapter(a: AdapterInfo): string {
  const description = a.description ? ` (${a.description})` : '';
  return `${a.vendor || 'unknown vendor'} ${a.architecture}${description}${a.isSoftware ? ' [software]' : ''}`;
}
