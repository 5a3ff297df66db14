/**
 * What travels on a job's subjects, and how a process tells its own messages from foreign ones.
 *
 * A work unit (one batch) is binary: `[u32 LE header length][header JSON][inline bytes]`; each item
 * is inline bytes, a URL the tab fetches, or a blob in the job's object store (inputs too large for
 * one message). A unit result is JSON: per input, its answer and the actor that gave it. Both are
 * signed with HMAC-SHA256 under the job's secret (kept in the job's state bucket): a message with
 * no or a wrong signature, or failing its schema, is refused with a logged reason.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { executionProviderSchema, itemResultSchema } from '../../shared/protocol.ts';

export const SIGNATURE_HEADER = 'Tabpool-Sig';

// Strict: a blob item (which has a byteLength too) must never read as an inline one.
const unitItem = z.union([
  z.object({ byteLength: z.number().int().nonnegative() }).strict(),
  z
    .object({
      url: z
        .string()
        .max(8192)
        .regex(/^https?:\/\//),
    })
    .strict(),
  z.object({ blob: z.string().max(256), byteLength: z.number().int().nonnegative() }).strict(),
]);
export type UnitItem = z.infer<typeof unitItem>;

const unitHeader = z.object({
  v: z.literal(1),
  unit: z.number().int().nonnegative(),
  ids: z.array(z.string().max(4096)).min(1).max(4096),
  items: z.array(unitItem).min(1).max(4096),
});
export type UnitHeader = z.infer<typeof unitHeader>;

const unitResult = z.object({
  v: z.literal(1),
  unit: z.number().int().nonnegative(),
  gateway: z.string().max(128),
  answers: z
    .array(
      z.object({
        id: z.string().max(4096),
        /** The actor that answered (`gateway/actor-N`), or null for an error the gateway itself gave (retries exhausted, unfetchable). */
        actor: z.string().max(128).nullable(),
        host: z.string().max(128),
        ep: executionProviderSchema.nullable(),
        result: itemResultSchema,
      }),
    )
    .min(1)
    .max(4096),
});
export type UnitResult = z.infer<typeof unitResult>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function sign(secret: string, data: Uint8Array): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** Whether `signature` is `data`'s under `secret` (constant time). */
export function signedBy(secret: string, data: Uint8Array, signature: string | undefined): boolean {
  if (!signature || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return timingSafeEqual(Buffer.from(sign(secret, data), 'hex'), Buffer.from(signature, 'hex'));
}

/** A work unit's bytes: its header, then the inline items' bytes. */
export function encodeUnit(header: UnitHeader, inline: readonly Uint8Array[]): Uint8Array {
  const head = encoder.encode(JSON.stringify(header));
  const total = 4 + head.byteLength + inline.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, head.byteLength, true);
  out.set(head, 4);
  let at = 4 + head.byteLength;
  for (const b of inline) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** A work unit: its header, and each item's bytes (inline), URL or blob name. Never throws. */
export function decodeUnit(
  data: Uint8Array,
): Decoded<{ header: UnitHeader; items: ({ bytes: Uint8Array } | { url: string } | { blob: string })[] }> {
  try {
    if (data.byteLength < 4) return { ok: false, error: 'shorter than its length prefix' };
    const length = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
    if (4 + length > data.byteLength) return { ok: false, error: `header claims ${length} bytes, the message has ${data.byteLength - 4}` };
    const parsed = unitHeader.safeParse(JSON.parse(decoder.decode(data.subarray(4, 4 + length))));
    if (!parsed.success) return { ok: false, error: firstIssues(parsed.error) };
    const header = parsed.data;
    if (header.ids.length !== header.items.length) return { ok: false, error: `${header.ids.length} ids for ${header.items.length} items` };
    let at = 4 + length;
    const items = header.items.map((item) => {
      if ('url' in item) return { url: item.url };
      if ('blob' in item) return { blob: item.blob };
      const bytes = data.subarray(at, at + item.byteLength);
      at += item.byteLength;
      return { bytes };
    });
    if (at !== data.byteLength) return { ok: false, error: `item lengths add up to ${at}, the message has ${data.byteLength}` };
    return { ok: true, value: { header, items } };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

export function encodeResult(result: UnitResult): Uint8Array {
  return encoder.encode(JSON.stringify(result));
}

/** A unit result. Never throws. */
export function decodeResult(data: Uint8Array): Decoded<UnitResult> {
  try {
    const parsed = unitResult.safeParse(JSON.parse(decoder.decode(data)));
    if (!parsed.success) return { ok: false, error: firstIssues(parsed.error) };
    return { ok: true, value: parsed.data };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** The first two things a schema found wrong, each with its field: a refused message's logged reason. */
function firstIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 2)
    .map((i) => `${i.path.join('.')}: ${i.message}`)
    .join('; ');
}
