/**
 * When a tab's answer agrees with the trusted reference. Scores are probabilities, so they are
 * compared on an absolute scale: 0.02 covers the gap between execution providers (wasm and WebGPU
 * differ by ~5e-6 relative on ResNet-18) and leaves room for a browser whose decoder differs from
 * Chromium's (the reference decodes as Chromium does). The top-1 class must match wherever the
 * reference's top-2 margin is clear; on a near-tie either class is honest.
 */
import type { ItemResult } from '../../shared/protocol.ts';

export const SCORE_TOLERANCE = 0.02;
/** The reference's top-1 probability minus its top-2 at which the top-1 class must match. */
export const CLEAR_MARGIN = 0.05;

export interface Verdict {
  agree: boolean;
  /** Inputs compared (the reference could decode them). */
  compared: number;
  /** The first disagreement, in words, or null. */
  detail: string | null;
}

function topTwo(p: Float32Array): [number, number] {
  let a = 0;
  let b = -1;
  for (let i = 1; i < p.length; i++) {
    if (p[i]! > p[a]!) {
      b = a;
      a = i;
    } else if (b < 0 || p[i]! > p[b]!) b = i;
  }
  return [a, b];
}

/** Compares a tab's answers for some inputs with the reference's probabilities for the same inputs (null: not decodable there). */
export function compareWithReference(ids: readonly string[], answers: readonly ItemResult[], reference: readonly (Float32Array | null)[], tolerance = SCORE_TOLERANCE): Verdict {
  let compared = 0;
  for (const [i, ref] of reference.entries()) {
    if (!ref) continue;
    compared++;
    const a = answers[i]!;
    const id = ids[i]!;
    if (!a.ok) return { agree: false, compared, detail: `${id}: the tab answered ${a.code}, but the reference predicts it` };
    const [best, second] = topTwo(ref);
    if (ref[best]! - (second >= 0 ? ref[second]! : 0) >= CLEAR_MARGIN && a.topk[0]!.class !== best) {
      return { agree: false, compared, detail: `${id}: the tab's top class is ${a.topk[0]!.class}, the reference's ${best} (p ${ref[best]!.toFixed(3)}, clear of the next by ${(ref[best]! - ref[second]!).toFixed(3)})` };
    }
    for (const e of a.topk) {
      const p = ref[e.class] ?? NaN;
      if (!(Math.abs(e.score - p) <= tolerance)) return { agree: false, compared, detail: `${id}: the tab scores class ${e.class} ${e.score.toFixed(4)}, the reference ${p.toFixed(4)}` };
    }
  }
  return { agree: true, compared, detail: null };
}
