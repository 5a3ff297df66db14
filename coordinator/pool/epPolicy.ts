/**
 * Which execution provider a tab runs, and what it reserves on its host for it, from the job's
 * --ep, --num-gpus, --num-cpus and --allow-software-gpu: the rules, and the words a refused tab
 * and the CLI show.
 */
import type { Capabilities, ExecutionProvider } from '../../shared/protocol.ts';
import type { EpChoice, PoolSize } from '../options/jobOptions.ts';
import type { PoolPolicy } from './actorRoster.ts';
import type { Resources } from './resources.ts';

export interface EpSettings {
  pool: PoolSize;
  ep: EpChoice;
  allowSoftwareGpu: boolean;
  numGpus: number | null;
  numCpus: number | null;
  actorMemory: number;
}

/** Just the EP and budget settings of a job's larger settings (a queue job's spec, its options). */
export function epSettings(o: EpSettings): EpSettings {
  const { pool, ep, allowSoftwareGpu, numGpus, numCpus, actorMemory } = o;
  return { pool, ep, allowSoftwareGpu, numGpus, numCpus, actorMemory };
}

export function poolPolicy(o: EpSettings): PoolPolicy {
  // An explicit GPU budget means GPU actors: auto falls back to wasm only when none was asked for.
  const gpuRequired = o.ep === 'webgpu' || (o.numGpus !== null && o.numGpus > 0);
  return {
    pool: o.pool,
    allowSoftwareGpu: o.allowSoftwareGpu,
    offer: (caps: Capabilities, pinned: ExecutionProvider | null) => {
      const gpu = caps.webgpu;
      const usableGpu = gpu !== null && (!gpu.isSoftware || o.allowSoftwareGpu);
      let eps: ExecutionProvider[];
      if (o.ep === 'wasm') eps = ['wasm'];
      else if (usableGpu) eps = gpuRequired ? ['webgpu'] : ['webgpu', 'wasm'];
      else if (!gpuRequired) eps = ['wasm'];
      else return { eps: null, reason: noGpuReason(caps, o.numGpus ?? 1) };
      if (pinned === null) return { eps };
      if (eps.includes(pinned)) return { eps: [pinned] };
      return { eps: null, reason: pinReason(pinned, o, caps, usableGpu) };
    },
    budgetFor: (ep: ExecutionProvider): Resources => ({
      gpus: ep === 'webgpu' ? (o.numGpus ?? 1) : 0,
      cpus: o.numCpus ?? 0,
      memoryBytes: o.actorMemory,
    }),
  };
}

/** Why a tab pinned to `pinned` (`&ep=` in its URL) cannot run it in this job. */
function pinReason(pinned: ExecutionProvider, o: EpSettings, caps: Capabilities, usableGpu: boolean): string {
  if (pinned === 'wasm') {
    return (
      `this tab is pinned to wasm (&ep=wasm in its URL), but the job needs GPU actors ` +
      `(${o.ep === 'webgpu' ? '--ep webgpu' : `--num-gpus ${o.numGpus}`}); open the worker URL without &ep=wasm`
    );
  }
  if (o.ep === 'wasm')
    return 'this tab is pinned to webgpu (&ep=webgpu in its URL), but the job runs --ep wasm; open the worker URL without &ep=webgpu';
  if (!usableGpu) return `this tab is pinned to webgpu (&ep=webgpu in its URL), but ${noGpuReason(caps, o.numGpus ?? 1)}`;
  return 'this tab is pinned to webgpu (&ep=webgpu in its URL), which the job does not offer it';
}

function noGpuReason(caps: Capabilities, needs: number): string {
  const gpu = caps.webgpu;
  if (gpu) {
    return (
      `this browser's only WebGPU adapter is software (${gpu.vendor} ${gpu.architecture}), so its host has ` +
      `0 GPUs and each actor needs ${needs}; rerun with --allow-software-gpu to accept it, or --ep wasm --num-gpus 0`
    );
  }
  if (!caps.secureContext) {
    return (
      `this page was opened over plain http from another machine, and browsers give WebGPU only to secure ` +
      `contexts (https or localhost), so its host has 0 GPUs and each actor needs ${needs}; serve the job ` +
      `over https (--tls self-signed) and open the https worker URL, or rerun with --ep wasm --num-gpus 0`
    );
  }
  return (
    `this browser has no WebGPU adapter, so its host has 0 GPUs and each actor needs ${needs}; use a WebGPU ` +
    `browser (Chrome/Edge 113+, over https or localhost), or rerun with --ep wasm --num-gpus 0`
  );
}
