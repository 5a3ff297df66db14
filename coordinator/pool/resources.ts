/**
 * Resource arithmetic, as Ray does it per node: a host has capacities (GPUs, CPUs, memory), each
 * actor reserves a budget, and an actor is admitted only while every resource still fits.
 * Pure functions; the pool calls them.
 */
import { formatBytes } from '../../shared/units.ts';
import type { Capabilities, DeclaredResources } from '../../shared/protocol.ts';

export interface Resources {
  gpus: number;
  cpus: number;
  /** Bytes; Infinity when neither the browser nor the person said. */
  memoryBytes: number;
}

export const ZERO: Resources = { gpus: 0, cpus: 0, memoryBytes: 0 };

/** Fractional GPUs (0.5 + 0.5) must add up exactly; round away binary noise. */
const EPS = 1e-9;

export function hostCapacity(caps: Capabilities, declared: DeclaredResources, allowSoftwareGpu: boolean): Resources {
  const gpu = caps.webgpu;
  const reportedGpus = gpu && (!gpu.isSoftware || allowSoftwareGpu) ? 1 : 0;
  return {
    gpus: declared.gpus ?? reportedGpus,
    cpus: declared.cpus ?? Math.max(1, caps.hardwareConcurrency),
    memoryBytes: declared.memoryBytes ?? (caps.deviceMemoryGiB !== null ? caps.deviceMemoryGiB * 2 ** 30 : Infinity),
  };
}

export function add(a: Resources, b: Resources): Resources {
  return { gpus: a.gpus + b.gpus, cpus: a.cpus + b.cpus, memoryBytes: a.memoryBytes + b.memoryBytes };
}

export function subtract(a: Resources, b: Resources): Resources {
  return { gpus: a.gpus - b.gpus, cpus: a.cpus - b.cpus, memoryBytes: a.memoryBytes - b.memoryBytes };
}

/** Which resources fall short for `need` given `free`, in words with the numbers; empty when it fits. */
export function shortfalls(free: Resources, need: Resources): string[] {
  const out: string[] = [];
  if (need.gpus > free.gpus + EPS) out.push(`GPU: needs ${need.gpus}, ${fmt(free.gpus)} free`);
  if (need.cpus > free.cpus + EPS) out.push(`CPU: needs ${need.cpus}, ${fmt(free.cpus)} free`);
  if (need.memoryBytes > free.memoryBytes + EPS)
    out.push(`memory: needs ${formatBytes(need.memoryBytes)}, ${formatBytes(Math.max(0, free.memoryBytes))} free`);
  return out;
}

function fmt(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/** How many actors of `need` fit in `capacity` (Infinity when the budget needs nothing). */
export function actorsThatFit(capacity: Resources, need: Resources): number {
  const per = (cap: number, n: number): number => (n <= 0 ? Infinity : Math.floor((cap + EPS) / n));
  return Math.min(per(capacity.gpus, need.gpus), per(capacity.cpus, need.cpus), per(capacity.memoryBytes, need.memoryBytes));
}

export function describeResources(r: Resources): string {
  return `${fmt(r.gpus)} GPU, ${fmt(r.cpus)} CPU, ${Number.isFinite(r.memoryBytes) ? formatBytes(r.memoryBytes) : 'unknown'} memory`;
}
