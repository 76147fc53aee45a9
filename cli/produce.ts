/**
 * `sluice produce <topic>`: one record per line of stdin or `--file`, like
 * kafka-console-producer. Lines go to the client producer in chunks without waiting for each
 * acknowledgement (the producer batches them per partition), while a window of
 * unacknowledged bytes keeps memory bounded however large the input.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { SluiceError } from '../lib/errors.ts';
import type { Compression, Message } from '../lib/client/index.ts';
import { clientFor, compression, keyValues, nonNegativeInteger, positiveInteger, unescape } from './context.ts';
import { createProgress } from './progress.ts';

interface ProduceOptions {
  file?: string;
  keySeparator?: string;
  headers?: Record<string, string>;
  partition?: number;
  compression: Compression;
  rate?: number;
  lingerMs?: number;
  batchBytes?: number;
}

/** Records per `send`: enough to amortize a send, small enough to keep the window smooth. */
const CHUNK_RECORDS = 2000;
const CHUNK_BYTES = 512 * 1024;
/** Unacknowledged input bytes before reading pauses. */
const WINDOW_BYTES = 64 * 1024 * 1024;

export function produceCommand(program: Command): void {
  program
    .command('produce <topic>')
    .description('produce each line of stdin (or --file) as a record')
    .option('--file <path>', 'read lines from a file instead of stdin')
    .option('-K, --key-separator <sep>', 'split each line at the first <sep> into key and value (kafka-console-producer parse.key)')
    .option('-H, --headers <k=v,...>', 'headers for every record (repeatable)', keyValues)
    .option('-p, --partition <n>', 'send every record to this partition (default: by key, sticky without one)', nonNegativeInteger)
    .option('-z, --compression <codec>', 'none, gzip, snappy, lz4 or zstd', compression, 'none')
    .option('--rate <records/s>', 'send at most this many records per second', positiveInteger)
    .option('--linger-ms <ms>', 'producer lingerMs (default 5)', nonNegativeInteger)
    .option('--batch-bytes <bytes>', 'producer batchBytes (default 1048576)', positiveInteger)
    .action(async (topic: string, options: ProduceOptions, command: Command) => produce(topic, options, command));
}

async function produce(topic: string, options: ProduceOptions, command: Command): Promise<void> {
  const producer = clientFor(command).producer({
    compression: options.compression,
    ...(options.lingerMs === undefined ? {} : { lingerMs: options.lingerMs }),
    ...(options.batchBytes === undefined ? {} : { batchBytes: options.batchBytes }),
  });
  const totalBytes = options.file === undefined ? 0 : (await stat(options.file)).size;
  const input = options.file === undefined ? process.stdin : createReadStream(options.file);
  const progress = createProgress(totalBytes);
  const separator = options.keySeparator === undefined ? undefined : unescape(options.keySeparator);
  const headers = options.headers;
  const started = performance.now();

  let chunk: Message[] = [];
  let chunkBytes = 0;
  const window: Array<{ sent: Promise<void>; bytes: number }> = [];
  let unacknowledgedBytes = 0;
  let failure: unknown;
  let acknowledged = 0;
  let acknowledgedBytes = 0;

  const sendChunk = async (): Promise<void> => {
    if (chunk.length > 0) {
      const messages = chunk;
      const bytes = chunkBytes;
      chunk = [];
      chunkBytes = 0;
      const sent = producer.send({ topic, messages }).then(
        () => {
          acknowledged += messages.length;
          acknowledgedBytes += bytes;
          progress.update(acknowledgedBytes, acknowledged, acknowledgedBytes);
        },
        (error: unknown) => {
          failure ??= error;
        },
      );
      window.push({ sent, bytes });
      unacknowledgedBytes += bytes;
    }
    while (window.length > 0 && (unacknowledgedBytes > WINDOW_BYTES || failure !== undefined)) {
      const oldest = window.shift() as { sent: Promise<void>; bytes: number };
      await oldest.sent;
      unacknowledgedBytes -= oldest.bytes;
    }
    if (failure !== undefined) throw failure;
  };

  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      let message: Message;
      if (separator === undefined) message = { value: line };
      else {
        const at = line.indexOf(separator);
        if (at < 0) throw new SluiceError('INVALID_RECORD', `Line ${lineNumber} has no key separator ${JSON.stringify(separator)}`);
        message = { key: line.slice(0, at), value: line.slice(at + separator.length) };
      }
      if (headers !== undefined) message.headers = headers;
      if (options.partition !== undefined) message.partition = options.partition;
      chunk.push(message);
      chunkBytes += Buffer.byteLength(line) + 1;
      if (options.rate !== undefined) {
        const dueMs = started + (lineNumber / options.rate) * 1000;
        const waitMs = dueMs - performance.now();
        if (waitMs > 0) {
          await sendChunk();
          await new Promise((resolve) => setTimeout(resolve, waitMs));
        }
      }
      if (chunk.length >= CHUNK_RECORDS || chunkBytes >= CHUNK_BYTES) await sendChunk();
    }
    await sendChunk();
    await Promise.all(window.map((w) => w.sent));
    if (failure !== undefined) throw failure;
    await producer.disconnect();
  } finally {
    lines.close();
    progress.stop();
    await producer.disconnect().catch(() => {});
  }
  if (process.stderr.isTTY === true) {
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(`Produced ${acknowledged} records (${(acknowledgedBytes / 1048576).toFixed(1)} MiB) in ${seconds.toFixed(1)} s\n`);
  }
}
