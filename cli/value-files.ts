/**
 * Whole values as files: `sluice produce --value-file big.bin [-k key]` sends one record
 * whose value is the file (a large one goes through the claim check), and `sluice consume
 * --output-dir DIR` writes each record's value to its own file, `<topic>-<partition>-<offset>`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Compression, MessageHeaders } from '../lib/client/index.ts';
import { clientFor } from './context.ts';
import type { Formatter } from './format.ts';

export interface ValueFileOptions {
  valueFile: string;
  key?: string;
  header?: Array<readonly [string, string]>;
  partition?: number;
  compression: Compression;
}

/** Produces the file as one record's value; prints where it landed on stderr. */
export async function produceValueFile(topic: string, options: ValueFileOptions, command: Command): Promise<void> {
  const value = await readFile(options.valueFile);
  const headers: MessageHeaders = {};
  for (const [k, v] of options.header ?? []) headers[k] = v;
  const producer = clientFor(command).producer({ compression: options.compression });
  try {
    const [landed] = await producer.send({
      topic,
      messages: [{ value, headers, ...(options.key === undefined ? {} : { key: options.key }), ...(options.partition === undefined ? {} : { partition: options.partition }) }],
    });
    process.stderr.write(`Produced ${options.valueFile} (${value.length} bytes) to ${topic}/${landed?.partition}@${landed?.offset}\n`);
  } finally {
    await producer.disconnect();
  }
}

/** Writes each value to `<dir>/<topic>-<partition>-<offset>` (a tombstone to no file) and prints the path. */
export function outputDirFormatter(dir: string): Formatter {
  mkdirSync(dir, { recursive: true });
  return (topic, partition, message) => {
    if (message.value === null) return `${topic}/${partition}@${message.offset}: null (tombstone), no file\n`;
    const path = join(dir, `${topic}-${partition}-${message.offset}`);
    writeFileSync(path, message.value);
    return `${path}\n`;
  };
}
