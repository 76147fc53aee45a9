import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { ROUTES } from '../../lib/http/routes.ts';
import { jwtScopesFor } from '../../infra/route-access.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

interface Operation {
  operationId: string;
  summary?: string;
  security?: Array<Record<string, string[]>>;
  responses: Record<string, unknown>;
}
const document = parse(readFileSync(`${root}docs/openapi.yaml`, 'utf8')) as { paths: Record<string, Record<string, Operation>> };

function operation(method: string, path: string): Operation {
  const found = document.paths[path]?.[method.toLowerCase()];
  if (found === undefined) throw new Error(`${method} ${path} is not in docs/openapi.yaml`);
  return found;
}

describe('docs/openapi.yaml lint', () => {
  it('passes Redocly lint with the recommended ruleset (redocly.yaml), no errors and no warnings', async () => {
    const result = await run(`${root}node_modules/.bin/redocly`, ['lint', 'docs/openapi.yaml', '--format=summary'], { cwd: root }).then(
      (r) => ({ code: 0, output: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, output: e.stdout + e.stderr }),
    );
    expect(result.output).not.toMatch(/^(error|warning)\s/m);
    expect(result.code, result.output).toBe(0);
  }, 60_000);

  it.each(ROUTES.map((r) => [r.operation, r] as const))('%s names SigV4 and the JWT scopes that API Gateway admits for it', (_name, route) => {
    expect(operation(route.method, route.path).security).toEqual([{ sigv4: [] }, { jwt: jwtScopesFor(route) }]);
  });

  it.each(ROUTES.map((r) => [r.operation, r] as const))('%s has a summary and at least one 4xx response', (_name, route) => {
    const op = operation(route.method, route.path);
    expect(op.summary?.length ?? 0).toBeGreaterThan(0);
    expect(Object.keys(op.responses).some((code) => /^4\d\d$/.test(code))).toBe(true);
  });
});
