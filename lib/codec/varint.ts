/**
 * Zigzag varints as Kafka's ByteUtils writes them (readVarint/writeVarint for int32,
 * readVarlong/writeVarlong for int64), used by every field of a v2 Record.
 *
 *   zigzag(v) = (v << 1) ^ (v >> 63)   then 7 bits per byte, least significant first,
 *                                      high bit set on every byte but the last
 *
 * Varlongs are JS numbers, exact up to Number.MAX_SAFE_INTEGER (2^53 - 1); a varlong
 * outside that range is rejected rather than silently rounded, because the only varlongs
 * in a batch are timestamp deltas, which are far smaller for any real timestamp.
 */
import { SluiceError } from '../errors.ts';

/** A read position inside `buf[pos, end)`: readers advance `pos` and never read at or past `end`. */
export interface Cursor {
  pos: number;
  end: number;
}

// Kafka's ByteUtils rejects a varint with a 6th byte and a varlong with an 11th.
const MAX_VARINT_BYTES = 5;
const MAX_VARLONG_BYTES = 10;

function truncated(kind: string, at: number): SluiceError {
  return new SluiceError('CORRUPT_MESSAGE', `truncated ${kind} at byte ${at}`);
}

/** Bytes `writeVarint` needs for the int32 `value`. */
export function sizeOfVarint(value: number): number {
  const v = ((value << 1) ^ (value >> 31)) >>> 0;
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Writes the int32 `value` as a zigzag varint at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** Reads a zigzag varint (int32) at `c.pos` and advances past it. Throws CORRUPT_MESSAGE. */
export function readVarint(buf: Uint8Array, c: Cursor): number {
  let pos = c.pos;
  const end = c.end;
  let raw = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= end) throw truncated('varint', pos);
    const b = buf[pos++]!;
    // At shift 28 the top bits of the 5th byte fall off the int32, exactly as in Java.
    raw |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    if (shift === 7 * (MAX_VARINT_BYTES - 1)) {
      throw new SluiceError('CORRUPT_MESSAGE', `varint longer than ${MAX_VARINT_BYTES} bytes at byte ${c.pos}`);
    }
  }
  c.pos = pos;
  return (raw >>> 1) ^ -(raw & 1);
}

/** Bytes `writeVarlong` needs for the safe integer `value`. */
export function sizeOfVarlong(value: number): number {
  // For int32 values the 64-bit zigzag equals the 32-bit one.
  if ((value | 0) === value) return sizeOfVarint(value);
  // zigzag(v) = 2 * magnitude + sign, so the first byte holds the sign and 6 magnitude bits.
  let magnitude = Math.floor((value < 0 ? -value - 1 : value) / 64);
  let size = 1;
  while (magnitude > 0) {
    size++;
    magnitude = Math.floor(magnitude / 128);
  }
  return size;
}

/** Writes the safe integer `value` as a zigzag varlong at `pos`; returns the position after it. */
export function writeVarlong(buf: Uint8Array, pos: number, value: number): number {
  if ((value | 0) === value) return writeVarint(buf, pos, value);
  // Doubling a 53-bit magnitude would round, so the sign bit is placed by hand instead.
  const sign = value < 0 ? 1 : 0;
  let magnitude = sign === 1 ? -value - 1 : value;
  let byte = ((magnitude % 64) << 1) | sign;
  magnitude = Math.floor(magnitude / 64);
  while (magnitude > 0) {
    buf[pos++] = byte | 0x80;
    byte = magnitude % 128;
    magnitude = Math.floor(magnitude / 128);
  }
  buf[pos++] = byte;
  return pos;
}

/** Reads a zigzag varlong (int64) at `c.pos` as a safe integer and advances past it. Throws CORRUPT_MESSAGE. */
export function readVarlong(buf: Uint8Array, c: Cursor): number {
  let pos = c.pos;
  const end = c.end;
  if (pos >= end) throw truncated('varlong', pos);
  let b = buf[pos++]!;
  if (b < 0x80) {
    c.pos = pos;
    return (b >>> 1) ^ -(b & 1);
  }
  // Accumulate the magnitude (zigzag >> 1) so every partial sum below 2^53 stays exact.
  const sign = b & 1;
  let magnitude = (b & 0x7e) >>> 1;
  let scale = 64;
  for (let i = 1; ; i++) {
    if (pos >= end) throw truncated('varlong', pos);
    b = buf[pos++]!;
    magnitude += (b & 0x7f) * scale;
    if (b < 0x80) break;
    if (i === MAX_VARLONG_BYTES - 1) {
      throw new SluiceError('CORRUPT_MESSAGE', `varlong longer than ${MAX_VARLONG_BYTES} bytes at byte ${c.pos}`);
    }
    scale *= 128;
  }
  if (magnitude > Number.MAX_SAFE_INTEGER - sign) {
    throw new SluiceError('CORRUPT_MESSAGE', `varlong at byte ${c.pos} is outside the safe integer range (±2^53)`);
  }
  c.pos = pos;
  return sign === 1 ? -magnitude - 1 : magnitude;
}
