/**
 * A batch for the Node copy of an actor, made from input bytes exactly as a tab makes it
 * (web/worker/prepareBatch.ts): images decoded by the shared code (shared/decode/imageInput.ts,
 * libvips for what a browser decodes natively) and preprocessed, or handed over as raw RGB pixels;
 * records parsed; files as they are. An input that cannot be made ready here is left out (the
 * caller gets null for it: the verifier never counts it as compared).
 */
import type { ActorBatch, ActorInputs, RgbImage } from '../../shared/actorApi.ts';
import { toRgb } from '../../shared/decode/imageInput.ts';
import { preprocessInto, type ImagePreprocess } from '../../shared/preprocess.ts';
import { decodeForReference } from './nodeDecode.ts';

/** What the job's inputs are and how images are made ready (the JobContent fields). */
export interface InputKind {
  inputs: ActorInputs;
  preprocess: ImagePreprocess | null;
  exifTranspose: boolean;
}

/** The batch `call` gets, and the index of each input in it (the others could not be made ready). */
export async function batchFor(
  inputs: readonly { id: string; bytes: Uint8Array }[],
  kind: InputKind,
): Promise<{ batch: ActorBatch; ready: number[] }> {
  const ready: number[] = [];
  const ids = (): string[] => ready.map((i) => inputs[i]!.id);
  switch (kind.inputs) {
    case 'image': {
      const p = kind.preprocess;
      if (p === null) throw new Error('image inputs need a preprocessing');
      if (p === 'none') {
        const pixels: RgbImage[] = [];
        for (const [i, input] of inputs.entries()) {
          const decoded = await decodeForReference(input.bytes, kind);
          if (!decoded) continue;
          pixels.push(toRgb(decoded));
          ready.push(i);
        }
        return { batch: { ids: ids(), size: ready.length, pixels }, ready };
      }
      const per = 3 * p.height * p.width;
      const images = new Float32Array(inputs.length * per);
      for (const [i, input] of inputs.entries()) {
        const decoded = await decodeForReference(input.bytes, kind);
        if (!decoded) continue;
        preprocessInto(decoded, p, images, ready.length * per);
        ready.push(i);
      }
      return {
        batch: {
          ids: ids(),
          size: ready.length,
          images: images.subarray(0, ready.length * per),
          shape: [ready.length, 3, p.height, p.width],
        },
        ready,
      };
    }
    case 'record': {
      const records: Record<string, unknown>[] = [];
      for (const [i, input] of inputs.entries()) {
        try {
          const value: unknown = JSON.parse(new TextDecoder().decode(input.bytes));
          if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
          records.push(value as Record<string, unknown>);
          ready.push(i);
        } catch {
          // Not a record here either: the tab's answer (a BAD_RECORD row) is not compared.
        }
      }
      return { batch: { ids: ids(), size: ready.length, records }, ready };
    }
    case 'file': {
      const files = inputs.map((input) => Uint8Array.from(input.bytes));
      inputs.forEach((_, i) => ready.push(i));
      return { batch: { ids: ids(), size: ready.length, files }, ready };
    }
    default: {
      const never: never = kind.inputs;
      throw new Error(`unknown inputs ${String(never)}`);
    }
  }
}
