/**
 * What every command shares: the global options (`--url`, auth, retries) and the client
 * built from them, plus parsers for option values that fail with a clear usage message.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { Sluice, type AuthOptions, type Compression, COMPRESSIONS } from '../lib/client/index.ts';

export const DEFAULT_URL = 'http://127.0.0.1:4100';

export interface GlobalOptions {
  url: string;
  auth: 'none' | 'iam';
  region?: string;
  retries?: number;
  verbose?: boolean;
}

/** The client for a command, from its global options. */
export function clientFor(command: Command): Sluice {
  const options = command.optsWithGlobals<GlobalOptions>();
  const auth: AuthOptions = options.auth === 'iam' ? { type: 'iam', ...(options.region === undefined ? {} : { region: options.region }) } : { type: 'none' };
  return new Sluice({ url: options.url, auth, ...(options.retries === undefined ? {} : { retry: { retries: options.retries } }) });
}

export function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('Not a non-negative integer.');
  return Number(value);
}

export function positiveInteger(value: string): number {
  const n = nonNegativeInteger(value);
  if (n < 1) throw new InvalidArgumentError('Must be at least 1.');
  return n;
}

export function compression(value: string): Compression {
  if (!(COMPRESSIONS as readonly string[]).includes(value)) throw new InvalidArgumentError(`One of ${COMPRESSIONS.join(', ')}.`);
  return value as Compression;
}

/** `k=v,k2=v2` into an object; a key without `=` gets an empty value. */
export function keyValues(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const out = { ...previous };
  for (const pair of value.split(',')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const key = at < 0 ? pair : pair.slice(0, at);
    if (key === '') throw new InvalidArgumentError(`Expected key=value, got ${JSON.stringify(pair)}.`);
    out[key] = at < 0 ? '' : pair.slice(at + 1);
  }
  return out;
}

/** Turns `\t`, `\n` and `\\` in a separator given on the command line into the characters. */
export function unescape(value: string): string {
  return value.replace(/\\([ntr\\])/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c] as string);
}

let stdoutClosed = false;
let watching = false;

/** A reader that went away (`| head`) is the normal end of output, not an error. */
function watchStdout(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    stdoutClosed = true;
    process.stdout.emit('close');
  });
}

/** Writes to stdout, waiting when the pipe is full; resolves false once stdout is closed (e.g. `| head`). */
export function writeOut(text: string): Promise<boolean> {
  watchStdout();
  if (stdoutClosed || process.stdout.destroyed || process.stdout.writableEnded) return Promise.resolve(false);
  if (process.stdout.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      process.stdout.off('drain', onDrain);
      process.stdout.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(!stdoutClosed);
    const onClose = () => done(false);
    process.stdout.once('drain', onDrain);
    process.stdout.once('close', onClose);
  });
}
