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
