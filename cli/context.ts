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

/** The client for a command, from its global options; with `-v` it logs every request. */
export function clientFor(command: Command): Sluice {
  const options = command.optsWithGlobals<GlobalOptions>();
  const auth: AuthOptions = options.auth === 'iam' ? { type: 'iam', ...(options.region === undefined ? {} : { region: options.region }) } : { type: 'none' };
  return new Sluice({
    url: options.url,
    auth,
    ...(options.retries === undefined ? {} : { retry: { retries: options.retries } }),
    ...(options.verbose === true ? { fetch: loggingFetch(globalThis.fetch, (line) => process.stderr.write(line)) } : {}),
  });
}

/** A fetch that logs one line per request: method, path and query, status (or the failure) and ms. */
export function loggingFetch(inner: typeof globalThis.fetch, log: (line: string) => void): typeof globalThis.fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const started = performance.now();
    const ms = () => `${Math.round(performance.now() - started)} ms`;
    try {
      const response = await inner(input, init);
      log(`${method} ${url.pathname}${url.search} ${response.status} ${ms()}\n`);
      return response;
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause?.code ?? (error as Error).name;
      log(`${method} ${url.pathname}${url.search} failed (${String(cause)}) ${ms()}\n`);
      throw error;
    }
  };
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

/** One `key=value` (the value may hold `,` and `=`), collected across repeats of the option. */
export function keyValue(value: string, previous: ReadonlyArray<readonly [string, string]> = []): Array<readonly [string, string]> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`Expected key=value, got ${JSON.stringify(value)}.`);
  return [...previous, [value.slice(0, at), value.slice(at + 1)] as const];
}

/** Repeated `-c key=value` into an object; a later repeat of a key wins. */
export function configEntry(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const [[key, v]] = keyValue(value) as [readonly [string, string]];
  return { ...previous, [key]: v };
}

/** Turns `\t`, `\n`, `\r`, `\0` and `\\` in a separator given on the command line into the characters. */
export function unescape(value: string): string {
  return value.replace(/\\([ntr0\\])/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '0': '\0', '\\': '\\' })[c] as string);
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
