/**
 * Choosing the next token from a model's logits, the same in a tab and in Node, so that a sampled
 * generation can be repeated and checked:
 * - greedy (no temperature, or 0): the largest logit, the lowest id on a tie;
 * - sampled: temperature, then top-k, then top-p (nucleus), in float64; the kept tokens' shares of
 *   [0, 1) laid out in id order, and the one whose share holds a uniform draw. Id order, not probability
 *   order: two nearly equal tokens that two EPs rank differently then only move a boundary by their
 *   difference, where a probability order would swap their shares whole. The draw is a function of the
 *   row's seed and the step alone (a counter-based generator), so a check can recompute any step without
 *   the steps before it.
 */

export interface SamplingParams {
  /** Tokens to generate at most. */
  maxTokens: number;
  /** 0 (or absent) is greedy. */
  temperature: number;
  /** Keep the k most probable tokens (0: all). */
  topK: number;
  /** Keep the most probable tokens whose probabilities add up to p (1: all). */
  topP: number;
  /** Strings that end the text (not included in it). */
  stop: string[];
  /** The row's seed (its own, or the job's with the row's id). */
  seed: number;
}

/** A uniform number in [0, 1) from `seed` and `step`: splitmix32-style mixing, 53 bits, exact in every JavaScript engine. */
export function drawUniform(seed: number, step: number): number {
  const mix = (x: number): number => {
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return (x ^ (x >>> 16)) >>> 0;
  };
  const a = mix((seed ^ Math.imul(step + 1, 0x9e3779b9)) >>> 0);
  const b = mix((a ^ 0x68e31da4 ^ Math.imul(step + 7, 0x27d4eb2f)) >>> 0);
  return ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992;
}

/** A 32-bit seed from text (a job's seed and a row's id): FNV-1a. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** The tokens a sampled step may choose, with their probabilities (adding up to 1), in id order. */
export function keptTokens(
  logits: ArrayLike<number>,
  p: Pick<SamplingParams, 'temperature' | 'topK' | 'topP'>,
): { id: number; p: number }[] {
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const k = p.topK > 0 ? Math.min(p.topK, order.length) : order.length;
  const top = order.slice(0, k);
  const max = logits[top[0]!]!;
  const weights = top.map((id) => Math.exp((logits[id]! - max) / p.temperature));
  const sum = weights.reduce((a, b) => a + b, 0);
  const kept: { id: number; p: number }[] = [];
  let mass = 0;
  for (let i = 0; i < top.length; i++) {
    kept.push({ id: top[i]!, p: weights[i]! / sum });
    mass += weights[i]! / sum;
    if (p.topP < 1 && mass >= p.topP) break;
  }
  const total = kept.reduce((a, t) => a + t.p, 0);
  return kept.map((t) => ({ id: t.id, p: t.p / total })).sort((a, b) => a.id - b.id);
}

/** The next token: greedy, or the seeded draw over the kept tokens. */
export function chooseToken(logits: ArrayLike<number>, params: SamplingParams, step: number): number {
  if (!(params.temperature > 0)) return argmax(logits);
  const u = drawUniform(params.seed, step);
  let edge = 0;
  const kept = keptTokens(logits, params);
  for (const t of kept) {
    edge += t.p;
    if (u < edge) return t.id;
  }
  return kept[kept.length - 1]!.id;
}

/** Where token `id` lies in [0, 1) at a sampled step (its interval among the kept tokens), or null when it is not kept. */
export function tokenInterval(
  logits: ArrayLike<number>,
  params: Pick<SamplingParams, 'temperature' | 'topK' | 'topP'>,
  id: number,
): { from: number; to: number } | null {
  let edge = 0;
  for (const t of keptTokens(logits, params)) {
    if (t.id === id) return { from: edge, to: edge + t.p };
    edge += t.p;
  }
  return null;
}
