/**
 * A bounds-checked decoder for one raw snappy block (the format snappy-java and snappyjs
 * write, as Kafka's snappy batches carry inside xerial framing):
 *
 *   Block   => uncompressedLength:varint Element*
 *   Element => tag:uint8 ...   tag & 3 = 0 literal, 1 copy (1-byte offset),
 *                              2 copy (2-byte offset), 3 copy (4-byte offset)
 *
 * Ours rather than snappyjs's uncompress because that one can spend seconds on a few
 * hundred corrupt bytes: a produce request must never buy that much CPU. Here every
 * element is checked against the input and output bounds, the declared length is checked
 * against the most a block that size can expand to before anything is allocated, and the
 * work is linear in the output.
 */
import { corrupt, tooLarge } from './decompression-limits.ts';

/** A copy element emits at most 64 bytes from 2 input bytes; nothing expands more. */
const MAX_EXPANSION = 32;

function readVarint32(src: Uint8Array, start: number): { value: number; next: number } {
  let value = 0;
  for (let i = 0, shift = 0; i < 5; i++, shift += 7) {
    const byte = src[start + i];
    if (byte === undefined) throw corrupt('snappy: truncated length');
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return { value, next: start + i + 1 };
  }
  throw corrupt('snappy: length varint longer than 5 bytes');
}

/** Decodes one raw snappy block of at most `maxLength` bytes; CORRUPT_MESSAGE on any malformation. */
export function uncompressSnappyBlock(src: Uint8Array, maxLength: number): Uint8Array {
  const { value: length, next } = readVarint32(src, 0);
  if (length > maxLength) throw tooLarge('snappy', maxLength, ` (a block declares ${length} bytes)`);
  if (length > (src.length - next) * MAX_EXPANSION + 64) throw corrupt(`snappy: block of ${src.length} bytes cannot hold ${length}`);
  const out = new Uint8Array(length);
  let s = next;
  let d = 0;
  while (s < src.length) {
    const tag = src[s++] as number;
    const kind = tag & 3;
    if (kind === 0) {
      let len = (tag >>> 2) + 1;
      if (len > 60) {
        const bytes = len - 60;
        if (s + bytes > src.length) throw corrupt('snappy: truncated literal length');
        len = 0;
        for (let i = 0; i < bytes; i++) len += (src[s + i] as number) * 2 ** (8 * i);
        len += 1;
        s += bytes;
      }
      if (s + len > src.length || d + len > length) throw corrupt('snappy: literal overruns the block');
      if (len > 16) {
        out.set(src.subarray(s, s + len), d);
        s += len;
        d += len;
      } else {
        for (let i = 0; i < len; i++) out[d++] = src[s++] as number;
      }
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (s + 1 > src.length) throw corrupt('snappy: truncated copy');
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | (src[s] as number);
      s += 1;
    } else if (kind === 2) {
      if (s + 2 > src.length) throw corrupt('snappy: truncated copy');
      len = (tag >>> 2) + 1;
      offset = (src[s] as number) | ((src[s + 1] as number) << 8);
      s += 2;
    } else {
      if (s + 4 > src.length) throw corrupt('snappy: truncated copy');
      len = (tag >>> 2) + 1;
      offset = ((src[s] as number) | ((src[s + 1] as number) << 8) | ((src[s + 2] as number) << 16)) + (src[s + 3] as number) * 2 ** 24;
      s += 4;
    }
    if (offset === 0 || offset > d) throw corrupt(`snappy: copy offset ${offset} outside the ${d} bytes written`);
    if (d + len > length) throw corrupt('snappy: copy overruns the block');
    if (offset >= len && len > 8) {
      out.copyWithin(d, d - offset, d - offset + len);
      d += len;
    } else {
      // Short copies are cheaper by hand; overlapping ones (offset < len) repeat the last
      // `offset` bytes, so they must go forwards byte by byte.
      for (let i = 0; i < len; i++, d++) out[d] = out[d - offset] as number;
    }
  }
  if (d !== length) throw corrupt(`snappy: block declares ${length} bytes but holds ${d}`);
  return out;
}
