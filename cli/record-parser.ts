/**
 * Turns one input record (the bytes between two delimiters) into a message, as
 * kafka-console-producer's LineMessageReader does: optional headers (`parse.headers`, Kafka
 * 3.2: `h1:v1,h2:v2<TAB>`), an optional key before a key separator, the value, and a null
 * marker that makes a key, value or header value null. Key and value are decoded by their
 * format; splitting happens on bytes, so `raw` stays binary-safe.
 */
import { SluiceError } from '../lib/errors.ts';
import type { Message } from '../lib/client/index.ts';

export const INPUT_FORMATS = ['string', 'base64', 'hex', 'raw'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

export interface RecordParserOptions {
  keyFormat: InputFormat;
  valueFormat: InputFormat;
  /** Splits key from value when given (kafka-console-producer's parse.key / key.separator). */
  keySeparator?: string;
  /** Read headers before the key (Kafka's parse.headers). */
  parseHeaders: boolean;
  /** Between the headers and the rest. @default '\t' (Kafka's headers.delimiter) */
  headersDelimiter: string;
  /** Between two headers. @default ',' (Kafka's headers.separator) */
  headersSeparator: string;
  /** Between a header's key and value. @default ':' (Kafka's headers.key.separator) */
  headerKeySeparator: string;
  /** A key, value or header value equal to this is null (Kafka's null.marker). */
  nullMarker?: string;
  /** Headers added to every record (`-H k=v`, repeatable). */
  headers: ReadonlyArray<readonly [string, string]>;
  partition?: number;
  /** Drops a trailing `\r` of string, base64 and hex input, so CRLF files read as lines. */
  trimCarriageReturn: boolean;
}

function fail(line: number, message: string): SluiceError {
  return new SluiceError('INVALID_RECORD', `Line ${line} ${message}`);
}

/** Splits `bytes` at the first `separator`; undefined when it does not occur. */
function splitOnce(bytes: Buffer, separator: Buffer): [Buffer, Buffer] | undefined {
  const at = bytes.indexOf(separator);
  return at < 0 ? undefined : [bytes.subarray(0, at), bytes.subarray(at + separator.length)];
}

function decode(bytes: Buffer, format: InputFormat, line: number, field: string): Buffer {
  switch (format) {
    case 'raw':
      return bytes;
    case 'string':
      return bytes;
    case 'hex': {
      const text = bytes.toString('latin1');
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw fail(line, `has a ${field} that is not hex (pairs of 0-9a-f)`);
      return Buffer.from(text, 'hex');
    }
    case 'base64': {
      const text = bytes.toString('latin1');
      if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) throw fail(line, `has a ${field} that is not base64`);
      return Buffer.from(text, 'base64');
    }
  }
}

/** Returns a function parsing record number `line` (1-based) into a message. */
export function recordParser(options: RecordParserOptions): (bytes: Buffer, line: number) => Message {
  const keySeparator = options.keySeparator === undefined ? undefined : Buffer.from(options.keySeparator);
  const headersDelimiter = Buffer.from(options.headersDelimiter);
  const headersSeparator = Buffer.from(options.headersSeparator);
  const headerKeySeparator = Buffer.from(options.headerKeySeparator);
  const nullMarker = options.nullMarker === undefined ? undefined : Buffer.from(options.nullMarker);
  const isNull = (bytes: Buffer) => nullMarker !== undefined && bytes.equals(nullMarker);
  const rawInput = options.keyFormat === 'raw' || options.valueFormat === 'raw';

  return (input, line) => {
    let rest = options.trimCarriageReturn && !rawInput && input.at(-1) === 0x0d ? input.subarray(0, -1) : input;
    const headers = new Map<string, Array<Buffer | null>>();
    for (const [k, v] of options.headers) headers.set(k, [...(headers.get(k) ?? []), Buffer.from(v)]);
    if (options.parseHeaders) {
      const parts = splitOnce(rest, headersDelimiter);
      if (parts === undefined) throw fail(line, `has no headers delimiter ${JSON.stringify(options.headersDelimiter)}`);
      rest = parts[1];
      // An empty headers part is a record without headers, as in Kafka.
      if (parts[0].length > 0) {
        let remaining: Buffer | undefined = parts[0];
        while (remaining !== undefined) {
          const split = splitOnce(remaining, headersSeparator);
          const header = split === undefined ? remaining : split[0];
          remaining = split?.[1];
          const kv = splitOnce(header, headerKeySeparator);
          if (kv === undefined) throw fail(line, `has a header without the key separator ${JSON.stringify(options.headerKeySeparator)}: ${JSON.stringify(header.toString('utf8'))}`);
          const key = kv[0].toString('utf8');
          if (key === '') throw fail(line, 'has a header with an empty key');
          headers.set(key, [...(headers.get(key) ?? []), isNull(kv[1]) ? null : kv[1]]);
        }
      }
    }
    const message: Message = { value: null };
    if (keySeparator !== undefined) {
      const parts = splitOnce(rest, keySeparator);
      if (parts === undefined) throw fail(line, `has no key separator ${JSON.stringify(options.keySeparator)}`);
      message.key = isNull(parts[0]) ? null : decode(parts[0], options.keyFormat, line, 'key');
      rest = parts[1];
    }
    message.value = isNull(rest) ? null : decode(rest, options.valueFormat, line, 'value');
    if (headers.size > 0) message.headers = Object.fromEntries([...headers].map(([k, v]) => [k, v.length === 1 ? (v[0] as Buffer | null) : v]));
    if (options.partition !== undefined) message.partition = options.partition;
    return message;
  };
}
