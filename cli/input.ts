/**
 * Splits a byte stream into records at a delimiter (kcat's `-D`, newline by default) without
 * decoding it, so raw binary input survives and a multi-byte delimiter may straddle chunks.
 */

export class RecordSplitter {
  private rest: Buffer = Buffer.alloc(0);

  constructor(private readonly delimiter: Buffer) {
    if (delimiter.length === 0) throw new Error('The record delimiter must not be empty');
  }

  /** The complete records in `chunk` and what came before it; the unfinished tail is kept. */
  push(chunk: Buffer): Buffer[] {
    // Only the tail may hold the start of a delimiter split across chunks.
    const from = Math.max(0, this.rest.length - this.delimiter.length + 1);
    const buffer = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    const records: Buffer[] = [];
    let start = 0;
    for (let at = buffer.indexOf(this.delimiter, from); at >= 0; at = buffer.indexOf(this.delimiter, start)) {
      records.push(buffer.subarray(start, at));
      start = at + this.delimiter.length;
    }
    // A copy, so a large chunk is not kept alive by a short tail.
    this.rest = start === 0 ? buffer : Buffer.from(buffer.subarray(start));
    return records;
  }

  /** The last record when the input does not end with the delimiter. */
  end(): Buffer[] {
    const last = this.rest;
    this.rest = Buffer.alloc(0);
    return last.length === 0 ? [] : [last];
  }
}
