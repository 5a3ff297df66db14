/**
 * How many wasm threads an actor runs when the job does not pin them (--num-cpus): its share of its
 * host's cores. The host's CPUs, less the cores its actors' preprocessing workers keep busy (rounded:
 * a decoder busy a tenth of the time costs no thread), divided evenly among the actors the budgets
 * place there, rounded down (onnxruntime's threads spin while they wait, so two more threads than
 * cores cost more than one idle core), and never below one. Pure; the host's thread plan calls it.
 */
export function threadShare(hostCpus: number, actors: number, prepareCores: number): number {
  const cores = Math.max(1, Math.floor(hostCpus)) - Math.round(Math.max(0, prepareCores));
  return Math.max(1, Math.floor(cores / Math.max(1, actors)));
}

/** The threads --num-cpus pins (a reservation of N cores runs N threads), or null when the host's share decides. */
export function pinnedThreads(numCpus: number | null): number | null {
  return numCpus === null ? null : Math.max(1, Math.round(numCpus));
}
