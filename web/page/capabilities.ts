/** What this browser can do, as the page reports it when it joins, and which host it is. */
import { describeAdapter } from '../../shared/adapterInfo.ts';
import type { Capabilities } from '../../shared/protocol.ts';

/** 8 random hex digits (crypto.randomUUID exists only in secure contexts; getRandomValues everywhere). */
function randomHex(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One id per browser profile: tabs sharing localStorage share a machine, and so a GPU. */
export function hostId(): string {
  try {
    let id = localStorage.getItem('tabpool.hostId');
    if (!id) {
      id = `host-${randomHex()}`;
      localStorage.setItem('tabpool.hostId', id);
    }
    return id;
  } catch {
    return `host-${randomHex()}`;
  }
}

export async function capabilities(): Promise<Capabilities> {
  let webgpu: Capabilities['webgpu'] = null;
  try {
    const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter) webgpu = describeAdapter(adapter.info, adapter.limits);
  } catch {
    webgpu = null;
  }
  const nav = navigator as Navigator & { deviceMemory?: number };
  return {
    webgpu,
    hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
    deviceMemoryGiB: typeof nav.deviceMemory === 'number' ? nav.deviceMemory : null,
    crossOriginIsolated: self.crossOriginIsolated,
    secureContext: self.isSecureContext,
    userAgent: navigator.userAgent,
  };
}

/** Why this page has no WebGPU, in words a person can act on; null when it has it. */
export function noWebGpuExplanation(caps: Capabilities): string | null {
  if (caps.webgpu) return null;
  if (!caps.secureContext) {
    return (
      `no WebGPU: this page was opened over plain http (${location.host}), and browsers give WebGPU only to ` +
      `secure contexts (https, or localhost). Run the job with --tls self-signed and open the https worker ` +
      `URL it prints; until then this tab can only run --ep wasm.`
    );
  }
  if (!('gpu' in navigator))
    return (
      'no WebGPU: this browser does not have it (navigator.gpu is missing); use a recent Chrome or Edge, or ' +
      'run the job with --ep wasm.'
    );
  return (
    'no WebGPU adapter: the browser has WebGPU but found no usable GPU (it may be blocklisted or disabled); ' +
    'this tab can run --ep wasm.'
  );
}
