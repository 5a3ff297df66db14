/**
 * When a tab's top-k agrees with the trusted reference's class probabilities (the built-in
 * classifier's `agree`). Probabilities are compared relative to their size (5%, plus 1e-6), which
 * covers the gap between execution providers (wasm and WebGPU differ by ~5e-6 relative on
 * ResNet-18's logits) and a browser whose decoder differs slightly from Chromium's (the reference
 * decodes as Chromium does), yet stays tight for a model whose probabilities are all small. Every
 * class the tab names must be among the reference's top k (up to that tolerance), each with the
 * reference's probability, and the top-1 class must match wherever the reference's top-2 margin is
 * clear; on a near-tie either class is honest.
 */
export const RELATIVE_TOLERANCE = 0.05;
export const ABSOLUTE_TOLERANCE = 1e-6;

export interface RankedClass {
  class: number;
  score: number;
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * Math.max(a, b);

/** The `k` largest probabilities, largest first, with their classes. */
function top(p: ArrayLike<number>, k: number): { class: number; p: number }[] {
  const best: { class: number; p: number }[] = [];
  for (let i = 0; i < p.length; i++) {
    if (best.length === k && p[i]! <= best[k - 1]!.p) continue;
    best.push({ class: i, p: p[i]! });
    best.sort((x, y) => y.p - x.p);
    if (best.length > k) best.pop();
  }
  return best;
}

/** What is wrong with the tab's top-k against the reference's class probabilities, or null. */
export function topKDisagreement(topk: readonly RankedClass[], ref: ArrayLike<number>): string | null {
  const ranked = top(ref, Math.max(2, topk.length));
  const kth = ranked[topk.length - 1]!.p;
  for (const e of topk) {
    const p = ref[e.class];
    if (p === undefined || (p < kth && !close(p, kth))) {
      return (
        `the tab names class ${e.class}, which is not among the reference's top ${topk.length} (its probability ` +
        `${p?.toExponential(2)}, the ${topk.length}th ${kth.toExponential(2)})`
      );
    }
    if (!close(e.score, p)) return `the tab scores class ${e.class} ${e.score.toExponential(3)}, the reference ${p.toExponential(3)}`;
  }
  const [first, second] = ranked;
  if (!close(first!.p, second!.p) && topk[0]!.class !== first!.class)
    return `the tab's top class is ${topk[0]!.class}, the reference's ${first!.class} (clear of the next)`;
  return null;
}

/** Softmax of one row of logits. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}
