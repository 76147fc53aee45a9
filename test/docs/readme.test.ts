import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../../lib/errors.ts';
import type { LocalStack } from '../../local/stack.ts';
import { startTestStack } from '../support/stack.ts';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

/** The text of a `## ` or `### ` section, up to the next such heading (`# ` lines are shell comments). */
function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  expect(start, `README has a "${heading}" section`).toBeGreaterThanOrEqual(0);
  const next = README.slice(start + heading.length + 2).search(/^#{2,3} /m);
  return README.slice(start, next < 0 ? undefined : start + heading.length + 2 + next);
}

const END = '<<<end of curl>>>';

describe('README', () => {
  describe('the "Using the API" walkthrough', () => {
    let stack: LocalStack;
    let dir: string;
    beforeAll(async () => {
      stack = await startTestStack();
      dir = await mkdtemp(join(tmpdir(), 'sluice-readme-'));
    });
    afterAll(async () => {
      await stack?.close();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('runs top to bottom as written: every call answers 2xx and every "# →" answer is what the server says', async () => {
      // Prepare: the block as written, pointed at this stack; the long poll waits 200 ms instead of 20 s.
      const block = /```sh\n([\s\S]*?)```/.exec(section('## Using the API'))?.[1] as string;
      expect(block).toContain('curl');
      const script = block.replace(/^URL=.*$/m, `URL=${stack.url}`).replace('waitMs=20000', 'waitMs=200');
      const lines = script.split('\n');
      const expected: Array<{ call: number; answer: unknown }> = [];
      let calls = 0;
      for (const line of lines) {
        if (line.startsWith('curl ')) calls++;
        if (line.startsWith('# → ')) expected.push({ call: calls - 1, answer: JSON.parse(line.slice(4)) });
      }

      // Act: each curl prints its body, its status and a marker.
      const wrapper = `curl() { command curl -sS -w '\\n%{http_code}\\n' "$@"; printf '%s\\n' '${END}'; }\n`;
      const { stdout } = await promisify(execFile)('sh', ['-e', '-c', wrapper + script], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });

      // Assess
      const answers = stdout.split(`${END}\n`).slice(0, -1).map((out) => {
        const rows = out.replace(/\n$/, '').split('\n');
        return { status: Number(rows.pop()), body: rows.join('\n') };
      });
      expect(answers).toHaveLength(calls);
      for (const [i, answer] of answers.entries()) expect(answer.status, `call ${i + 1} answered ${answer.body}`).toBeGreaterThanOrEqual(200);
      for (const [i, answer] of answers.entries()) expect(answer.status, `call ${i + 1} answered ${answer.body}`).toBeLessThan(300);
      expect(expected.length).toBeGreaterThanOrEqual(5);
      for (const { call, answer } of expected) expect(JSON.parse(answers[call]?.body as string)).toEqual(answer);
    });
  });

  it('lists every error name of lib/errors.ts in its error table, with its HTTP status', () => {
    const rows = section('### Errors')
      .split('\n')
      .filter((line) => /^\| `/.test(line))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    const listed = new Map<string, number>();
    for (const [, names, status] of rows) for (const [, name] of (names as string).matchAll(/`([A-Z_]+)`/g)) listed.set(name as string, Number(status));
    expect([...listed.keys()].sort()).toEqual(Object.keys(ERROR_TABLE).sort());
    for (const [name, status] of listed) expect(status, name).toBe(ERROR_TABLE[name as keyof typeof ERROR_TABLE].status);
  });
});
