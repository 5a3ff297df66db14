/**
 * The few CNN kernels the calibration pass needs, in plain JavaScript over Float64Array. Every sum
 * runs in a fixed order and JavaScript never fuses a multiply into an add, so the results are the
 * same bits on every machine: that is what makes the built-in model's bytes reproducible.
 *
 * Convolution is im2col followed by a 4x4 register-blocked matrix product (about 2.5 GMAC/s on
 * one core, three times a direct loop).
 */

/** One image's activations, channel-major: `data[(c * height + y) * width + x]`. */
export interface FeatureMap {
  channels: number;
  height: number;
  width: number;
  data: Float64Array;
}

export interface ConvGeometry {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
}

/** Convolution weights repacked as [outChannels / 4][inChannels * kernel²][4], zero-padded to a multiple of 4. */
export interface PackedConv {
  geometry: ConvGeometry;
  packed: Float64Array;
  /** outChannels rounded up to a multiple of 4. */
  blockedOut: number;
}

export function packConv(weight: Float32Array, geometry: ConvGeometry): PackedConv {
  const { inChannels, outChannels, kernel } = geometry;
  const depth = inChannels * kernel * kernel;
  if (weight.length !== outChannels * depth)
    throw new RangeError(`conv weight has ${weight.length} values, expected ${outChannels * depth}`);
  const blockedOut = (outChannels + 3) & ~3;
  const packed = new Float64Array(blockedOut * depth);
  for (let oc = 0; oc < outChannels; oc++) {
    const base = (oc >> 2) * depth * 4 + (oc & 3);
    for (let k = 0; k < depth; k++) packed[base + k * 4] = weight[oc * depth + k]!;
  }
  return { geometry, packed, blockedOut };
}

function im2col(x: FeatureMap, g: ConvGeometry, outH: number, outW: number): Float64Array {
  const { kernel, stride, pad } = g;
  const { channels, height, width, data } = x;
  const positions = outH * outW;
  const cols = new Float64Array(channels * kernel * kernel * positions);
  for (let c = 0; c < channels; c++) {
    for (let kh = 0; kh < kernel; kh++) {
      for (let kw = 0; kw < kernel; kw++) {
        const row = ((c * kernel + kh) * kernel + kw) * positions;
        for (let oy = 0; oy < outH; oy++) {
          const iy = oy * stride + kh - pad;
          if (iy < 0 || iy >= height) continue;
          const src = (c * height + iy) * width;
          const dst = row + oy * outW;
          for (let ox = 0; ox < outW; ox++) {
            const ix = ox * stride + kw - pad;
            if (ix >= 0 && ix < width) cols[dst + ox] = data[src + ix]!;
          }
        }
      }
    }
  }
  return cols;
}

export function conv2d(x: FeatureMap, conv: PackedConv): FeatureMap {
  const g = conv.geometry;
  if (x.channels !== g.inChannels) throw new RangeError(`conv expects ${g.inChannels} channels, got ${x.channels}`);
  const outH = Math.floor((x.height + 2 * g.pad - g.kernel) / g.stride) + 1;
  const outW = Math.floor((x.width + 2 * g.pad - g.kernel) / g.stride) + 1;
  const n = outH * outW;
  const depth = g.inChannels * g.kernel * g.kernel;
  const cols = im2col(x, g, outH, outW);
  const w = conv.packed;
  const out = new Float64Array(conv.blockedOut * n);
  const n4 = n & ~3;
  for (let ob = 0; ob < conv.blockedOut; ob += 4) {
    const wBase = ob * depth;
    for (let p = 0; p < n4; p += 4) {
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0;
      let c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0;
      let c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let k = 0, ai = p, wi = wBase; k < depth; k++, ai += n, wi += 4) {
        const a0 = cols[ai]!,
          a1 = cols[ai + 1]!,
          a2 = cols[ai + 2]!,
          a3 = cols[ai + 3]!;
        const w0 = w[wi]!,
          w1 = w[wi + 1]!,
          w2 = w[wi + 2]!,
          w3 = w[wi + 3]!;
        c00 += w0 * a0;
        c01 += w0 * a1;
        c02 += w0 * a2;
        c03 += w0 * a3;
        c10 += w1 * a0;
        c11 += w1 * a1;
        c12 += w1 * a2;
        c13 += w1 * a3;
        c20 += w2 * a0;
        c21 += w2 * a1;
        c22 += w2 * a2;
        c23 += w2 * a3;
        c30 += w3 * a0;
        c31 += w3 * a1;
        c32 += w3 * a2;
        c33 += w3 * a3;
      }
      let o = ob * n + p;
      out[o] = c00;
      out[o + 1] = c01;
      out[o + 2] = c02;
      out[o + 3] = c03;
      o += n;
      out[o] = c10;
      out[o + 1] = c11;
      out[o + 2] = c12;
      out[o + 3] = c13;
      o += n;
      out[o] = c20;
      out[o + 1] = c21;
      out[o + 2] = c22;
      out[o + 3] = c23;
      o += n;
      out[o] = c30;
      out[o + 1] = c31;
      out[o + 2] = c32;
      out[o + 3] = c33;
    }
    for (let p = n4; p < n; p++) {
      for (let j = 0; j < 4; j++) {
        let acc = 0;
        for (let k = 0; k < depth; k++) acc += w[wBase + k * 4 + j]! * cols[k * n + p]!;
        out[(ob + j) * n + p] = acc;
      }
    }
  }
  const data = conv.blockedOut === g.outChannels ? out : out.slice(0, g.outChannels * n);
  return { channels: g.outChannels, height: outH, width: outW, data };
}

/** Per-channel mean and (population) variance over a batch of maps, summed in image, then pixel order. */
export function channelStats(maps: readonly FeatureMap[]): { mean: Float64Array; variance: Float64Array } {
  const first = maps[0];
  if (!first) throw new RangeError('channelStats() needs at least one map');
  const { channels } = first;
  const plane = first.height * first.width;
  const count = maps.length * plane;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (const m of maps) for (let i = c * plane, end = i + plane; i < end; i++) sum += m.data[i]!;
    const mu = sum / count;
    let sq = 0;
    for (const m of maps) {
      for (let i = c * plane, end = i + plane; i < end; i++) {
        const d = m.data[i]! - mu;
        sq += d * d;
      }
    }
    mean[c] = mu;
    variance[c] = sq / count;
  }
  return { mean, variance };
}

/** In place: y = (x - mean) * scale + bias per channel, as inference-mode BatchNormalization. */
export function batchNormInPlace(x: FeatureMap, scale: Float64Array, shift: Float64Array): void {
  const plane = x.height * x.width;
  for (let c = 0; c < x.channels; c++) {
    const s = scale[c]!;
    const b = shift[c]!;
    for (let i = c * plane, end = i + plane; i < end; i++) x.data[i] = x.data[i]! * s + b;
  }
}

export function reluInPlace(x: FeatureMap): void {
  const d = x.data;
  for (let i = 0; i < d.length; i++) if (!(d[i]! > 0)) d[i] = 0;
}

export function addInPlace(x: FeatureMap, y: FeatureMap): void {
  if (x.data.length !== y.data.length) throw new RangeError('add() of maps of different shapes');
  for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i]! + y.data[i]!;
}

/** MaxPool, padding counted as -Infinity as ONNX does. */
export function maxPool(x: FeatureMap, kernel: number, stride: number, pad: number): FeatureMap {
  const outH = Math.floor((x.height + 2 * pad - kernel) / stride) + 1;
  const outW = Math.floor((x.width + 2 * pad - kernel) / stride) + 1;
  const out = new Float64Array(x.channels * outH * outW);
  for (let c = 0; c < x.channels; c++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let m = -Infinity;
        for (let kh = 0; kh < kernel; kh++) {
          const iy = oy * stride + kh - pad;
          if (iy < 0 || iy >= x.height) continue;
          for (let kw = 0; kw < kernel; kw++) {
            const ix = ox * stride + kw - pad;
            if (ix < 0 || ix >= x.width) continue;
            const v = x.data[(c * x.height + iy) * x.width + ix]!;
            if (v > m) m = v;
          }
        }
        out[(c * outH + oy) * outW + ox] = m;
      }
    }
  }
  return { channels: x.channels, height: outH, width: outW, data: out };
}

export function globalAveragePool(x: FeatureMap): Float64Array {
  const plane = x.height * x.width;
  const out = new Float64Array(x.channels);
  for (let c = 0; c < x.channels; c++) {
    let sum = 0;
    for (let i = c * plane, end = i + plane; i < end; i++) sum += x.data[i]!;
    out[c] = sum / plane;
  }
  return out;
}
