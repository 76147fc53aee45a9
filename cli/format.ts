/**
 * How the CLI prints: tables for people, JSON lines for scripts, consumed records as
 * kafka-console-consumer prints them (fields separated by a tab, `null` for null) or by a
 * kcat-style `-f` format string, and errors as `ERROR_NAME: message`.
 */
import { SluiceError } from '../lib/errors.ts';
import type { ConsumedHeaders, ConsumedMessage } from '../lib/client/index.ts';

/** Renders rows as an aligned table, the first row as the header. */
export function table(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((row) => row.map(String));
  const widths = cells[0]?.map((_, c) => Math.max(...cells.map((row) => row[c]?.length ?? 0))) ?? [];
  return cells.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] as number))).join('  ').trimEnd()).join('\n') + '\n';
}

function text(bytes: Buffer | null): string {
  return bytes === null ? 'null' : bytes.toString('utf8');
}

function headerPairs(headers: ConsumedHeaders): Array<[string, Buffer | null]> {
  return Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x] as [string, Buffer | null]) : [[k, v] as [string, Buffer | null]]));
}

/** A record's headers as JSON: strings (UTF-8), null, and arrays for repeated keys. */
function headersJson(headers: ConsumedHeaders): Record<string, string | null | Array<string | null>> {
  const out: Record<string, string | null | Array<string | null>> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.map((x) => (x === null ? null : x.toString('utf8'))) : v === null ? null : v.toString('utf8');
  return out;
}

export interface TextFormat {
  printKey: boolean;
  printHeaders: boolean;
  /** Between fields. @default '\t' (kafka-console-consumer's key.separator) */
  separator: string;
}

/** Returns a function turning one record into one output line (newline included). */
export type Formatter = (topic: string, partition: number, message: ConsumedMessage) => string;

export function jsonFormatter(): Formatter {
  return (topic, partition, m) =>
    `${JSON.stringify({ topic, partition, offset: m.offset, timestamp: m.timestamp, key: m.key === null ? null : m.key.toString('utf8'), value: m.value === null ? null : m.value.toString('utf8'), headers: headersJson(m.headers) })}\n`;
}

export function textFormatter(format: TextFormat): Formatter {
  return (_topic, _partition, m) => {
    let line = '';
    if (format.printHeaders) {
      const pairs = headerPairs(m.headers);
      line += (pairs.length === 0 ? 'NO_HEADERS' : pairs.map(([k, v]) => `${k}:${text(v)}`).join(',')) + format.separator;
    }
    if (format.printKey) line += text(m.key) + format.separator;
    return `${line}${text(m.value)}\n`;
  };
}

/**
 * kcat's format tokens: %t topic, %p partition, %o offset, %T timestamp, %k key, %s value,
 * %K / %S key / value length (-1 for null), %h headers (k=v,…), %% a percent sign; and the
 * escapes \n, \t, \r, \\. Unknown tokens are printed as they are.
 */
export function formatStringFormatter(format: string): Formatter {
  const template = format.replace(/\\([ntr\\])/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c] as string);
  return (topic, partition, m) =>
    template.replace(/%[tpoTkKsSh%]/g, (token) => {
      switch (token) {
        case '%t': return topic;
        case '%p': return String(partition);
        case '%o': return String(m.offset);
        case '%T': return String(m.timestamp);
        case '%k': return m.key === null ? '' : m.key.toString('utf8');
        case '%s': return m.value === null ? '' : m.value.toString('utf8');
        case '%K': return String(m.key?.length ?? -1);
        case '%S': return String(m.value?.length ?? -1);
        case '%h': return headerPairs(m.headers).map(([k, v]) => `${k}=${v === null ? '' : v.toString('utf8')}`).join(',');
        default: return '%';
      }
    });
}

/** `ERROR_NAME: message`, plus the stack and causes when verbose. */
export function formatError(error: unknown, verbose: boolean): string {
  let line: string;
  if (error instanceof SluiceError) line = `${error.code}: ${error.message}`;
  else if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string') line = `${(error as NodeJS.ErrnoException).code}: ${error.message}`;
  else line = `ERROR: ${error instanceof Error ? error.message : String(error)}`;
  if (!verbose) return `${line}\n`;
  let detail = '';
  for (let e: unknown = error; e instanceof Error; e = e.cause) detail += `${e.stack ?? String(e)}\n`;
  return `${line}\n${detail}`;
}
