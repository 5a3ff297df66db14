/**
 * When a tab's row agrees with the reference's row for the same input, per declared column (an
 * actor may declare its own `agree` instead). Exact for ints, bools and strings. Floats within a
 * tolerance that covers the execution providers' differences (wasm and WebGPU differ from
 * onnxruntime-node's CPU EP by ~5e-6 relative on ResNet-18, measured): a scalar |t − r| ≤ 1e-4 +
 * 1e-3·|r|; a float vector ‖t − r‖₂ ≤ 1e-3·‖r‖₂ + 1e-6·√N, so a vector's tiny components do not
 * each need to match to 0.1%. JSON compares its numbers the scalar way; a top-k list needs the same
 * classes in order and scores within the scalar tolerance.
 */
import type { Column } from '../../shared/columns.ts';

export const SCALAR_ABSOLUTE = 1e-4;
export const SCALAR_RELATIVE = 1e-3;
export const VECTOR_RELATIVE = 1e-3;
export const VECTOR_ABSOLUTE = 1e-6;

const closeScalar = (t: number, r: number): boolean => Math.abs(t - r) <= SCALAR_ABSOLUTE + SCALAR_RELATIVE * Math.abs(r);

function jsonAgrees(t: unknown, r: unknown): boolean {
  if (typeof t === 'number' && typeof r === 'number') return closeScalar(t, r);
  if (Array.isArray(t) && Array.isArray(r)) return t.length === r.length && t.every((x, i) => jsonAgrees(x, r[i]));
  if (t && r && typeof t === 'object' && typeof r === 'object') {
    const tk = Object.keys(t).sort();
    const rk = Object.keys(r).sort();
    return (
      tk.join('\0') === rk.join('\0') && tk.every((k) => jsonAgrees((t as Record<string, unknown>)[k], (r as Record<string, unknown>)[k]))
    );
  }
  return t === r;
}

/** What differs between the tab's value of `c` and the reference's, or null. */
function columnDisagreement(c: Column, t: unknown, r: unknown): string | null {
  const { spec, name } = c;
  if (spec.kind === 'vector') {
    const tv = t as number[];
    const rv = r as number[];
    if (spec.element === 'int32') return tv.every((x, i) => x === rv[i]) ? null : `${name} differs from the reference's`;
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < rv.length; i++) {
      diff += (tv[i]! - rv[i]!) ** 2;
      norm += rv[i]! ** 2;
    }
    const limit = VECTOR_RELATIVE * Math.sqrt(norm) + VECTOR_ABSOLUTE * Math.sqrt(rv.length);
    return Math.sqrt(diff) <= limit
      ? null
      : `${name} is ${Math.sqrt(diff).toExponential(2)} from the reference's (L2), over ${limit.toExponential(2)}`;
  }
  switch (spec.type) {
    case 'float32':
    case 'float64':
      return closeScalar(t as number, r as number) ? null : `${name} is ${String(t)}, the reference's ${String(r)}`;
    case 'int32':
    case 'int64':
    case 'bool':
    case 'string':
      return t === r ? null : `${name} is ${JSON.stringify(t)?.slice(0, 80)}, the reference's ${JSON.stringify(r)?.slice(0, 80)}`;
    case 'json':
      return jsonAgrees(t, r) ? null : `${name} differs from the reference's`;
    case 'topk': {
      const tk = t as { class: number; score: number }[];
      const rk = r as { class: number; score: number }[];
      const same = tk.length === rk.length && tk.every((e, i) => e.class === rk[i]!.class && closeScalar(e.score, rk[i]!.score));
      return same ? null : `${name} names or scores classes other than the reference's`;
    }
    default: {
      const never: never = spec.type;
      return String(never);
    }
  }
}

/** The first column where the tab's row and the reference's differ, in words, or null when they agree. */
export function rowDisagreement(columns: readonly Column[], tab: Record<string, unknown>, ref: Record<string, unknown>): string | null {
  for (const c of columns) {
    const d = columnDisagreement(c, tab[c.name], ref[c.name]);
    if (d) return d;
  }
  return null;
}
