import { SluiceError } from '../errors.ts';

/** How keys and values travel in JSON: UTF-8 text, base64 bytes, or any JSON value. */
export type FieldEncoding = 'string' | 'base64' | 'json';
export const FIELD_ENCODINGS: readonly FieldEncoding[] = ['string', 'base64', 'json'];

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Turns a JSON key or value into bytes per `encoding`; null stays null (a tombstone for values). */
export function encodeField(value: unknown, encoding: FieldEncoding, where: string): Buffer | null {
  if (value === null) return null;
  switch (encoding) {
    case 'string':
      if (typeof value !== 'string') throw new SluiceError('INVALID_RECORD', `${where} must be a string with the "string" encoding (use "json" for other JSON values), got ${typeof value}`);
      return Buffer.from(value, 'utf8');
    case 'base64':
      if (typeof value !== 'string' || !BASE64.test(value)) throw new SluiceError('INVALID_RECORD', `${where} is not valid base64`);
      return Buffer.from(value, 'base64');
    case 'json':
      return Buffer.from(JSON.stringify(value), 'utf8');
  }
}

/** Renders stored bytes per `encoding`; with "json", bytes that are not JSON are an error naming the offset. */
export function renderField(bytes: Buffer | null, encoding: FieldEncoding, where: string): unknown {
  if (bytes === null) return null;
  switch (encoding) {
    case 'string':
      return bytes.toString('utf8');
    case 'base64':
      return bytes.toString('base64');
    case 'json':
      try {
        return JSON.parse(bytes.toString('utf8')) as unknown;
      } catch {
        throw new SluiceError('INVALID_REQUEST', `${where} is not valid JSON; fetch it with encoding=string or encoding=base64`);
      }
  }
}
