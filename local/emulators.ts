/**
 * The local emulators: DynamoDB Local (AWS's own jar, shipped in the npm package
 * amplify-dynamodb-simulator) on the machine's Java, and s3rver. Both listen on loopback
 * only. Used by `npm start` and by the test suite, which starts them on free ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { startCommitBarrier, type CommitBarrier } from './dynamo-commit-barrier.ts';

const require = createRequire(import.meta.url);

export interface Emulators {
  readonly dynamoEndpoint: string;
  readonly s3Endpoint: string;
  /** Process ids, so a later start can tell whether they outlived their stack. */
  readonly pids: { readonly dynamo: number; readonly s3: number };
  /** Resolves, naming the emulator, if either exits before stop() is called. */
  readonly crashed: Promise<string>;
  /** Stops both; resolves when the Java process has exited. */
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** Keep data here; in memory when undefined. */
  dataDir?: string;
  dynamoPort?: number;
  s3Port?: number;
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Thrown when Java is missing, with the one line a user needs. */
export class JavaMissingError extends Error {}

function checkJava(): void {
  const probe = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new JavaMissingError('DynamoDB Local needs Java 17 or later: install it (e.g. `apt-get install openjdk-17-jre-headless` or `brew install openjdk@17`) and make sure `java` is on PATH.');
  }
}

async function waitForDynamo(endpoint: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited with code ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms`);
  } finally {
    client.destroy();
  }
}

/** Starts DynamoDB Local and s3rver; rejects (after cleaning up) if either fails. */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  checkJava();
  const jar = require.resolve('amplify-dynamodb-simulator/emulator/DynamoDBLocal.jar');
  const dynamoPort = options.dynamoPort ?? (await freePort());
  const s3Port = options.s3Port ?? (await freePort());
  const storage = options.dataDir === undefined ? ['-inMemory'] : ['-dbPath', join(options.dataDir, 'dynamodb')];
  if (options.dataDir !== undefined) mkdirSync(join(options.dataDir, 'dynamodb'), { recursive: true });
  const java = spawn(
    'java',
    [`-Djava.library.path=${join(dirname(jar), 'DynamoDBLocal_lib')}`, '-Xmx1g', '-jar', jar, '-port', String(dynamoPort), '-sharedDb', ...storage],
    // DynamoDB Local writes a metadata file into its working directory; keep it out of the repo.
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: options.dataDir ?? tmpdir() },
  );
  let javaErr = '';
  java.stderr?.on('data', (chunk: Buffer) => (javaErr += chunk.toString()));
  const javaExited = new Promise<void>((resolve) => java.once('exit', () => resolve()));
  // A parent that dies without calling stop() must not leave Java behind.
  const killJava = () => java.kill('SIGKILL');
  process.once('exit', killJava);
  const s3Dir = options.dataDir === undefined ? join(tmpdir(), `sluice-s3-${process.pid}-${s3Port}`) : join(options.dataDir, 's3');
  mkdirSync(s3Dir, { recursive: true });
  // The s3rver process also stops Java if this process dies without stop() (see s3rver-child.mjs).
  const s3 = spawn(process.execPath, ['--openssl-legacy-provider', fileURLToPath(new URL('./s3rver-child.mjs', import.meta.url)), String(s3Port), s3Dir, options.dataDir === undefined ? 'reset' : 'keep', String(java.pid)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const s3Exited = new Promise<void>((resolve) => s3.once('exit', () => resolve()));
  const killS3 = () => s3.kill('SIGKILL');
  process.once('exit', killS3);
  const s3Ready = new Promise<void>((resolve, reject) => {
    s3.stdout?.once('data', () => resolve());
    s3.once('exit', (code) => reject(new Error(`s3rver exited with code ${code}`)));
  });
  let barrier: CommitBarrier | undefined;
  let stopping = false;
  const crashed = new Promise<string>((resolve) => {
    const report = (name: string) => (code: number | null, signal: NodeJS.Signals | null) => {
      if (!stopping) resolve(`${name} exited unexpectedly (${signal ?? `code ${code}`})`);
    };
    java.once('exit', report('DynamoDB Local'));
    s3.once('exit', report('s3rver'));
  });
  const stop = async () => {
    stopping = true;
    process.removeListener('exit', killJava);
    process.removeListener('exit', killS3);
    java.kill('SIGTERM');
    s3.kill('SIGTERM');
    const timer = setTimeout(() => {
      java.kill('SIGKILL');
      s3.kill('SIGKILL');
    }, 5_000);
    await Promise.allSettled([javaExited, s3Exited, barrier?.close()]);
    clearTimeout(timer);
  };
  try {
    const javaEndpoint = `http://127.0.0.1:${dynamoPort}`;
    await Promise.all([waitForDynamo(javaEndpoint, java).catch((e: Error) => Promise.reject(new Error(`${e.message}\n${javaErr}`))), s3Ready]);
    // Data kept on disk must survive a kill of DynamoDB Local: see dynamo-commit-barrier.ts.
    if (options.dataDir !== undefined) barrier = await startCommitBarrier(javaEndpoint);
    const dynamoEndpoint = barrier?.endpoint ?? javaEndpoint;
    return { dynamoEndpoint, s3Endpoint: `http://127.0.0.1:${s3Port}`, pids: { dynamo: java.pid as number, s3: s3.pid as number }, crashed, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
