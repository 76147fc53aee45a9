import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';
import { runCli } from './cli-runner.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sluice = (args: string[]) => runCli(args, stack.url);

describe('sluice produce --value-file / consume --output-dir', () => {
  it('sends a 1 MiB file as one claim-checked record, writes it back to its own file, and shows the reference with --format json', async () => {
    // Prepare
    await api(stack.url, 'POST', '/v1/topics', { name: 'files', partitions: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'sluice-values-'));
    const value = randomBytes(1024 * 1024);
    writeFileSync(join(dir, 'big.bin'), value);

    // Act
    const produced = await sluice(['produce', 'files', '--value-file', join(dir, 'big.bin'), '-k', 'report-7']);
    expect(produced.code, produced.stderr).toBe(0);
    const partition = Number(/files\/(\d+)@0/.exec(produced.stderr)?.[1]);
    const written = await sluice(['consume', 'files', '--from-beginning', '--output-dir', join(dir, 'out')]);
    const shown = await sluice(['consume', 'files', '--from-beginning', '--format', 'json']);

    // Assess
    expect(written.code, written.stderr).toBe(0);
    const path = join(dir, 'out', `files-${partition}-0`);
    expect(written.stdout.trim()).toBe(path);
    expect(readFileSync(path).equals(value)).toBe(true);
    const record = JSON.parse(shown.stdout.trim());
    expect(record.key).toBe('report-7');
    expect(record.headers['sluice.claim-check']).toBe('1');
    expect(JSON.parse(record.value)).toMatchObject({ size: value.length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });
});
