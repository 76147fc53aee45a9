import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { startStack, type LocalStack } from '../../local/stack.ts';

/** The emulators started by global-setup. */
export function emulatorEndpoints(): { dynamoEndpoint: string; s3Endpoint: string } {
  return { dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') };
}

/**
 * A local stack with a table and bucket of its own, served on a free port. `instances`: N
 * isolated instances of every function (race tests use N ≥ 3); by default the handlers run
 * in the test's own process.
 */
export async function startTestStack(options: { compactIntervalMs?: number; instances?: number } = {}): Promise<LocalStack> {
  const suffix = randomBytes(4).toString('hex');
  return startStack({ emulators: emulatorEndpoints(), tableName: `sluice-test-${suffix}`, bucketName: `sluice-test-${suffix}`, port: 0, ...options });
}

/** Calls the local API and parses a JSON reply. */
export async function api(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array ? (body as NonNullable<RequestInit['body']>) : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${url}${path}`, init);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // non-JSON bodies are returned as text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
