/**
 * `sluice consume [topics...]`: prints records as kafka-console-consumer does (or as JSON
 * lines, or by a kcat-style `-f` format). Without `--follow` it reads up to the high
 * watermark each partition had when it started and exits, like `kcat -e`; with `--follow` it
 * keeps long-polling for new records until interrupted, `--max-messages` or `--until`, and
 * rides out a server restart by retrying with backoff.
 *
 * With `--group` it joins that consumer group (consume-group.ts); otherwise it reads the
 * partitions it names (consume-assigned.ts). `--include <regex>` picks the topics whose names
 * match when the command starts and, with `--follow`, those created later (consume-include.ts).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { Admin } from '../lib/client/index.ts';
import { nonNegativeInteger, positiveInteger, unescape } from './context.ts';
import { consumeAssigned } from './consume-assigned.ts';
import { DEFAULT_METADATA_MAX_AGE_MS, IncludeWatch, includePattern } from './consume-include.ts';
import { consumeInGroup } from './consume-group.ts';
import { formatStringFormatter, jsonFormatter, textFormatter, type Formatter } from './format.ts';
import { outputDirFormatter } from './value-files.ts';

export interface ConsumeOptions {
  partition?: number;
  offset?: StartOffset;
  fromBeginning?: boolean;
  fromTimestamp?: string;
  until?: UntilBound;
  follow?: boolean;
  maxMessages?: number;
  format: string;
  printKey?: boolean;
  printHeaders?: boolean;
  keySeparator: string;
  formatString?: string;
  group?: string;
  include?: string;
  outputDir?: string;
  /** With --include and --follow: how often to look for new matching topics. */
  metadataMaxAgeMs: number;
}

/** `-o`: an absolute offset (needs --partition), an offset back from the end of each partition, or earliest / latest. */
export type StartOffset = { kind: 'absolute'; offset: number } | { kind: 'fromEnd'; count: number } | { kind: 'earliest' } | { kind: 'latest' };

/** `--until`: stop each partition before this offset, or before its first record at or after this time. */
export type UntilBound = { kind: 'offset'; offset: number } | { kind: 'timestamp'; timestampMs: number };

export function startOffset(value: string): StartOffset {
  if (value === 'earliest' || value === 'beginning') return { kind: 'earliest' };
  if (value === 'latest' || value === 'end') return { kind: 'latest' };
  if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return { kind: 'absolute', offset: Number(value) };
  if (/^-\d+$/.test(value) && Number.isSafeInteger(-Number(value))) return { kind: 'fromEnd', count: -Number(value) };
  throw new InvalidArgumentError('An offset (with --partition), -N for N back from the end, earliest or latest.');
}

export function untilBound(value: string): UntilBound {
  if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return { kind: 'offset', offset: Number(value) };
  const ms = /^@\d+$/.test(value) ? Number(value.slice(1)) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new InvalidArgumentError('An offset, @<ms since the epoch> or an ISO-8601 date.');
  return { kind: 'timestamp', timestampMs: ms };
}

export function consumeCommand(program: Command): void {
  program
    .command('consume [topics...]')
    .description('print records; exits at the end of the log unless --follow')
    .option('--include <regex>', 'also every topic whose whole name matches; with --follow, also those created later')
    .option('--metadata-max-age-ms <ms>', 'with --include and --follow: look for new matching topics this often', positiveInteger, DEFAULT_METADATA_MAX_AGE_MS)
    .option('-p, --partition <n>', 'only this partition (default: all)', nonNegativeInteger)
    .option('-o, --offset <offset>', 'start at this offset (needs --partition), -N for N back from the end of each partition, earliest or latest', startOffset)
    .option('--from-beginning', 'start at the earliest offset (default: latest)')
    .option('--from-timestamp <ms|ISO-8601>', 'start at the first record at or after this time')
    .option('--until <offset|@ms|ISO-8601>', 'stop each partition before this offset, or before its first record at or after this time', untilBound)
    .option('--follow', 'keep waiting for new records; retry with backoff if the server goes away')
    .option('-n, --max-messages <n>', 'exit after this many records', positiveInteger)
    .option('--format <format>', 'text or json (one object per line: topic, partition, offset, timestamp, key, value, headers)', 'text')
    .option('--print-key', 'text: print the key before the value')
    .option('--print-headers', 'text: print headers (k:v,…) first')
    .option('--key-separator <sep>', 'text: between fields', '\\t')
    .option('-f, --format-string <fmt>', 'kcat-style format: %t %p %o %T %k %s %K %S %h, e.g. "%k=%s\\n"')
    .option('-g, --group <group>', 'consume as a member of this consumer group, from its committed offsets, committing as it goes')
    .option('--output-dir <dir>', 'write each value to its own file, <dir>/<topic>-<partition>-<offset>, and print the paths')
    .action(async (topics: string[], options: ConsumeOptions, command: Command) => (options.group !== undefined ? consumeInGroup(topics, options.group, options, command) : consumeAssigned(topics, options, command)));
}

export function formatter(options: ConsumeOptions): Formatter {
  if (options.outputDir !== undefined) return outputDirFormatter(options.outputDir);
  if (options.formatString !== undefined) return formatStringFormatter(options.formatString);
  if (options.format === 'json') return jsonFormatter();
  if (options.format !== 'text') throw new SluiceError('INVALID_REQUEST', `--format must be text or json, got ${JSON.stringify(options.format)}`);
  return textFormatter({ printKey: options.printKey === true, printHeaders: options.printHeaders === true, separator: unescape(options.keySeparator) });
}

/** Claim checks are resolved unless `--format json` asks to see records as stored (the reference). */
export function resolvesClaimChecks(options: ConsumeOptions): boolean {
  return options.outputDir !== undefined || options.formatString !== undefined || options.format !== 'json';
}

/** Milliseconds since the epoch, or an ISO-8601 date, as `option` was given. */
export function timestampOf(value: string, option = '--from-timestamp'): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new SluiceError('INVALID_REQUEST', `${option} must be ms since the epoch or an ISO-8601 date, got ${JSON.stringify(value)}`);
  return ms;
}

/**
 * The named topics plus those `--include` matches, without repeats; at least one, unless
 * `mayBeNone` (a followed --include, which waits for matching topics to be created).
 */
export async function resolveTopics(admin: Admin, named: readonly string[], include: string | undefined, mayBeNone = false): Promise<string[]> {
  const topics = [...named];
  if (include !== undefined) {
    const pattern = includePattern(include);
    const matching = (await admin.listTopics()).map((t) => t.name).filter((name) => pattern.test(name));
    if (matching.length === 0 && named.length === 0 && !mayBeNone) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `No topic matches --include ${JSON.stringify(include)}`);
    topics.push(...matching);
  }
  if (topics.length === 0 && include === undefined) throw new SluiceError('INVALID_REQUEST', 'Name a topic to consume, or give --include <regex>');
  return [...new Set(topics)];
}

/** With --include and --follow, the watch for matching topics created later; else undefined. */
export function includeWatch(admin: Admin, topics: readonly string[], options: ConsumeOptions): IncludeWatch | undefined {
  if (options.include === undefined || options.follow !== true) return undefined;
  return new IncludeWatch(admin, includePattern(options.include), topics, options.metadataMaxAgeMs);
}

/** True when a record is at or past `--until`. */
export function pastUntil(until: UntilBound | undefined, offset: number, timestampMs: number): boolean {
  if (until === undefined) return false;
  return until.kind === 'offset' ? offset >= until.offset : timestampMs >= until.timestampMs;
}

