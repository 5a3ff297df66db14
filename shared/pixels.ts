/** Decoded pixels, row-major, interleaved; alpha (when present) is ignored as PIL's convert('RGB') does. */
export interface Pixels {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}
