/** Runs the real `sluice` binary, as a user's shell would, for the CLI tests. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'sluice.mjs');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the binary against `url` with pipes on all three streams (a non-TTY: no progress bar). */
export function startCli(args: readonly string[], url: string): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, SLUICE_URL: url }, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs the binary to completion with `input` on stdin. */
export function runCli(args: readonly string[], url: string, input: string | Buffer = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, url);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    child.stdin.end(input);
  });
}

/** Polls `check` until it returns true or `timeoutMs` passes; resolves with the last answer. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
