import { SluiceError } from '../errors.ts';

/** Upper bound on the decompressed size of one batch's records: 64 MiB. */
export const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

/** A view of `data` as a Buffer, without copying. */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Malformed compressed input: always CORRUPT_MESSAGE, never a generic error (that would render as a 5xx). */
export function corrupt(message: string): SluiceError {
  return new SluiceError('CORRUPT_MESSAGE', message);
}

/**
 * Decompressed output would pass the limit the caller set. A CORRUPT_MESSAGE on its own;
 * decompress() turns it into the call's budget error when the budget was the tighter limit.
 */
export class InflateLimitError extends SluiceError {
  constructor(message: string) {
    super('CORRUPT_MESSAGE', message);
  }
}

/** The error for output that would pass `limit` bytes. */
export function tooLarge(codec: string, limit: number, detail = ''): InflateLimitError {
  return new InflateLimitError(`${codec}: content${detail} exceeds what may be decompressed (over the ${limit}-byte limit)`);
}
