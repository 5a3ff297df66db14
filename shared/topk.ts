/** Softmax and top-k over one row of logits, stable for large magnitudes. */
/** A class and its probability. */
export interface TopKEntry {
  class: number;
  score: number;
}

export function softmaxTopK(logits: ArrayLike<number>, k: number): TopKEntry[] {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i]! - max);
  // Partial selection: k is small (5 by default) against 1000 classes.
  const best: TopKEntry[] = [];
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (best.length === k && v <= logits[best[k - 1]!.class]!) continue;
    let j = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push({ class: i, score: 0 });
    while (j > 0 && logits[best[j - 1]!.class]! < v) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = { class: i, score: 0 };
  }
  for (const e of best) e.score = Math.exp(logits[e.class]! - max) / sum;
  return best;
}
