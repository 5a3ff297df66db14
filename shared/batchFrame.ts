/**
 * Binary batch frames: `[u32 LE header length][header JSON, UTF-8][item bytes, concatenated]`.
 * Image bytes go over the wire as they are on disk: no base64, no JSON arrays of numbers. An input
 * already on HTTP or object storage travels as its URL alone (the tab fetches it itself), so the
 * coordinator's link does not carry its bytes.
 */
import type { BatchHeader } from './protocol.ts';

/** One input of a batch: its bytes, or the URL the tab fetches them from. */
export type BatchInput = Uint8Array | { url: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeBatchFrame(batchId: number, ids: readonly string[], items: readonly BatchInput[]): Uint8Array {
  const header: BatchHeader = {
    type: 'batch',
    batchId,
    ids: [...ids],
    items: items.map((b) => ('url' in b ? { url: b.url } : { byteLength: b.byteLength })),
  };
  const headerBytes = encoder.encode(JSON.stringify(header));
  let total = 4 + headerBytes.byteLength;
  for (const b of items) if (!('url' in b)) total += b.byteLength;
  const frame = new Uint8Array(total);
  new DataView(frame.buffer).setUint32(0, headerBytes.byteLength, true);
  frame.set(headerBytes, 4);
  let offset = 4 + headerBytes.byteLength;
  for (const b of items) {
    if ('url' in b) continue;
    frame.set(b, offset);
    offset += b.byteLength;
  }
  return frame;
}

export interface DecodedBatchFrame {
  header: unknown;
  /** Where the item bytes start in the frame. */
  payloadOffset: number;
}

/** Splits a frame into its (still unvalidated) header and the payload offset. */
export function decodeBatchFrame(frame: Uint8Array): DecodedBatchFrame {
  if (frame.byteLength < 4) throw new RangeError(`batch frame of ${frame.byteLength} bytes is shorter than its 4-byte length prefix`);
  const headerLength = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0, true);
  if (4 + headerLength > frame.byteLength) {
    throw new RangeError(`batch frame header claims ${headerLength} bytes but the frame has ${frame.byteLength - 4}`);
  }
  const header: unknown = JSON.parse(decoder.decode(frame.subarray(4, 4 + headerLength)));
  return { header, payloadOffset: 4 + headerLength };
}

/** Slices the payload into item views (URL items as they are), checking the declared lengths add up to the frame. */
export function sliceItems(frame: Uint8Array, payloadOffset: number, header: BatchHeader): BatchInput[] {
  const out: BatchInput[] = [];
  let offset = payloadOffset;
  for (const [i, item] of header.items.entries()) {
    if ('url' in item) {
      out.push({ url: item.url });
      continue;
    }
    if (offset + item.byteLength > frame.byteLength) {
      throw new RangeError(`items[${i}].byteLength ${item.byteLength} runs past the end of the frame`);
    }
    out.push(frame.subarray(offset, offset + item.byteLength));
    offset += item.byteLength;
  }
  if (offset !== frame.byteLength) throw new RangeError(`batch frame has ${frame.byteLength - offset} trailing bytes`);
  return out;
}
