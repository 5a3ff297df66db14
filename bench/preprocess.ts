/**
 * `node --import tsx bench/preprocess.ts [width height count rounds]`: milliseconds per image of
 * shared/preprocess.ts alone (no decode), on seeded RGBA images (default 30 of 640×480 → 224).
 * Prints the median round's wall and CPU time.
 */
import { preprocessInto, preprocessSpecFor, type Pixels } from '../shared/preprocess.ts';

const [width = 640, height = 480, count = 30, rounds = 15] = process.argv.slice(2).map(Number);

function image(seed: number): Pixels {
  const data = new Uint8Array(width * height * 4);
  let s = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const i = (y * width + x) * 4;
      // Smooth gradients plus a little noise, like a photograph more than like static.
      data[i] = (x * 255) / width + ((s >>> 28) & 7);
      data[i + 1] = (y * 255) / height + ((s >>> 24) & 7);
      data[i + 2] = ((x + y) * 127) / (width + height) + ((s >>> 20) & 7);
      data[i + 3] = 255;
    }
  }
  return { width, height, channels: 4, data };
}

const images = Array.from({ length: count }, (_, i) => image(i + 1));
const spec = preprocessSpecFor(224, 224);
const out = new Float32Array(3 * 224 * 224);
const wall: number[] = [];
const cpu: number[] = [];
for (let r = 0; r < rounds; r++) {
  const start = performance.now();
  const startCpu = process.cpuUsage();
  for (const px of images) preprocessInto(px, spec, out, 0);
  cpu.push(process.cpuUsage(startCpu).user / 1000 / count);
  wall.push((performance.now() - start) / count);
}
const median = (xs: number[]): string => xs.sort((a, b) => a - b)[xs.length >> 1]!.toFixed(3);
// CPU time too: on a shared machine, wall time also counts the time other processes had the core.
console.log(
  `${count} images ${width}×${height} → 224: ${median(wall)} ms/image wall, ${median(cpu)} ms/image CPU (medians of ${rounds} rounds)`,
);
