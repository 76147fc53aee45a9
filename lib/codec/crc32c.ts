/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of a RecordBatch v2
 * (KIP-98). Node has no built-in CRC-32C (zlib.crc32 is the IEEE polynomial), so there are two
 * implementations behind one function:
 *
 * - native: @node-rs/crc32, an optional dependency with prebuilt binaries that use the CPU's
 *   CRC-32C instructions (SSE4.2, ARMv8), ~6 GB/s on the bench machine. Used for inputs of
 *   NATIVE_MIN_BYTES and more when its binary for this platform is installed and computes the
 *   check value right. The Lambda bundle does not carry it (esbuild inlines no .node file and
 *   the binary would be the build machine's), so functions use the portable code.
 * - portable: table-driven "slicing-by-16", sixteen 256-entry tables that let one step consume
 *   16 bytes read as four aligned little-endian int32 words, ~1.9 GB/s on V8 against ~0.4 GB/s
 *   for the one-byte-at-a-time loop. (WebAssembly slicing, hash-wasm, measured 2.2 GB/s with
 *   its copy: too little to pay for an asynchronous initialisation.)
 *
 * SLUICE_CRC32C=portable in the environment turns the native one off (to measure the portable
 * one, or to rule the addon out).
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';

const POLYNOMIAL = 0x82f63b78;
const SLICES = 16;

/** TABLE[k * 256 + b] is the CRC of byte b followed by k zero bytes. */
const TABLE = new Int32Array(256 * SLICES);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
  TABLE[b] = c;
}
for (let b = 0; b < 256; b++) {
  let c = TABLE[b]!;
  for (let k = 1; k < SLICES; k++) {
    c = TABLE[c & 0xff]! ^ (c >>> 8);
    TABLE[k * 256 + b] = c;
  }
}

type NativeCrc32c = (input: Uint8Array, previous?: number) => number;

// Below this a call into the addon (~0.1 µs) costs more than the portable loop.
const NATIVE_MIN_BYTES = 256;

/** @node-rs/crc32's crc32c when installed for this platform and right on the standard check value. */
function loadNative(): NativeCrc32c | undefined {
  if (process.env.SLUICE_CRC32C?.trim() === 'portable') return undefined;
  try {
    // A require of our own, not the bundler's: esbuild must leave the addon out of the Lambda bundle.
    const load = createRequire(import.meta.url);
    const candidate = (load('@node-rs/crc32') as { crc32c: NativeCrc32c }).crc32c;
    // Every batch's integrity rests on it: a binary that loads but computes wrongly is not used.
    return candidate(Buffer.from('123456789')) === 0xe3069283 && candidate(Buffer.from('6789'), candidate(Buffer.from('12345'))) === 0xe3069283 ? candidate : undefined;
  } catch {
    return undefined;
  }
}

const native = loadNative();

// Word reads assume the host's byte order matches the CRC's (little-endian); elsewhere, bytes only.
const WORDS_OK = endianness() === 'LE';
// Below this a typed-array view costs more than it saves.
const MIN_WORD_INPUT = 64;

/**
 * CRC-32C of `data[start, end)`, as an unsigned int32. Pass a previous result as
 * `previous` to continue a checksum over several pieces. Throws RangeError for a range
 * outside `data` (a caller bug, not bad input).
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, previous = 0): number {
  checkRange(data, start, end);
  if (native !== undefined && end - start >= NATIVE_MIN_BYTES) return native(data.subarray(start, end), previous);
  return portable(data, start, end, previous);
}

/** crc32c without the native addon, whatever is installed: the code the Lambda functions run. */
export function portableCrc32c(data: Uint8Array, start = 0, end = data.length, previous = 0): number {
  checkRange(data, start, end);
  return portable(data, start, end, previous);
}

/** Which implementation crc32c uses for large inputs here. */
export const CRC32C_IMPLEMENTATION: 'native' | 'portable' = native === undefined ? 'portable' : 'native';

function checkRange(data: Uint8Array, start: number, end: number): void {
  if (start < 0 || end > data.length || start > end) {
    throw new RangeError(`crc32c range [${start}, ${end}) is outside a ${data.length}-byte input`);
  }
}

function portable(data: Uint8Array, start: number, end: number, previous: number): number {
  const T = TABLE;
  let crc = ~previous;
  let i = start;
  if (WORDS_OK && end - i >= MIN_WORD_INPUT) {
    while (((data.byteOffset + i) & 3) !== 0) crc = T[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
    const blocks = (end - i) >>> 4;
    const words = new Int32Array(data.buffer, data.byteOffset + i, blocks * 4);
    for (let j = 0, n = blocks * 4; j < n; j += 4) {
      // The last 12 bytes' lookups do not depend on the running CRC, so they are summed first;
      // only the four lookups of the first word wait for the previous step, which keeps the
      // loop-carried chain four loads and four XORs long instead of sixteen.
      const b = words[j + 1]!;
      const c = words[j + 2]!;
      const d = words[j + 3]!;
      const independent =
        (T[768 + (d & 0xff)]! ^ T[512 + ((d >>> 8) & 0xff)]! ^ T[256 + ((d >>> 16) & 0xff)]! ^ T[d >>> 24]!) ^
        (T[1792 + (c & 0xff)]! ^ T[1536 + ((c >>> 8) & 0xff)]! ^ T[1280 + ((c >>> 16) & 0xff)]! ^ T[1024 + (c >>> 24)]!) ^
        (T[2816 + (b & 0xff)]! ^ T[2560 + ((b >>> 8) & 0xff)]! ^ T[2304 + ((b >>> 16) & 0xff)]! ^ T[2048 + (b >>> 24)]!);
      const a = crc ^ words[j]!;
      crc = independent ^ (T[3840 + (a & 0xff)]! ^ T[3584 + ((a >>> 8) & 0xff)]!) ^ (T[3328 + ((a >>> 16) & 0xff)]! ^ T[3072 + (a >>> 24)]!);
    }
    i += blocks * 16;
  }
  for (; i < end; i++) crc = T[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
