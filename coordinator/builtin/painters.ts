/**
 * Procedural picture content for the sample dataset: gradients, stripes, checkerboards, rings,
 * smooth colour noise, mosaics, simple landscapes and shapes, each drawn from a seeded `Prng`.
 *
 * Only +, -, *, /, Math.sqrt, Math.floor and Math.round touch a pixel value, all of which IEEE 754
 * and ECMAScript define exactly, so a picture is the same bits on every machine.
 */
import { Prng } from './prng.ts';

/** RGB in 0..255 (not yet rounded), row-major, interleaved. */
export interface Canvas {
  width: number;
  height: number;
  data: Float64Array;
}

type Rgb = [number, number, number];

export const BACKGROUNDS = [
  'linear-gradient',
  'radial-gradient',
  'stripes',
  'checkerboard',
  'rings',
  'colour-noise',
  'mosaic',
  'waves',
  'landscape',
  'colour-field',
  'plaid',
  'polka-dots',
] as const;

export type Background = (typeof BACKGROUNDS)[number];

function colour(r: Prng): Rgb {
  // Half the colours saturated (one channel high, one low) so the set is not all muddy greys.
  if (r.chance(0.5)) {
    const c: Rgb = [r.range(0, 255), r.range(0, 255), r.range(0, 255)];
    c[r.int(3)] = r.range(200, 255);
    c[r.int(3)] = r.range(0, 50);
    return c;
  }
  return [r.range(0, 255), r.range(0, 255), r.range(0, 255)];
}

function palette(r: Prng, n: number): Rgb[] {
  return Array.from({ length: n }, () => colour(r));
}

/** A unit vector in a random direction, drawn without trigonometry. */
function direction(r: Prng): [number, number] {
  for (;;) {
    const x = r.range(-1, 1);
    const y = r.range(-1, 1);
    const n2 = x * x + y * y;
    if (n2 > 0.01 && n2 <= 1) {
      const n = Math.sqrt(n2);
      return [x / n, y / n];
    }
  }
}

function clamp01(t: number): number {
  return t < 0 ? 0 : t > 1 ? 1 : t;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** Triangle wave with period 1 and range [0, 1]: a trigonometry-free stand-in for a sine. */
function tri(t: number): number {
  const f = t - Math.floor(t);
  return f < 0.5 ? 2 * f : 2 - 2 * f;
}

function set(c: Canvas, o: number, rgb: Rgb): void {
  c.data[o] = rgb[0];
  c.data[o + 1] = rgb[1];
  c.data[o + 2] = rgb[2];
}

function mixInto(c: Canvas, o: number, a: Rgb, b: Rgb, t: number): void {
  c.data[o] = a[0] + (b[0] - a[0]) * t;
  c.data[o + 1] = a[1] + (b[1] - a[1]) * t;
  c.data[o + 2] = a[2] + (b[2] - a[2]) * t;
}

function blend(c: Canvas, o: number, rgb: Rgb, alpha: number): void {
  c.data[o] = c.data[o]! + (rgb[0] - c.data[o]!) * alpha;
  c.data[o + 1] = c.data[o + 1]! + (rgb[1] - c.data[o + 1]!) * alpha;
  c.data[o + 2] = c.data[o + 2]! + (rgb[2] - c.data[o + 2]!) * alpha;
}

function eachPixel(c: Canvas, f: (x: number, y: number, o: number) => void): void {
  for (let y = 0, o = 0; y < c.height; y++) for (let x = 0; x < c.width; x++, o += 3) f(x, y, o);
}

function linearGradient(c: Canvas, r: Prng): void {
  const [dx, dy] = direction(r);
  const stops = palette(r, r.intBetween(2, 3));
  const span = Math.abs(c.width * dx) + Math.abs(c.height * dy);
  eachPixel(c, (x, y, o) => {
    const t = clamp01(((x - c.width / 2) * dx + (y - c.height / 2) * dy) / span + 0.5) * (stops.length - 1);
    const i = Math.min(Math.floor(t), stops.length - 2);
    mixInto(c, o, stops[i]!, stops[i + 1]!, t - i);
  });
}

function radialGradient(c: Canvas, r: Prng): void {
  const cx = r.range(0, c.width);
  const cy = r.range(0, c.height);
  const radius = r.range(0.3, 1.2) * Math.max(c.width, c.height);
  const [inner, outer] = palette(r, 2) as [Rgb, Rgb];
  eachPixel(c, (x, y, o) => {
    const d = Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
    mixInto(c, o, inner, outer, clamp01(d / radius));
  });
}

function stripes(c: Canvas, r: Prng): void {
  const [dx, dy] = r.chance(0.5)
    ? r.pick<[number, number]>([
        [1, 0],
        [0, 1],
      ])
    : direction(r);
  const period = r.range(3, 48);
  const colours = palette(r, r.intBetween(2, 4));
  eachPixel(c, (x, y, o) => set(c, o, colours[mod(Math.floor((x * dx + y * dy) / period), colours.length)]!));
}

function checkerboard(c: Canvas, r: Prng): void {
  const [dx, dy] = r.chance(0.6) ? [1, 0] : direction(r);
  const cell = r.range(4, 64);
  const [a, b] = palette(r, 2) as [Rgb, Rgb];
  eachPixel(c, (x, y, o) => {
    const u = Math.floor((x * dx + y * dy) / cell);
    const v = Math.floor((y * dx - x * dy) / cell);
    set(c, o, mod(u + v, 2) === 0 ? a : b);
  });
}

function rings(c: Canvas, r: Prng): void {
  const cx = r.range(0, c.width);
  const cy = r.range(0, c.height);
  const period = r.range(4, 40);
  const colours = palette(r, r.intBetween(2, 5));
  eachPixel(c, (x, y, o) => {
    const d = Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
    set(c, o, colours[Math.floor(d / period) % colours.length]!);
  });
}

function colourNoise(c: Canvas, r: Prng): void {
  const gx = r.intBetween(2, 9);
  const gy = r.intBetween(2, 9);
  const grid = Array.from({ length: (gx + 1) * (gy + 1) }, () => colour(r));
  const smooth = (t: number): number => t * t * (3 - 2 * t);
  eachPixel(c, (x, y, o) => {
    const fx = (x / c.width) * gx;
    const fy = (y / c.height) * gy;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    const tx = smooth(fx - ix);
    const ty = smooth(fy - iy);
    const p00 = grid[iy * (gx + 1) + ix]!;
    const p10 = grid[iy * (gx + 1) + ix + 1]!;
    const p01 = grid[(iy + 1) * (gx + 1) + ix]!;
    const p11 = grid[(iy + 1) * (gx + 1) + ix + 1]!;
    for (let k = 0; k < 3; k++) {
      const top = p00[k]! + (p10[k]! - p00[k]!) * tx;
      const bottom = p01[k]! + (p11[k]! - p01[k]!) * tx;
      c.data[o + k] = top + (bottom - top) * ty;
    }
  });
}

function mosaic(c: Canvas, r: Prng): void {
  const seeds = Array.from({ length: r.intBetween(5, 40) }, () => ({ x: r.range(0, c.width), y: r.range(0, c.height), rgb: colour(r) }));
  eachPixel(c, (x, y, o) => {
    let best = Infinity;
    let rgb = seeds[0]!.rgb;
    for (const s of seeds) {
      const d = (x - s.x) * (x - s.x) + (y - s.y) * (y - s.y);
      if (d < best) {
        best = d;
        rgb = s.rgb;
      }
    }
    set(c, o, rgb);
  });
}

function waves(c: Canvas, r: Prng): void {
  const period = r.range(8, 60);
  const wavelength = r.range(20, 200);
  const amplitude = r.range(4, 40);
  const colours = palette(r, r.intBetween(2, 4));
  const vertical = r.chance(0.5);
  eachPixel(c, (x, y, o) => {
    const [u, v] = vertical ? [x, y] : [y, x];
    const t = (u + amplitude * tri(v / wavelength)) / period;
    const i = mod(Math.floor(t), colours.length);
    mixInto(c, o, colours[i]!, colours[(i + 1) % colours.length]!, tri(t) * 0.3);
  });
}

function landscape(c: Canvas, r: Prng): void {
  const horizon = r.range(0.35, 0.75) * c.height;
  const [skyTop, skyLow, groundNear, groundFar, sun] = palette(r, 5) as [Rgb, Rgb, Rgb, Rgb, Rgb];
  const sx = r.range(0, c.width);
  const sy = r.range(0.1, 0.6) * horizon;
  const sunRadius = r.range(0.04, 0.15) * c.width;
  const ridges = Array.from({ length: r.intBetween(1, 3) }, () => ({
    base: horizon - r.range(0, 0.3) * c.height,
    height: r.range(0.05, 0.25) * c.height,
    wavelength: r.range(0.2, 1) * c.width,
    phase: r.uniform(),
    rgb: colour(r),
  }));
  eachPixel(c, (x, y, o) => {
    if (y < horizon) {
      mixInto(c, o, skyTop, skyLow, y / horizon);
      if ((x - sx) * (x - sx) + (y - sy) * (y - sy) < sunRadius * sunRadius) set(c, o, sun);
      for (const m of ridges) if (y > m.base - m.height * tri(x / m.wavelength + m.phase)) set(c, o, m.rgb);
    } else {
      mixInto(c, o, groundFar, groundNear, (y - horizon) / (c.height - horizon));
    }
  });
}

function colourField(c: Canvas, r: Prng): void {
  const rgb = colour(r);
  eachPixel(c, (_x, _y, o) => set(c, o, rgb));
}

function plaid(c: Canvas, r: Prng): void {
  const [a, b, base] = palette(r, 3) as [Rgb, Rgb, Rgb];
  const px = r.range(10, 60);
  const py = r.range(10, 60);
  const wx = r.range(0.2, 0.6);
  const wy = r.range(0.2, 0.6);
  eachPixel(c, (x, y, o) => {
    set(c, o, base);
    if ((x / px) % 1 < wx) blend(c, o, a, 0.6);
    if ((y / py) % 1 < wy) blend(c, o, b, 0.5);
  });
}

function polkaDots(c: Canvas, r: Prng): void {
  const [back, dot] = palette(r, 2) as [Rgb, Rgb];
  const spacing = r.range(12, 70);
  const radius = r.range(0.15, 0.45) * spacing;
  const stagger = r.chance(0.5) ? spacing / 2 : 0;
  eachPixel(c, (x, y, o) => {
    const row = Math.floor(y / spacing);
    const ox = mod(x + (row % 2) * stagger, spacing) - spacing / 2;
    const oy = mod(y, spacing) - spacing / 2;
    set(c, o, ox * ox + oy * oy < radius * radius ? dot : back);
  });
}

const PAINT: Readonly<Record<Background, (c: Canvas, r: Prng) => void>> = {
  'linear-gradient': linearGradient,
  'radial-gradient': radialGradient,
  stripes,
  checkerboard,
  rings,
  'colour-noise': colourNoise,
  mosaic,
  waves,
  landscape,
  'colour-field': colourField,
  plaid,
  'polka-dots': polkaDots,
};

/** Draws one to `count` filled shapes (circle, ellipse, box, rotated box, triangle) over the canvas. */
function shapes(c: Canvas, r: Prng, count: number): void {
  const scale = Math.min(c.width, c.height);
  for (let s = 0; s < count; s++) {
    const rgb = colour(r);
    const alpha = r.chance(0.6) ? 1 : r.range(0.4, 0.9);
    const cx = r.range(0, c.width);
    const cy = r.range(0, c.height);
    const a = r.range(0.05, 0.4) * scale;
    const b = r.range(0.05, 0.4) * scale;
    const [dx, dy] = direction(r);
    const kind = r.int(5);
    const t = [r.range(-1, 1), r.range(-1, 1), r.range(-1, 1), r.range(-1, 1), r.range(-1, 1), r.range(-1, 1)].map((v) => v * a * 1.5);
    const inside = (x: number, y: number): boolean => {
      const u = x - cx;
      const v = y - cy;
      switch (kind) {
        case 0:
          return u * u + v * v < a * a;
        case 1:
          return (u * u) / (a * a) + (v * v) / (b * b) < 1;
        case 2:
          return Math.abs(u) < a && Math.abs(v) < b;
        case 3:
          return Math.abs(u * dx + v * dy) < a && Math.abs(v * dx - u * dy) < b / 2;
        default: {
          const [x0, y0, x1, y1, x2, y2] = t as [number, number, number, number, number, number];
          const e0 = (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0);
          const e1 = (x2 - x1) * (v - y1) - (y2 - y1) * (u - x1);
          const e2 = (x0 - x2) * (v - y2) - (y0 - y2) * (u - x2);
          return (e0 >= 0 && e1 >= 0 && e2 >= 0) || (e0 <= 0 && e1 <= 0 && e2 <= 0);
        }
      }
    };
    const reach = 2 * Math.max(a, b);
    const x0 = Math.max(0, Math.floor(cx - reach));
    const x1 = Math.min(c.width, Math.ceil(cx + reach));
    const y0 = Math.max(0, Math.floor(cy - reach));
    const y1 = Math.min(c.height, Math.ceil(cy + reach));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) if (inside(x, y)) blend(c, (y * c.width + x) * 3, rgb, alpha);
    }
  }
}

/** Adds triangular-distributed noise of the given amplitude, per channel or as luminance grain. */
function noise(c: Canvas, r: Prng, amplitude: number): void {
  const colourful = r.chance(0.5);
  for (let o = 0; o < c.data.length; o += 3) {
    if (colourful) {
      for (let k = 0; k < 3; k++) c.data[o + k] = c.data[o + k]! + (r.uniform() - r.uniform()) * amplitude;
    } else {
      const n = (r.uniform() - r.uniform()) * amplitude;
      for (let k = 0; k < 3; k++) c.data[o + k] = c.data[o + k]! + n;
    }
  }
}

/** How one picture is drawn; all of it follows from the seed the caller gives `paint`. */
export interface PaintOptions {
  width: number;
  height: number;
  background: Background;
  /** Shapes drawn over the background. */
  shapes: number;
  /** Peak noise amplitude in 8-bit levels; 0 for none. */
  noise: number;
}

/** Paints a picture and rounds it to 8-bit RGB. */
export function paint(options: PaintOptions, r: Prng): Uint8Array {
  const c: Canvas = { width: options.width, height: options.height, data: new Float64Array(options.width * options.height * 3) };
  PAINT[options.background](c, r);
  if (options.shapes > 0) shapes(c, r, options.shapes);
  if (options.noise > 0) noise(c, r, options.noise);
  const out = new Uint8Array(c.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.round(c.data[i]!);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}
