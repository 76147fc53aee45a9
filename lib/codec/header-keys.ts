/**
 * Header keys repeat from record to record of a batch ("content-type", a trace header's
 * name), and comparing a key's few bytes with the previous record's costs a fraction of
 * decoding them into a new string. One cache serves one payload: it remembers, for each
 * header position, where the last key there was and the string it decoded to.
 */

// Records rarely carry more headers than this; keys past it are decoded every time.
const CACHED_POSITIONS = 8;
// Past this a byte-wise comparison stops being cheaper than decoding.
const MAX_CACHED_KEY_BYTES = 64;

/** Decodes header keys of one payload, reusing the string of an identical key at the same header position. */
export class HeaderKeyCache {
  private readonly payload: Buffer;
  private readonly starts = new Int32Array(CACHED_POSITIONS);
  // -1: nothing cached at that position yet.
  private readonly lengths = new Int32Array(CACHED_POSITIONS).fill(-1);
  private readonly keys: string[] = new Array<string>(CACHED_POSITIONS).fill('');

  constructor(payload: Buffer) {
    this.payload = payload;
  }

  /** The UTF-8 key in `payload[start, start + length)`, the header at `position` of its record. */
  key(start: number, length: number, position: number): string {
    const buf = this.payload;
    if (position >= CACHED_POSITIONS || length > MAX_CACHED_KEY_BYTES) return buf.toString('utf8', start, start + length);
    if (this.lengths[position] === length) {
      const previous = this.starts[position]!;
      let i = 0;
      while (i < length && buf[previous + i] === buf[start + i]) i++;
      if (i === length) return this.keys[position]!;
    }
    const key = buf.toString('utf8', start, start + length);
    this.starts[position] = start;
    this.lengths[position] = length;
    this.keys[position] = key;
    return key;
  }
}
