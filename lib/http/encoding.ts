import { LIMITS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { nestsDeeperThan } from './json-depth.ts';

/** How keys and values travel in JSON: UTF-8 text, base64 bytes, or any JSON value. */
export type FieldEncoding = 'string' | 'base64' | 'json';
export const FIELD_ENCODINGS: readonly FieldEncoding[] = ['string', 'base64', 'json'];

// In a /u pattern a surrogate pair is one code point, so this matches only lone halves.
const LONE_SURROGATE = /\p{Surrogate}/u;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Turns a JSON key or value into bytes per `encoding`; null stays null (a tombstone for values). */
export function encodeField(value: unknown, encoding: FieldEncoding, where: string): Buffer | null {
  if (value === null) return null;
  switch (encoding) {
    case 'string':
      if (typeof value !== 'string') throw new SluiceError('INVALID_RECORD', `${where} must be a string with the "string" encoding (use "json" for other JSON values), got ${typeof value}`);
      return utf8(value, where);
    case 'base64':
      if (typeof value !== 'string' || !BASE64.test(value)) throw new SluiceError('INVALID_RECORD', `${where} is not valid base64`);
      return Buffer.from(value, 'base64');
    case 'json':
      // JSON.stringify escapes lone surrogates (ES2019), so any JSON value encodes losslessly.
      return Buffer.from(JSON.stringify(value), 'utf8');
  }
}

/**
 * A string's UTF-8 bytes; INVALID_RECORD naming `where` if it holds a lone surrogate, which
 * UTF-8 cannot carry (Buffer.from would silently write U+FFFD instead).
 */
export function utf8(value: string, where: string): Buffer {
  if (LONE_SURROGATE.test(value)) throw new SluiceError('INVALID_RECORD', `${where} holds a lone UTF-16 surrogate, which UTF-8 cannot encode; send binary data with the "base64" encoding`);
  return Buffer.from(value, 'utf8');
}

/**
 * Renders stored bytes per `encoding`; with "json", bytes that are not JSON (or nest past
 * LIMITS.maxJsonDepth) are an error naming the offset. With "string", bytes that are not
 * UTF-8 render with U+FFFD in their place, as documented in README; "base64" is lossless.
 */
export function renderField(bytes: Buffer | null, encoding: FieldEncoding, where: string): unknown {
  if (bytes === null) return null;
  switch (encoding) {
    case 'string':
      return bytes.toString('utf8');
    case 'base64':
      return bytes.toString('base64');
    case 'json':
      if (nestsDeeperThan(bytes, LIMITS.maxJsonDepth)) {
        throw new SluiceError('INVALID_REQUEST', `${where} nests JSON deeper than ${LIMITS.maxJsonDepth} levels; fetch it with encoding=string or encoding=base64`);
      }
      try {
        return JSON.parse(bytes.toString('utf8')) as unknown;
      } catch {
        throw new SluiceError('INVALID_REQUEST', `${where} is not valid JSON; fetch it with encoding=string or encoding=base64`);
      }
  }
}
