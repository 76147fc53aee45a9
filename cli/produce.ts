/**
 * `sluice produce <topic>`: one record per line of stdin or `--file`, like
 * kafka-console-producer. Records stream: whatever a read of the input returns is handed to
 * the producer at once, and the producer sends it within `--linger-ms`, so a line typed at a
 * terminal reaches consumers at once. A window of unacknowledged bytes keeps memory bounded
 * however large the input. EOF, Ctrl-C and a failure all flush what was read and print a
 * summary: how many records were acknowledged, and up to which line every one was.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { type Command, Option } from 'commander';
import type { Compression, Message } from '../lib/client/index.ts';
import { clientFor, compression, keyValue, nonNegativeInteger, positiveInteger, unescape } from './context.ts';
import { RecordSplitter } from './input.ts';
import { createProgress } from './progress.ts';
import { INPUT_FORMATS, recordParser, type InputFormat } from './record-parser.ts';
import { AckTracker } from './ack-tracker.ts';
import { produceValueFile } from './value-files.ts';

interface ProduceOptions {
  file?: string;
  valueFile?: string;
  key?: string;
  keySeparator?: string;
  header?: Array<readonly [string, string]>;
  partition?: number;
  compression: Compression;
  rate?: number;
  lingerMs: number;
  batchBytes?: number;
  keyFormat: InputFormat;
  valueFormat: InputFormat;
  delimiter: string;
  nullMarker?: string;
  parseHeaders?: boolean;
  headersDelimiter: string;
  headersSeparator: string;
  headersKeySeparator: string;
}

/** Unacknowledged input bytes before reading pauses. */
const WINDOW_BYTES = 32 * 1024 * 1024;

export function produceCommand(program: Command): void {
  program
    .command('produce <topic>')
    .description('produce each line of stdin (or --file) as a record; Ctrl-C or EOF flushes and prints a summary')
    .option('--file <path>', 'read lines from a file instead of stdin')
    .option('-K, --key-separator <sep>', 'split each line at the first <sep> into key and value (kafka-console-producer parse.key)')
    .option('-H, --header <key=value>', 'a header for every record; repeat for more (a value may hold commas)', keyValue)
    .option('-p, --partition <n>', 'send every record to this partition (default: by key, sticky without one)', nonNegativeInteger)
    .option('-z, --compression <codec>', 'none, gzip, snappy, lz4 or zstd', compression, 'none')
    .option('--rate <records/s>', 'send at most this many records per second', positiveInteger)
    .option('--linger-ms <ms>', 'longest a record waits to be sent with others', nonNegativeInteger, 5)
    .option('--batch-bytes <bytes>', 'producer batchBytes (default 1048576)', positiveInteger)
    .addOption(new Option('--key-format <format>', 'how keys are written').choices(INPUT_FORMATS).default('string'))
    .addOption(new Option('--value-format <format>', 'how values are written; raw keeps bytes as they are (split records with -D)').choices(INPUT_FORMATS).default('string'))
    .option('-D, --delimiter <sep>', 'between records (\\n, \\t, \\r, \\\\ and \\0 understood)', '\\n')
    .option('--null-marker <text>', 'a key, value or header value equal to this is null (a null value is a tombstone)')
    .option('--parse-headers', 'read headers before the key, as Kafka 3.2: h1:v1,h2:v2<TAB>key<SEP>value')
    .option('--headers-delimiter <sep>', 'between the headers and the rest', '\\t')
    .option('--headers-separator <sep>', 'between two headers', ',')
    .option('--headers-key-separator <sep>', "between a header's key and value", ':')
    .option('--value-file <path>', 'produce one record whose value is this whole file (a large one is uploaded by claim check)')
    .option('-k, --key <key>', 'with --value-file: the key of that record')
    .action(async (topic: string, options: ProduceOptions, command: Command) =>
      options.valueFile === undefined ? produce(topic, options, command) : produceValueFile(topic, { ...options, valueFile: options.valueFile }, command),
    );
}

function parserFor(options: ProduceOptions): (bytes: Buffer, line: number) => Message {
  return recordParser({
    keyFormat: options.keyFormat,
    valueFormat: options.valueFormat,
    ...(options.keySeparator === undefined ? {} : { keySeparator: unescape(options.keySeparator) }),
    parseHeaders: options.parseHeaders === true,
    headersDelimiter: unescape(options.headersDelimiter),
    headersSeparator: unescape(options.headersSeparator),
    headerKeySeparator: unescape(options.headersKeySeparator),
    ...(options.nullMarker === undefined ? {} : { nullMarker: options.nullMarker }),
    headers: options.header ?? [],
    ...(options.partition === undefined ? {} : { partition: options.partition }),
    trimCarriageReturn: unescape(options.delimiter) === '\n',
  });
}

async function produce(topic: string, options: ProduceOptions, command: Command): Promise<void> {
  const parse = parserFor(options);
  const splitter = new RecordSplitter(Buffer.from(unescape(options.delimiter), 'utf8'));
  const producer = clientFor(command).producer({
    compression: options.compression,
    lingerMs: options.lingerMs,
    ...(options.batchBytes === undefined ? {} : { batchBytes: options.batchBytes }),
    // Lines are records, bounded by max.message.bytes as with kafka-console-producer; --value-file takes large values.
    claimCheck: false,
  });
  const totalBytes = options.file === undefined ? 0 : (await stat(options.file)).size;
  const interrupt = new AbortController();
  const input: Readable = addAbortSignal(interrupt.signal, options.file === undefined ? process.stdin : createReadStream(options.file));
  // Produce prints nothing on stdout, so the bar may share a terminal with it.
  const progress = createProgress(totalBytes, process.stderr.isTTY === true);
  const acks = new AckTracker();
  const started = performance.now();
  let lineNumber = 0;
  let failure: unknown;
  let readBytes = 0;

  const send = (messages: Message[], bytes: number) => {
    if (messages.length === 0) return;
    const entry = acks.sent(lineNumber - messages.length + 1, messages.length, bytes);
    producer.send({ topic, messages }).then(
      () => {
        acks.acknowledged(entry);
        progress.update(readBytes, acks.records, acks.bytes);
      },
      (error: unknown) => {
        failure ??= error;
        acks.failed(entry);
      },
    );
  };

  const onSigint = () => {
    // A second Ctrl-C does not wait for the flush.
    process.once('SIGINT', () => process.exit(130));
    interrupt.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    const handle = async (records: Buffer[]): Promise<void> => {
      let messages: Message[] = [];
      let bytes = 0;
      for (const record of records) {
        if (failure !== undefined || interrupt.signal.aborted) return;
        lineNumber++;
        try {
          messages.push(parse(record, lineNumber));
        } catch (error) {
          // The lines before a bad one are still sent, so the summary can say where it stopped.
          lineNumber--;
          send(messages, bytes);
          throw error;
        }
        bytes += record.length + 1;
        if (options.rate !== undefined) {
          const waitMs = started + (lineNumber / options.rate) * 1000 - performance.now();
          if (waitMs > 0) {
            send(messages, bytes);
            messages = [];
            bytes = 0;
            await new Promise((resolve) => setTimeout(resolve, waitMs));
          }
        }
      }
      send(messages, bytes);
      await acks.window(WINDOW_BYTES, () => failure !== undefined);
    };
    try {
      for await (const chunk of input) {
        readBytes += (chunk as Buffer).length;
        await handle(splitter.push(chunk as Buffer));
        if (failure !== undefined || interrupt.signal.aborted) break;
      }
      if (failure === undefined && !interrupt.signal.aborted) await handle(splitter.end());
    } catch (error) {
      // Ctrl-C ends reading with an AbortError; anything else (a bad line) is a failure.
      if (!interrupt.signal.aborted) failure ??= error;
    }
    await producer.disconnect().catch((error: unknown) => (failure ??= error));
    await acks.settled();
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
  }
  process.stderr.write(acks.summary((performance.now() - started) / 1000, interrupt.signal.aborted));
  if (failure !== undefined) throw failure;
}
