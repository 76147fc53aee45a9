/**
 * `npm start`: the whole Sluice API on 127.0.0.1:4100 over DynamoDB Local and s3rver, with
 * data under .sluice/ (or SLUICE_DATA_DIR) so a restart keeps every topic and record.
 */
import { resolve } from 'node:path';
import { JavaMissingError, startEmulators, type Emulators } from './emulators.ts';
import { startStack, type LocalStack } from './stack.ts';

const port = Number(process.env.SLUICE_PORT ?? 4100);
const compactIntervalMs = Number(process.env.SLUICE_COMPACT_INTERVAL_MS ?? 60_000);
const dataDir = resolve(process.env.SLUICE_DATA_DIR ?? '.sluice');

let emulators: Emulators | undefined;
let stack: LocalStack | undefined;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await stack?.close();
    await emulators?.stop();
  }
  process.exit(code);
}

try {
  emulators = await startEmulators({ dataDir });
  stack = await startStack({ emulators, tableName: process.env.SLUICE_TABLE ?? 'sluice', bucketName: process.env.SLUICE_BUCKET ?? 'sluice-local', port, compactIntervalMs });
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
  console.log(`Sluice is ready at ${stack.url} (data in ${dataDir}); Ctrl-C to stop.`);
} catch (error) {
  console.error(error instanceof JavaMissingError ? error.message : `Sluice could not start: ${(error as Error).message}`);
  await shutdown(1);
}
